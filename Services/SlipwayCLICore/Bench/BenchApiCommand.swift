import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayModelBundle
import Synchronization

/// `slipway bench api`: against a running platform (`slipway up`), the REST API as a sweep of external
/// trainers and its readers use it, through the gateway: registering versions from concurrent clients,
/// reading a model, listing its versions, moving an alias.
struct BenchApiCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Register versions, read, list and alias through the gateway; prints RESULT versions_per_s=… get_p50_ms=… list1k_p50_ms=….",
        discussion: """
            Needs `slipway up`. Setup: a dataset, feature config and model config named bench-api, and a small
            synthetic model bundle on disk (kept in --work-dir, so the registered versions' artifacts stay loadable).
            register: a fresh model; --versions runs from --clients concurrent clients, each looping: create an
            external run with submit (its answer carries the webhook URL and token), then POST `completed` with
            metrics and the bundle path. A 409 on create counts as a create conflict and is retried.
            versions_per_s = versions / (first create → the registry lists them all, polled on the model's
            total_versions).
            get: GET /api/registered-models/{name} for --seconds with --clients tasks and with 1; also straight
            to registry-svc, and the gateway's /healthz, to separate the hop from the service. direct_get_p50_ms
            (straight to registry-svc) and healthz_p50_ms (a request that does nothing, at the gateway) are with
            --clients: the floor the machine sets under get_p50_ms.
            list: GET …/{name}/versions (all versions) with 1 client and with --clients.
            alias: PUT …/{name}/aliases/champion alternating between two versions, 1 client.
            Latency is measured per request on the client (ContinuousClock), connections kept alive.
            --phases runs a subset (e.g. get,list against an existing --model, to profile one phase).
            """)

    @Option(help: "Versions to register.") var versions = 1_000
    @Option(help: "Concurrent clients for the register phase and the concurrent read phases.") var clients = 8
    @Option(help: "Seconds of each measured read phase.") var seconds = 5.0
    @Option(help: "Registered model name (default: bench-api-<unix time>, fresh per run).") var model: String?
    @Option(help: "Where the bench's data file and model bundle live.") var workDir = FileManager.default.temporaryDirectory
        .appendingPathComponent("slipway-bench-api").path
    @Option(help: "Gateway URL (default: the one `slipway up` started).") var gateway: String?
    @Option(help: "registry-svc's URL for the direct reads (default: the one `slipway up` started).") var registry: String?
    @Option(help: "Phases to run, comma-separated (register,get,list,alias); without register, --model names an existing model.")
    var phases = "register,get,list,alias"

    static let allPhases: Set<String> = ["register", "get", "list", "alias"]

    var phaseSet: Set<String> { Set(phases.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }

    func validate() throws {
        guard versions >= 2 else { throw ValidationError("--versions must be at least 2 (the alias phase alternates between two)") }
        guard clients >= 1, seconds > 0 else { throw ValidationError("--clients and --seconds must be positive") }
        guard !phaseSet.isEmpty, phaseSet.isSubset(of: Self.allPhases) else {
            throw ValidationError("--phases takes register, get, list and alias, comma-separated")
        }
        if !phaseSet.contains("register") && model == nil { throw ValidationError("without the register phase, --model names the model to read") }
    }

    func run() async throws {
        let api = try APIClient(gateway: gateway)
        let registryURL = try Endpoints().serviceURL("registry", override: registry)
        let name = model ?? "bench-api-\(Int(Date().timeIntervalSince1970))"
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(2)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(clients, 8)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let bench = Bench(
                http: http, gateway: api.base, authorization: api.headers, registry: registryURL, model: name, clients: clients, seconds: seconds,
                phases: phaseSet)
            try await bench.run(api: api, versions: versions, workDir: URL(fileURLWithPath: workDir))
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }
}

/// One run of the bench: the phases in order, then the RESULT line. `slipway bench ui` seeds its history with
/// `prepare` and `register`.
struct Bench {
    let http: HTTPClient
    let gateway: String
    /// The CLI's token, on every request (registry-svc ignores it).
    let authorization: [String: String]
    let registry: String
    let model: String
    let clients: Int
    let seconds: Double
    let phases: Set<String>

