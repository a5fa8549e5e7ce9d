import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayEventSourcing
import SlipwayLocalRuntime

/// The public API as the CLI uses it: JSON in, JSON (decoded loosely, for printing) out.
struct APIClient {
    /// The gateways: with several (`slipway up --replicas`), the next one in turn, another when one cannot be reached.
    let gateways: PeerAddresses
    var base: String { gateways.urls[0] }
    /// Sent as `Authorization: Bearer`: `SLIPWAY_TOKEN`, else the admin token `slipway up` wrote.
    let token: String?

    init(gateway: String?) throws {
        let endpoints = Endpoints()
        gateways = PeerAddresses(try endpoints.serviceURLs("gateway", override: gateway))
        token = endpoints.apiToken()
    }

    /// The headers every call carries.
    var headers: [String: String] { token.map { ["Authorization": "Bearer \($0)"] } ?? [:] }

    /// Status and body; only a transport failure throws.
    func call(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> (status: UInt, json: [String: Any]) {
        let payload = try body.map { Array(try JSONSerialization.data(withJSONObject: $0)) }
        let (status, bytes) = try await httpCall(method, gateways, path, body: payload, headers: headers)
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
        return (status, json)
    }

    /// A 2xx answer's body, else an error quoting the API's message.
    func expect(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        let (status, json) = try await call(method, path, body)
        guard (200..<300).contains(status) else { throw apiError(status, json, path) }
        return json
    }

    /// `POST /api/models/{model}/deployments` (a version registered a moment ago is fine: deploy-svc waits until it
    /// has learned it from registry-svc, `DeployQueries.registeredVersion`).
    func deploy(_ model: String, _ body: [String: Any]) async throws -> [String: Any] {
        try await expect(.POST, "/api/models/\(model)/deployments", body)
    }

    /// Creates something that may already exist (a 409 is fine: datasets and configs never change).
    func ensure(_ path: String, _ body: [String: Any]) async throws {
        let (status, json) = try await call(.POST, path, body)
        guard (200..<300).contains(status) || status == 409 else { throw apiError(status, json, path) }
    }

    func apiError(_ status: UInt, _ json: [String: Any], _ path: String) -> ValidationErrorMessage {
        let error = json["error"] as? [String: Any]
        let message = error?["message"] as? String ?? "HTTP \(status)"
        if status == 401 {
            let hint = token == nil ? "no token: set SLIPWAY_TOKEN or start Slipway here with `slipway up`" : "the token was not accepted"
            return ValidationErrorMessage("\(path): 401 \(message) (\(hint))")
        }
        let field = (error?["details"] as? [String: Any])?["field"] as? String
        return ValidationErrorMessage("\(path): \(status) \(message)\(field.map { " (field \($0))" } ?? "")")
    }
}

func httpCall(
    _ method: HTTPMethod, _ url: String, body: [UInt8]?, headers: [String: String] = [:],
    timeout: TimeAmount = .seconds(30)
) async throws -> (UInt, [UInt8]) {
    try await httpCall(method, PeerAddresses([url]), "", body: body, headers: headers, timeout: timeout)
}

/// `path` on one of `bases` (the next in turn; another only when one cannot be connected to).
func httpCall(
    _ method: HTTPMethod, _ bases: PeerAddresses, _ path: String, body: [UInt8]?, headers: [String: String] = [:],
    timeout: TimeAmount = .seconds(30)
) async throws -> (UInt, [UInt8]) {
    let response: HTTPClientResponse
    do {
        response = try await bases.withFailover { base in
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            return try await HTTPClient.slipwayInternal.execute(request, timeout: timeout)
        }
    } catch {
        throw ValidationErrorMessage("cannot reach \(bases)\(path): is the platform running? (`slipway status`)")
    }
    return (response.status.code, Array(try await response.body.collect(upTo: 256 * 1024 * 1024).readableBytesView))
}

/// Runs slipway-trainer (built next to slipway) with `arguments`, its output passed through.
func runTrainerTool(_ arguments: [String], quiet: Bool = false) throws {
    guard let trainer = findExecutable(named: "slipway-trainer") else {
        throw ValidationErrorMessage("slipway-trainer not found next to slipway or on PATH: build the package first")
    }
    let process = Process()
    process.executableURL = trainer
    process.arguments = arguments
    if quiet { process.standardOutput = FileHandle.nullDevice }
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw ExitCode(process.terminationStatus) }
}

