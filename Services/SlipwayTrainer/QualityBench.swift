import ArgumentParser
import Foundation
import RecommenderKit
import SlipwayModelBundle

/// `slipway bench quality`: the default model on public implicit-feedback data against a well-tuned implicit ALS
/// on the same split. The data and the reference come from PyPI (the recbole wheel ships MovieLens-100K among its
/// examples; `implicit` fits the ALS) into a virtualenv of the bench's own: nothing of them is a dependency of
/// Slipway or committed.
struct Quality: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "MovieLens-100K trained with the default model against implicit's ALS on the same split; prints RESULT.")
    @Option(help: "Work directory; the virtualenv and the wheel are kept there between runs.")
    var dir = NSTemporaryDirectory() + "slipway-bench-quality"
    @Option(help: "The trainer's seed.") var seed: UInt64 = 1
    @Option(help: "Python 3 to make the virtualenv with.") var python = "python3"
    @Flag(
        help: """
            Add the user and item attributes (age, gender, occupation; year — with the file's 'unkonwn' —, genres) to \
            the data and the features.
            """)
    var attributes = false
    @Flag(help: "Print the trainer's JSON events too.") var verbose = false

    func run() async throws {
        let work = URL(fileURLWithPath: dir)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let venvPython = work.appendingPathComponent("venv/bin/python").path
        if !FileManager.default.isExecutableFile(atPath: venvPython) {
            try shell([python, "-m", "venv", work.appendingPathComponent("venv").path])
        }
        if (try? shell([venvPython, "-c", "import implicit, scipy, threadpoolctl"], quiet: true)) == nil {
            try shell([venvPython, "-m", "pip", "install", "-q", "numpy", "scipy", "implicit", "threadpoolctl"])
        }
        let wheels = work.appendingPathComponent("wheels")
        let haveWheel = ((try? FileManager.default.contentsOfDirectory(atPath: wheels.path)) ?? []).contains { $0.hasPrefix("recbole") }
        if !haveWheel {
            try shell([venvPython, "-m", "pip", "download", "-q", "--no-deps", "recbole==1.2.1", "-d", wheels.path])
        }
        let script = work.appendingPathComponent("reference.py")
        try Data(QualityReference.script.utf8).write(to: script)
        FileHandle.standardError.write(Data("quality: fitting the ALS reference (implicit, tuned on the validation split)\n".utf8))
        let referenceJSON = try shell([venvPython, script.path, work.path], captureOutput: true)
        guard let reference = try JSONSerialization.jsonObject(with: Data(referenceJSON.utf8)) as? [String: Any] else {
            throw ValidationError("the reference script printed no JSON object")
        }
        func ref(_ key: String) -> Double { (reference[key] as? NSNumber)?.doubleValue ?? .nan }

        var model = ModelConfig()
        model.seed = seed
        let spec = RunSpec(
            runId: "bench-quality", modelName: "bench-quality",
            dataset: DatasetSpec(
                id: "ml-100k", transactions: work.appendingPathComponent("transactions.csv").path,
                customers: attributes ? work.appendingPathComponent("customers.csv").path : nil,
                products: attributes ? work.appendingPathComponent("products.csv").path : nil),
            featureConfig: attributes ? Self.attributeFeatures : Self.idFeatures, modelConfig: model)
        let verbose = self.verbose
        let started = Date()
        let pipeline = TrainingPipeline(spec: spec, artifacts: work.appendingPathComponent("artifacts")) { e in
            let kind = e["event"]?.stringValue
            if verbose || kind == "failed" || kind == "model_selection" { printEvent(e) }
        }
        guard let result = pipeline.run() else { throw ExitCode(1) }
        let trainSeconds = Date().timeIntervalSince(started)
        func m(_ key: String) -> Double { result.metrics[key] ?? .nan }
        // The two sides compute popularity's Recall@10 independently; equal figures say the split, the exclusions and
        // the metric agree.
        let protocolGap = abs(m("popularity_recall_at_10") - ref("popularity_recall_at_10"))
        if protocolGap > 1e-6 {
            FileHandle.standardError.write(
                Data("quality: warning: popularity Recall@10 differs between trainer and reference by \(protocolGap)\n".utf8))
        }
        func f(_ x: Double) -> String { String(format: "%.4f", x) }
        let settings = result.algorithm == .matrixFactorization ? " regularization=\(m("regularization")) alpha=\(m("alpha"))" : ""
        print(
            "algorithm=\(result.algorithm.rawValue)\(settings) als_regularization=\(ref("als_regularization")) als_alpha=\(ref("als_alpha")) ndcg_at_10=\(f(m("ndcg_at_10"))) als_ndcg_at_10=\(f(ref("als_ndcg_at_10"))) map_at_10=\(f(m("map_at_10"))) coverage_at_10=\(f(m("catalog_coverage_at_10"))) ratio_recall_at_10=\(f(m("recall_at_10") / ref("als_recall_at_10"))) ratio_recall_at_100=\(f(m("recall_at_100") / ref("als_recall_at_100"))) blessed=\(result.blessed)"
        )
        print(
            "RESULT recall_at_10=\(f(m("recall_at_10"))) recall_at_100=\(f(m("recall_at_100"))) ndcg_at_10=\(f(m("ndcg_at_10"))) popularity_recall_at_10=\(f(m("popularity_recall_at_10"))) als_recall_at_10=\(f(ref("als_recall_at_10"))) als_recall_at_100=\(f(ref("als_recall_at_100"))) train_s=\(String(format: "%.2f", trainSeconds))"
        )
    }

    static let idFeatures = FeatureConfig(
        query: [FeatureSpec(name: "customer_id", required: true)], candidate: [FeatureSpec(name: "product_id", required: true)])

    static let attributeFeatures = FeatureConfig(
        query: [
            FeatureSpec(name: "customer_id", embeddingDim: 32, required: true),
            FeatureSpec(name: "age", type: .float, transform: .bucketize, embeddingDim: 4, buckets: 8),
            FeatureSpec(name: "gender", embeddingDim: 2), FeatureSpec(name: "occupation", embeddingDim: 4),
        ],
        candidate: [
            FeatureSpec(name: "product_id", embeddingDim: 32, required: true),
            FeatureSpec(name: "year", type: .float, transform: .bucketize, embeddingDim: 4, buckets: 10),
            FeatureSpec(name: "genres", embeddingDim: 8),
        ])

    /// Runs a command; its output goes to stderr unless captured (returned) or dropped.
    @discardableResult
    func shell(_ arguments: [String], captureOutput: Bool = false, quiet: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = captureOutput ? pipe : (quiet ? FileHandle.nullDevice : FileHandle.standardError)
        if quiet { process.standardError = FileHandle.nullDevice }
        try process.run()
        let output = captureOutput ? String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) : ""
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("\(arguments.joined(separator: " ")) exited with status \(process.terminationStatus)")
        }
        return output
    }
}