    func run(api: APIClient, versions: Int, workDir: URL) async throws {
        var result: [(String, String)] = []
        var measured: [Latencies] = []
        var count = versions
        if phases.contains("register") {
            let setup = try await Self.prepare(api, workDir: workDir)
            say("setup: dataset, feature config and model config bench-api; bundle \(setup.bundle.path)")
            let registered = try await register(versions: versions, of: [model], setup: setup)
            say(
                String(
                    format: "register: %d versions of %@ from %d clients in %.2f s → %.1f versions/s; create conflicts (409) %d",
                    versions, model, clients, registered.seconds, Double(versions) / registered.seconds, registered.conflicts))
            say("  create run  \(registered.create.summary)")
            say("  completed   \(registered.completed.summary)")
            say(
                String(
                    format: "  all webhooks answered after %.2f s; the registry listed the last version %.0f ms later",
                    registered.webhooksSeconds, (registered.seconds - registered.webhooksSeconds) * 1000))
            result += [
                ("versions_per_s", String(format: "%.1f", Double(versions) / registered.seconds)),
                ("create_conflicts", "\(registered.conflicts)"),
            ]
        } else {
            let (status, json, _) = try await send(.GET, gateway + "/api/registered-models/\(model)")
            guard status == 200, let total = json["total_versions"] as? Int, total >= 2 else {
                throw ValidationErrorMessage("\(model) is not a registered model with at least two versions")
            }
            count = total
        }

        let modelPath = "/api/registered-models/\(model)"
        if phases.contains("get") {
            let get8 = try await measure("GET \(modelPath)", gateway + modelPath, clients: clients)
            let get1 = try await measure("GET \(modelPath)", gateway + modelPath, clients: 1)
            let direct8 = try await measure("GET \(modelPath) (registry-svc)", registry + modelPath, clients: clients)
            let direct1 = try await measure("GET \(modelPath) (registry-svc)", registry + modelPath, clients: 1)
            let health = try await measure("GET /healthz (gateway)", gateway + "/healthz", clients: 1)
            let registryHealth = try await measure("GET /healthz (registry-svc)", registry + "/healthz", clients: 1)
            // The floor on this machine: a request that does nothing (no hop, no query) with as many clients.
            let health8 = try await measure("GET /healthz (gateway)", gateway + "/healthz", clients: clients)
            say(
                String(
                    format: "gateway hop on GET model (1 client): %.3f ms p50 (through the gateway %.3f − straight to registry-svc %.3f)",
                    get1.p50 - direct1.p50, get1.p50, direct1.p50))
            measured += [get8, get1, direct8, direct1, health, registryHealth, health8]
            result += [
                ("get_p50_ms", String(format: "%.3f", get8.p50)), ("get_p99_ms", String(format: "%.3f", get8.p99)),
                ("get1_p50_ms", String(format: "%.3f", get1.p50)), ("direct_get_p50_ms", String(format: "%.3f", direct8.p50)),
                ("healthz_p50_ms", String(format: "%.3f", health8.p50)),
            ]
        }
        if phases.contains("list") {
            let listPath = modelPath + "/versions"
            let list1 = try await measure("GET \(listPath)", gateway + listPath, clients: 1)
            let list8 = try await measure("GET \(listPath)", gateway + listPath, clients: clients)
            let listDirect = try await measure("GET \(listPath) (registry-svc)", registry + listPath, clients: 1)
            say("  list answer: \(list1.bytes) bytes for \(count) versions")
            measured += [list1, list8, listDirect]
            result.append(("list1k_p50_ms", String(format: "%.2f", list1.p50)))
        }
        if phases.contains("alias") {
            let aliasURL = gateway + modelPath + "/aliases/champion"
            let alias = try await measure("PUT \(modelPath)/aliases/champion", aliasURL, clients: 1, method: .PUT) { index in
                Array(#"{"version": \#(index % 2 + 1)}"#.utf8)
            }
            measured.append(alias)
            result.append(("alias_p50_ms", String(format: "%.3f", alias.p50)))
        }

        let failures = measured.map(\.failures).reduce(0, +)
        if failures > 0 { say("non-2xx answers in the read and alias phases: \(failures)") }
        print("RESULT " + result.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
    }

    // MARK: Setup

    struct Setup {
        var bundle: URL
    }

    /// The catalog entries every run refers to (created once; a 409 means they exist) and a small but
    /// real bundle: the `completed` webhook loads it before it accepts the run. `slipway bench replicas` uses them too.
    static func prepare(_ api: APIClient, workDir: URL) async throws -> Setup {
        try FileManager.default.createDirectory(at: workDir, withIntermediateDirectories: true)
        let transactions = workDir.appendingPathComponent("transactions.csv")
        if !FileManager.default.fileExists(atPath: transactions.path) {
            try "customer_id,product_id,date\nC1,P100000,2024-01-01\nC2,P100001,2024-01-02\n".write(
                to: transactions, atomically: true, encoding: .utf8)
        }
        let bundle = workDir.appendingPathComponent("bundle")
        if (try? ModelBundle.load(from: bundle)) == nil {
            try? FileManager.default.removeItem(at: bundle)
            try SyntheticBundle.make(candidates: 200, dim: 16, customers: 200, hidden: 32, modelName: "bench-api").write(to: bundle)
        }
        try await api.ensure(
            "/api/datasets",
            [
                "name": "bench-api", "description": "slipway bench api (runs are external; the file is not read)",
                "transactions": transactions.path, "split": ["strategy": "random"],
            ])
        try await api.ensure(
            "/api/feature-configs",
            [
                "name": "bench-api", "description": "customer id → product id",
                "query": [["name": "customer_id", "embedding_dim": 16, "required": true]],
                "candidate": [["name": "product_id", "embedding_dim": 16, "required": true]],
            ])
        try await api.ensure(
            "/api/model-configs",
            [
                "name": "bench-api", "description": "one hidden layer of 32 per tower, 16-d output",
                "model_type": "retrieval", "query_layers": [32], "candidate_layers": [32], "output_dim": 16,
            ])
        return Setup(bundle: bundle)
    }

    // MARK: Register

    struct Registered {
        var seconds: Double
        var webhooksSeconds: Double
        var conflicts: Int
        var create: Latencies
        var completed: Latencies
    }

    /// `versions` runs, the n-th a run of `models[n % models.count]`, each created and completed through its webhook
    /// by one of the clients; done when the registry lists every version.
    func register(versions: Int, of models: [String], setup: Setup) async throws -> Registered {
        let createBodies = try models.map { model in
            Array(
                try JSONSerialization.data(
                    withJSONObject: [
                        "name": model, "model_type": "retrieval", "dataset_id": "bench-api", "feature_config_id": "bench-api",
                        "model_config_id": "bench-api", "executor": "external", "submit": true,
                    ] as [String: Any]))
        }
        let completedBody = try JSONSerialization.data(
            withJSONObject: [
                "metrics": ["recall_at_10": 0.21, "recall_at_100": 0.43, "loss": 3.9],
                "artifact_uri": setup.bundle.path, "duration_seconds": 1.0,
            ] as [String: Any])
        let before = try await registeredVersions(of: models)
        let claimed = SharedCounter()
        let conflicts = SharedCounter()
        let start = ContinuousClock.now
        let perClient = try await withThrowingTaskGroup(of: ([Double], [Double]).self) { group in
            for _ in 0..<clients {
                group.addTask {
                    var creates: [Double] = []
                    var completions: [Double] = []
                    while case let index = claimed.next(), index < versions {
                        // Create (retrying a 409: the sweep still needs this run).
                        var answer: [String: Any] = [:]
                        while true {
                            let (status, json, elapsed) = try await send(
                                .POST, gateway + "/api/training-runs", body: createBodies[index % createBodies.count])
                            creates.append(elapsed)
                            if status == 409 {
                                _ = conflicts.next()
                                continue
                            }
                            guard status == 201 || status == 200 else { throw failure("POST /api/training-runs", status, json) }
                            answer = json
                            break
                        }
                        guard let webhook = answer["webhook"] as? [String: Any], let url = webhook["url"] as? String,
                            let token = webhook["token"] as? String
                        else {
                            throw ValidationErrorMessage("POST /api/training-runs answered without a webhook (executor external, submit true)")
                        }
                        let (status, json, elapsed) = try await send(
                            .POST, gateway + url + "completed", body: Array(completedBody),
                            headers: ["Authorization": "Bearer \(token)"])
                        completions.append(elapsed)
                        guard (200..<300).contains(status) else { throw failure("POST \(url)completed", status, json) }
                    }
                    return (creates, completions)
                }
            }
            var all: [([Double], [Double])] = []
            for try await result in group { all.append(result) }
            return all
        }
        let webhooksDone = ContinuousClock.now

        // Until the registry lists every version (the Kafka hop and the registry's reaction).
        let deadline = webhooksDone.advanced(by: .seconds(600))
        var lastReport = webhooksDone
        while true {
            let total = try await registeredVersions(of: models) - before
            if total >= versions { break }
            let now = ContinuousClock.now
            guard now < deadline else { throw ValidationErrorMessage("the registry lists \(total) of \(versions) versions of \(model) after 600 s") }
            if now - lastReport > .seconds(5) {
                say("  waiting: the registry lists \(total) of \(versions) versions")
                lastReport = now
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let end = ContinuousClock.now
        return Registered(
            seconds: (end - start).seconds, webhooksSeconds: (webhooksDone - start).seconds, conflicts: conflicts.value,
            create: Latencies(perClient.flatMap(\.0)), completed: Latencies(perClient.flatMap(\.1)))
    }

    /// How many versions the registry lists of these models (a model it does not know has none).
    func registeredVersions(of models: [String]) async throws -> Int {
        if models.count == 1 {
            let (status, json, _) = try await send(.GET, gateway + "/api/registered-models/\(models[0])")
            return status == 200 ? json["total_versions"] as? Int ?? 0 : 0
        }
        let (status, json, _) = try await send(.GET, gateway + "/api/registered-models")
        guard status == 200 else { throw failure("GET /api/registered-models", status, json) }
        let names = Set(models)
        return (json["registered_models"] as? [[String: Any]] ?? []).filter { names.contains($0["model_name"] as? String ?? "") }
            .map { $0["total_versions"] as? Int ?? 0 }.reduce(0, +)
    }

    // MARK: Measuring

    /// `clients` tasks send requests back to back for `seconds` (after a short warm-up that opens the
    /// connections); prints and returns the latencies.
    func measure(
        _ label: String, _ url: String, clients: Int, method: HTTPMethod = .GET,
        body: (@Sendable (Int) -> [UInt8])? = nil
    ) async throws -> Latencies {
        let counter = SharedCounter()
        let warmUp = ContinuousClock.now.advanced(by: .milliseconds(300))
        let end = warmUp.advanced(by: .milliseconds(Int64(seconds * 1000)))
        let results = try await withThrowingTaskGroup(of: ([Double], Int, Int).self) { group in
            for _ in 0..<clients {
                group.addTask {
                    var samples: [Double] = []
                    var failures = 0
                    var bytes = 0
                    while true {
                        let sent = ContinuousClock.now
                        if sent >= end { break }
                        let index = counter.next()
                        let (status, size, elapsed) = try await sendRaw(method, url, body: body?(index))
                        guard sent >= warmUp else { continue }
                        samples.append(elapsed)
                        bytes = size
                        if !(200..<300).contains(status) { failures += 1 }
                    }
                    return (samples, failures, bytes)
                }
            }
            var all: [([Double], Int, Int)] = []
            for try await result in group { all.append(result) }
            return all
        }
        var latencies = Latencies(results.flatMap(\.0))
        latencies.failures = results.map(\.1).reduce(0, +)
        latencies.bytes = results.map(\.2).max() ?? 0
        let rate = Double(latencies.count) / seconds
        say(
            "\(label), \(clients) client\(clients == 1 ? "" : "s"): \(latencies.summary), \(String(format: "%.0f", rate)) requests/s"
                + (latencies.failures > 0 ? ", non-2xx \(latencies.failures)" : ""))
        return latencies
    }

    /// Status, JSON body and milliseconds.
    func send(_ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, headers: [String: String] = [:]) async throws
        -> (UInt, [String: Any], Double)
    {
        let (status, bytes, elapsed) = try await exchange(method, url, body: body, headers: headers)
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
        return (status, json, elapsed)
    }

    /// Status, body size and milliseconds; the body is read but not decoded.
    func sendRaw(_ method: HTTPMethod, _ url: String, body: [UInt8]?) async throws -> (UInt, Int, Double) {
        let (status, bytes, elapsed) = try await exchange(method, url, body: body, headers: [:])
        return (status, bytes.count, elapsed)
    }

    func exchange(_ method: HTTPMethod, _ url: String, body: [UInt8]?, headers: [String: String]) async throws -> (UInt, [UInt8], Double) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in authorization.merging(headers, uniquingKeysWith: { $1 }) { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let sent = ContinuousClock.now
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(60))
        } catch {
            throw ValidationErrorMessage("cannot reach \(url): \(error) (is the platform running? `slipway status`)")
        }
        let bytes = Array(try await response.body.collect(upTo: 256 * 1024 * 1024).readableBytesView)
        return (response.status.code, bytes, (ContinuousClock.now - sent).milliseconds)
    }

    func failure(_ what: String, _ status: UInt, _ json: [String: Any]) -> ValidationErrorMessage {
        let message = (json["error"] as? [String: Any])?["message"] as? String ?? "HTTP \(status)"
        return ValidationErrorMessage("\(what): \(status) \(message)")
    }
}

/// A counter the client tasks share.
final class SharedCounter: Sendable {
    private let count = Atomic<Int>(0)

    /// The value before this call's increment.
    func next() -> Int { count.add(1, ordering: .relaxed).oldValue }
    var value: Int { count.load(ordering: .relaxed) }
}