// MARK: - slipway datasets

struct DatasetsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datasets", abstract: "Demo data and datasets.", subcommands: [Generate.self, List.self])

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a demo data set.", subcommands: [B2B.self])

        struct B2B: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "b2b",
                abstract: "customers.csv, products.csv and transactions.csv of a B2B wholesaler, with planted purchase structure.")
            @Option var customers = 5_000
            @Option var products = 2_000
            @Option var transactions = 200_000
            @Option var seed = 42
            @Option(help: "Output directory.") var out = "demo-data"

            func run() async throws {
                try runTrainerTool([
                    "generate", "b2b", "--customers", "\(customers)", "--products", "\(products)",
                    "--transactions", "\(transactions)", "--seed", "\(seed)", "--out", out,
                ])
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Datasets registered with training-svc.")
        @Option(help: "Gateway URL (default: the one `slipway up` started).") var gateway: String?

        func run() async throws {
            let json = try await APIClient(gateway: gateway).expect(.GET, "/api/datasets")
            for dataset in json["datasets"] as? [[String: Any]] ?? [] {
                say("\(dataset["id"] ?? "")\t\(dataset["transactions"] ?? "")")
            }
        }
    }
}

// MARK: - slipway train

struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model through the platform and follow the run to its registered version.",
        discussion: """
            --demo generates the B2B demo data set (once, under .slipway/data), registers it with the default feature
            and model configs, starts a run and prints its stages and epochs until the registry has the new version.
            Without --demo, name a dataset, feature config and model config that exist.
            """)

    @Flag(help: "Use the generated demo data set and default configs.") var demo = false
    @Option(help: "Registered model name the run trains.") var model = "b2b-retrieval"
    @Option(help: "Dataset id (without --demo).") var dataset: String?
    @Option(help: "Feature config id (without --demo).") var featureConfig: String?
    @Option(help: "Model config id (without --demo).") var modelConfig: String?
    @Option(help: "Epochs (default: the trainer's, 8).") var epochs: Int?
    @Option(help: "Demo data: customers.") var customers = 5_000
    @Option(help: "Demo data: products.") var products = 2_000
    @Option(help: "Demo data: transactions.") var transactions = 200_000
    @Option(help: "Demo data: seed.") var seed = 42
    @Flag(help: "Return once the run is submitted.") var noWait = false
    @Option(help: "Gateway URL (default: the one `slipway up` started).") var gateway: String?

    func validate() throws {
        if !demo && (dataset == nil || featureConfig == nil || modelConfig == nil) {
            throw ValidationError("pass --demo, or --dataset, --feature-config and --model-config")
        }
    }

    func run() async throws {
        let api = try APIClient(gateway: gateway)
        var body: [String: Any] = ["name": model, "model_type": "retrieval"]
        if demo {
            let ids = try await prepareDemo(api)
            body["dataset_id"] = ids.dataset
            body["feature_config_id"] = ids.featureConfig
            body["model_config_id"] = ids.modelConfig
        } else {
            body["dataset_id"] = dataset
            body["feature_config_id"] = featureConfig
            body["model_config_id"] = modelConfig
        }
        if let epochs { body["training_params"] = ["epochs": epochs] }
        let created = try await api.expect(.POST, "/api/training-runs", body)
        guard let run = created["training_run"] as? [String: Any], let id = run["id"] as? String else {
            throw ValidationErrorMessage("unexpected answer from POST /api/training-runs")
        }
        say("run \(id) submitted (\(run["display_name"] ?? id))")
        if noWait { return }
        try await follow(api, runID: id)
    }

    /// Demo data under .slipway/data (generated once per size and seed), registered as a dataset.
    func prepareDemo(_ api: APIClient) async throws -> (dataset: String, featureConfig: String, modelConfig: String) {
        let name = "demo-b2b-\(customers)c-\(products)p-\(transactions)t-s\(seed)"
        let directory = SlipwayPaths.default.root.appendingPathComponent("data").appendingPathComponent(name).standardizedFileURL
        let files = ["transactions", "customers", "products"].map { directory.appendingPathComponent("\($0).csv") }
        if !files.allSatisfy({ FileManager.default.fileExists(atPath: $0.path) }) {
            say("generating demo data in \(directory.path)")
            try runTrainerTool(
                [
                    "generate", "b2b", "--customers", "\(customers)", "--products", "\(products)",
                    "--transactions", "\(transactions)", "--seed", "\(seed)", "--out", directory.path,
                ], quiet: true)
        }
        try await api.ensure(
            "/api/datasets",
            [
                "name": name, "description": "Generated B2B demo data (slipway train --demo)",
                "transactions": files[0].path, "customers": files[1].path, "products": files[2].path,
            ])
        try await api.ensure(
            "/api/feature-configs",
            [
                "name": "b2b-default", "description": "customer id, city, segment → product id, category, sub-category, price",
                "query": [
                    ["name": "customer_id", "embedding_dim": 32, "required": true],
                    ["name": "city", "embedding_dim": 8], ["name": "segment", "embedding_dim": 8],
                ],
                "candidate": [
                    ["name": "product_id", "embedding_dim": 32, "required": true],
                    ["name": "category", "embedding_dim": 8], ["name": "sub_category", "embedding_dim": 16],
                    ["name": "price", "type": "float", "transform": "bucketize", "embedding_dim": 8, "buckets": 10],
                ],
            ])
        try await api.ensure(
            "/api/model-configs",
            [
                "name": "mf-64", "description": "matrix factorisation, 64 factors; the attributes answer customers it never saw",
                "model_type": "retrieval", "algorithm": "auto", "factors": 64,
            ])
        return (name, "b2b-default", "mf-64")
    }

    /// Prints each stage and epoch once as they happen; ends when the run ends (and is registered, if it will be).
    func follow(_ api: APIClient, runID: String) async throws {
        var printedStages: [String: String] = [:]
        var printedEpochs = 0
        let started = Date()
        while true {
            let run = try await api.expect(.GET, "/api/training-runs/\(runID)")
            if (run["epochs_completed"] as? Int ?? 0) > printedEpochs {
                let metrics = try await api.expect(.GET, "/api/training-runs/\(runID)/metrics")
                for epoch in (metrics["epochs"] as? [[String: Any]] ?? []).dropFirst(printedEpochs) {
                    let m = epoch["metrics"] as? [String: Double] ?? [:]
                    // Matrix factorisation's iterations have no validation figures (its settings are chosen before them).
                    var line = String(
                        format: "    epoch %d/%d loss %.4f", epoch["epoch"] as? Int ?? 0, epoch["total_epochs"] as? Int ?? 0,
                        epoch["loss"] as? Double ?? 0)
                    if let valLoss = epoch["val_loss"] as? Double { line += String(format: " val_loss %.4f", valLoss) }
                    if let recall = m["recall_at_100"] { line += String(format: " val recall@100 %.4f", recall) }
                    say(line + String(format: " (%.1fs)", epoch["duration_seconds"] as? Double ?? 0))
                    printedEpochs += 1
                }
            }
            for stage in run["stages"] as? [[String: Any]] ?? [] {
                guard let name = stage["name"] as? String, let status = stage["status"] as? String, status != "pending",
                    printedStages[name] != status
                else { continue }
                printedStages[name] = status
                let seconds = (stage["duration_seconds"] as? Double).map { String(format: " %.1fs", $0) } ?? ""
                let note = (stage["error"] as? String).map { " — \($0)" } ?? ""
                say("  stage \(name.padding(toLength: 9, withPad: " ", startingAt: 0)) \(status)\(seconds)\(note)")
                if status == "completed" { for line in dataQualityNotes(stage) { say("    \(line)") } }
            }
            let status = run["status"] as? String ?? ""
            switch status {
            case "failed", "cancelled":
                say("run \(runID) \(status): \(run["error_message"] ?? "")")
                if let tail = run["log_tail"] as? String, !tail.isEmpty { say("log tail:\n\(tail)") }
                throw ExitCode(1)
            case "not_blessed":
                say(String(format: "run %@ finished but is not blessed: recall@100 %.4f", runID, run["recall_at_100"] as? Double ?? 0))
                throw ExitCode(2)
            case "completed":
                if let version = run["registered_model"] as? [String: Any] {
                    let metrics = run["metrics"] as? [String: Double] ?? [:]
                    say(
                        String(
                            format: "run %@ completed in %.1fs: recall@100 %.4f (popularity %.4f, lift %.2fx), blessed",
                            runID, run["duration_seconds"] as? Double ?? 0, metrics["recall_at_100"] ?? 0,
                            metrics["popularity_recall_at_100"] ?? 0, metrics["lift_at_100"] ?? 0))
                    say("registered \(version["model_name"] ?? "") v\(version["version"] ?? "") (version id \(version["version_id"] ?? ""))")
                    return
                }
                let autoRegister = (run["config"] as? [String: Any])?["auto_register"] as? Bool ?? true
                if !autoRegister {
                    say("run \(runID) completed; auto-registration is off: `POST /api/training-runs/\(runID)/push/` registers it")
                    return
                }
            default:
                break
            }
            if Date().timeIntervalSince(started) > 3600 { throw ValidationErrorMessage("gave up following \(runID) after an hour") }
            try await Task.sleep(for: .milliseconds(500))
        }
    }
}

