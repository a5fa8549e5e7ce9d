import ArgumentParser
import Foundation
import RecommenderKit
import SlipwayModelBundle

@main
struct SlipwayTrainerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipway-trainer",
        abstract: "Slipway built-in retrieval trainer (matrix factorisation by default, or a two-tower).",
        subcommands: [Run.self, Generate.self, Bench.self, Quality.self])
}

/// Writes one JSON event per line to stdout, flushed at once.
func printEvent(_ e: JSONValue) {
    FileHandle.standardOutput.write(Data((e.serialized() + "\n").utf8))
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train from a JSON run spec; progress as JSON lines on stdout.")
    @Option(help: "Run spec JSON file.") var spec: String
    @Option(help: "Artifacts directory (the bundle goes to DIR/bundle).") var artifacts: String

    func run() async throws {
        let loaded: RunSpec
        do { loaded = try RunSpec.load(from: URL(fileURLWithPath: spec)) } catch {
            printEvent(.object([("event", .string("failed")), ("stage", .string("compile")), ("error", .string("\(error)"))]))
            throw ExitCode(1)
        }
        let p = TrainingPipeline(spec: loaded, artifacts: URL(fileURLWithPath: artifacts), emit: printEvent)
        guard p.run() != nil else { throw ExitCode(1) }
    }
}

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate demo data.", subcommands: [B2B.self])

    struct B2B: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "b2b", abstract: "B2B customers/products/transactions CSVs with planted structure.")
        @Option var customers = 5_000
        @Option var products = 2_000
        @Option var transactions = 200_000
        @Option var seed: UInt64 = 42
        @Option(help: "Output directory.") var out: String

        func validate() throws {
            guard customers > 0, products > 0, transactions >= 0 else { throw ValidationError("counts must be positive") }
        }

        func run() async throws {
            let data = DemoDataGenerator.generate(DemoDataConfig(customers: customers, products: products, transactions: transactions, seed: seed))
            let urls = try DemoDataGenerator.write(data, to: URL(fileURLWithPath: out))
            printEvent(
                .object([
                    ("event", .string("generated")), ("customers", .int(data.customers.count)),
                    ("products", .int(data.products.count)), ("transactions", .int(data.transactions.count)),
                    ("files", .array(urls.map { .string($0.path) })),
                ]))
        }
    }
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate the demo data set, train + evaluate, print a RESULT line.")
    @Option var customers = 5_000
    @Option var products = 2_000
    @Option var transactions = 200_000
    @Option var seed: UInt64 = 42
    @Option var epochs: Int?
    @Option var optimizer: String?
    @Option(name: .customLong("lr")) var learningRate: Double?
    @Option var temperature: Double?
    @Option var batchSize: Int?
    @Option var skew: Double?
    @Flag var noLogQ = false
    @Option(help: "Work directory (default: a temporary one).") var dir: String?
    @Flag(help: "Print the JSON events too.") var verbose = false

    func run() async throws {
        let base = URL(fileURLWithPath: dir ?? NSTemporaryDirectory() + "slipway-bench-\(getpid())")
        let dataDir = base.appendingPathComponent("data")
        var gc = DemoDataConfig(customers: customers, products: products, transactions: transactions, seed: seed)
        if let skew { gc.popularitySkew = skew }
        let data = DemoDataGenerator.generate(gc)
        try DemoDataGenerator.write(data, to: dataDir)
        var mc = ModelConfig()
        if let learningRate { mc.learningRate = learningRate }
        if let temperature { mc.temperature = temperature }
        if let batchSize { mc.batchSize = batchSize }
        if noLogQ { mc.logQCorrection = false }
        if let epochs { mc.epochs = epochs }
        if let optimizer, let k = OptimizerKind(rawValue: optimizer) {
            mc.optimizer = k; if k == .adam && learningRate == nil { mc.learningRate = 0.003 }
        }
        let spec = RunSpec(
            runId: "bench", modelName: "bench-demo",
            dataset: DatasetSpec(
                id: "demo-b2b", transactions: dataDir.appendingPathComponent("transactions.csv").path,
                customers: dataDir.appendingPathComponent("customers.csv").path,
                products: dataDir.appendingPathComponent("products.csv").path),
            modelConfig: mc)
        let verbose = self.verbose
        let t0 = Date()
        let p = TrainingPipeline(spec: spec, artifacts: base.appendingPathComponent("artifacts")) { e in
            if verbose {
                printEvent(e)
            } else if e["event"]?.stringValue == "epoch_completed" || e["event"]?.stringValue == "failed" {
                printEvent(e)
            }
        }
        guard let r = p.run() else { throw ExitCode(1) }
        let wall = Date().timeIntervalSince(t0)
        let eps = r.epochs.map(\.examplesPerSecond).reduce(0, +) / Double(max(r.epochs.count, 1))
        let perEpoch = r.epochs.map(\.seconds).reduce(0, +) / Double(max(r.epochs.count, 1))
        print(
            "customers=\(customers) products=\(products) transactions=\(transactions) epochs_run=\(r.epochs.count) seconds_per_epoch=\(String(format: "%.2f", perEpoch)) load_to_bundle_s=\(String(format: "%.2f", wall)) recall_at_10=\(String(format: "%.4f", r.metrics["recall_at_10"] ?? 0)) popularity_recall_at_10=\(String(format: "%.4f", r.metrics["popularity_recall_at_10"] ?? 0)) blessed=\(r.blessed)"
        )
        print(
            "RESULT train_s=\(String(format: "%.2f", wall)) recall_at_100=\(String(format: "%.4f", r.metrics["recall_at_100"] ?? 0)) popularity_recall_at_100=\(String(format: "%.4f", r.metrics["popularity_recall_at_100"] ?? 0)) examples_per_s=\(Int(eps))"
        )
    }
}