/// What a completed stage says the run could not use as written: rows the loader skipped (`examples`:
/// `skipped_rows.<file>` and its `skipped_rows.<file>.<reason>[.<column>]` parts) and values treated as
/// missing because they did not parse (`stats`: `unparseable_rows.<file>.<feature>`). The run's statistics
/// name the first such value and its row.
func dataQualityNotes(_ stage: [String: Any]) -> [String] {
    let metrics = ((stage["details"] as? [String: Any])?["metrics"] as? [String: Any] ?? [:]).compactMapValues { ($0 as? NSNumber)?.intValue }
    var notes: [String] = []
    for (key, count) in metrics.sorted(by: { $0.key < $1.key }) where count > 0 {
        let parts = key.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count >= 2 else { continue }
        if parts[0] == "skipped_rows", parts.count == 2 {
            let prefix = "\(key)."
            let reasons = metrics.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }.map {
                "\($0.value) \($0.key.dropFirst(prefix.count).replacingOccurrences(of: ".", with: " "))"
            }
            notes.append("skipped \(count) unusable \(parts[1]) rows (\(reasons.joined(separator: ", "))); see the run's statistics")
        } else if parts[0] == "unparseable_rows", parts.count == 3 {
            notes.append("\(parts[2]) (\(parts[1])): \(count) rows with an unparseable value, treated as missing; see the run's statistics")
        }
    }
    return notes
}

// MARK: - slipway runs / models

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "Training runs.", subcommands: [List.self, Show.self, Logs.self, Cancel.self, Rerun.self])

    struct List: AsyncParsableCommand {
        @Option var gateway: String?
        @Option(help: "Only runs of this model.") var model: String?
        @Option(help: "Only runs in this status.") var status: String?
        func run() async throws {
            var query: [String] = []
            if let model { query.append("name=\(percentEncoded(model))") }
            if let status { query.append("status=\(percentEncoded(status))") }
            let json = try await APIClient(gateway: gateway).expect(
                .GET, "/api/training-runs" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")))
            for run in json["training_runs"] as? [[String: Any]] ?? [] {
                let recall = (run["recall_at_100"] as? Double).map { String(format: "%.4f", $0) } ?? "-"
                say("\(run["id"] ?? "")\t\(run["status"] ?? "")\t\(run["current_stage"] ?? "-")\trecall@100 \(recall)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        @Argument var id: String
        @Option var gateway: String?
        func run() async throws { try printJSON(try await APIClient(gateway: gateway).expect(.GET, "/api/training-runs/\(id)")) }
    }

    struct Logs: AsyncParsableCommand {
        @Argument var id: String
        @Option var lines = 200
        @Option var gateway: String?
        func run() async throws {
            let json = try await APIClient(gateway: gateway).expect(.GET, "/api/training-runs/\(id)/logs?lines=\(lines)")
            for line in json["lines"] as? [String] ?? [] { say(line) }
        }
    }

    struct Cancel: AsyncParsableCommand {
        @Argument var id: String
        @Option var gateway: String?
        func run() async throws {
            let json = try await APIClient(gateway: gateway).expect(.POST, "/api/training-runs/\(id)/cancel", [:])
            say("\(id): \(json["status"] ?? "")")
        }
    }

    struct Rerun: AsyncParsableCommand {
        @Argument var id: String
        @Option var gateway: String?
        func run() async throws {
            let json = try await APIClient(gateway: gateway).expect(.POST, "/api/training-runs/\(id)/rerun", [:])
            say(json["message"] as? String ?? "")
        }
    }
}

struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "Registered models and their versions.", subcommands: [List.self, Versions.self])

    struct List: AsyncParsableCommand {
        @Option var gateway: String?
        func run() async throws {
            let json = try await APIClient(gateway: gateway).expect(.GET, "/api/registered-models")
            for model in json["registered_models"] as? [[String: Any]] ?? [] {
                say("\(model["model_name"] ?? "")\t\(model["model_type"] ?? "")\t\(model["status"] ?? "")\tversions \(model["total_versions"] ?? 0)")
            }
            if let kpi = json["kpi"] { try printJSON(["kpi": kpi]) }
        }
    }

    struct Versions: AsyncParsableCommand {
        @Argument var model: String
        @Option var gateway: String?
        func run() async throws {
            let json = try await APIClient(gateway: gateway).expect(.GET, "/api/registered-models/\(model)/versions")
            for version in json["versions"] as? [[String: Any]] ?? [] {
                let recall = ((version["metrics"] as? [String: Double])?["recall_at_100"]).map { String(format: "%.4f", $0) } ?? "-"
                say("v\(version["version"] ?? "")\t\(version["source_run_id"] ?? "")\trecall@100 \(recall)\tblessed \(version["blessed"] ?? "")")
            }
        }
    }
}

/// Prints a line now, also when stdout is a pipe or a file (progress must show as it happens).
func say(_ line: String) {
    print(line)
    fflush(nil)
}

func printJSON(_ value: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys])
    say(String(decoding: data, as: UTF8.self))
}

// MARK: - slipway bench train

struct BenchTrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Generate the 200k-transaction demo data set, train and evaluate with the built-in trainer, print RESULT.",
        discussion: "Runs `slipway-trainer bench`, the same trainer training-svc's local executor runs.")
    @Option var customers = 5_000
    @Option var products = 2_000
    @Option var transactions = 200_000
    @Option var seed = 42

    func run() async throws {
        try runTrainerTool([
            "bench", "--customers", "\(customers)", "--products", "\(products)",
            "--transactions", "\(transactions)", "--seed", "\(seed)",
        ])
    }
}

struct BenchQualityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "Train the default model on MovieLens-100K and compare it with implicit's ALS on the same split; print RESULT.",
        discussion: """
            Runs `slipway-trainer quality`: fetches the recbole wheel (MovieLens-100K is among its examples) and the \
            `implicit` library into a virtualenv of the bench's own (PyPI), fits the reference ALS tuned on the \
            validation split, trains the default model with the same split and protocol, and prints \
            RESULT recall_at_10=… recall_at_100=… ndcg_at_10=… popularity_recall_at_10=… als_recall_at_10=… \
            als_recall_at_100=… train_s=….
            """)
    @Option(help: "Work directory (the virtualenv and the wheel are kept there between runs).") var dir: String?
    @Option var seed = 1
    @Flag(help: "Train with the user and item attribute files and features too.") var attributes = false

    func run() async throws {
        try runTrainerTool(["quality", "--seed", "\(seed)"] + (dir.map { ["--dir", $0] } ?? []) + (attributes ? ["--attributes"] : []))
    }
}
