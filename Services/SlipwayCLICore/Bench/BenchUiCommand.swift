import ArgumentParser
import AsyncHTTPClient
import Foundation

/// `slipway bench ui`: against a running platform (`slipway up`), how fast the gateway renders the web UI's pages
/// with a lot of history, and how much of the API its reference documents.
struct BenchUiCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract: "Render the web UI's pages over a large registry; prints RESULT page_p99_ms=… openapi_routes=… undocumented_routes=….",
        discussion: """
            Needs `slipway up`. Seeds, unless the registry already holds them: --models models named
            <prefix>-0000… and --runs external training runs spread over them (created and completed through
            their webhooks, as `slipway bench api` does, so each run is also a registered version). Then logs in a
            viewer (user <prefix>, by password, as a browser does) and, for each page — the models (first page,
            a search, the last page), a model's overview, versions and lineage, the training runs (first page, the
            last, one model's), a run, /docs — sends requests one after another for --seconds, each answered in full; a page's latency is measured on the client (loopback, so
            it bounds the server's render time from above). page_p99_ms is the slowest page's p99. Any answer but
            200 fails the bench.
            openapi_routes: the operations /api/openapi.json documents; undocumented_routes: those it lists as
            undocumented (`x-slipway-undocumented`).
            """)

    @Option(help: "Models in the registry.") var models = 1_000
    @Option(help: "Training runs (and so versions), spread over the models.") var runs = 10_000
    @Option(help: "Concurrent clients while seeding.") var clients = 8
    @Option(help: "Seconds of requests per page.") var seconds = 3.0
    @Option(help: "Prefix of the seeded models' names and the viewer's username.") var prefix = "bench-ui"
    @Option(help: "Where the seeding's data file and model bundle live.") var workDir = FileManager.default.temporaryDirectory
        .appendingPathComponent("slipway-bench-ui").path
    @Option(help: "Gateway URL (default: the one `slipway up` started).") var gateway: String?

    func validate() throws {
        guard models >= 1, runs >= models else { throw ValidationError("--runs must be at least --models (each model needs a version)") }
        guard clients >= 1, seconds > 0 else { throw ValidationError("--clients and --seconds must be positive") }
        guard prefix.range(of: "^[a-z][a-z0-9-]{0,40}$", options: .regularExpression) != nil else {
            throw ValidationError("--prefix must be lowercase letters, digits and dashes, starting with a letter")
        }
    }

    func run() async throws {
        let api = try APIClient(gateway: gateway)
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(2)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(clients, 8)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await bench(api: api, http: http)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    func bench(api: APIClient, http: HTTPClient) async throws {
        let names = (0..<models).map { prefix + "-" + String(format: "%04d", $0) }
        let admin = Bench(
            http: http, gateway: api.base, authorization: api.headers, registry: api.base, model: names[0], clients: clients, seconds: seconds,
            phases: [])
        let held = try await admin.registeredVersions(of: names)
        let present = try await presentModels(admin, names)
        if present == models && held >= runs {
            say("seed: the registry already holds \(models) \(prefix) models with \(held) versions")
        } else {
            let setup = try await admin.prepare(api, workDir: URL(fileURLWithPath: workDir))
            let missing = max(runs - held, models - present)
            say("seed: \(missing) runs over \(models) models from \(clients) clients (the registry holds \(held) versions of them)")
            let registered = try await admin.register(versions: missing, of: names, setup: setup)
            say(String(format: "  seeded in %.1f s (%.0f runs/s)", registered.seconds, Double(missing) / registered.seconds))
        }

        let cookie = try await viewerSession(admin)
        let browser = Bench(
            http: http, gateway: api.base, authorization: ["Cookie": cookie], registry: api.base, model: names[0], clients: 1, seconds: seconds,
            phases: [])
        let middle = names[models / 2]
        // The last page of the runs is the deepest offset training-svc pages to.
        let pages: [(name: String, path: String)] = [
            ("models", "/models"), ("models_search", "/models?search=\(prefix)-00"), ("models_last_page", "/models?page=\((models + 49) / 50)"),
            ("model", "/models/\(middle)"), ("model_versions", "/models/\(middle)?tab=versions"), ("model_lineage", "/models/\(middle)?tab=lineage"),
            ("training", "/training"), ("training_last_page", "/training?page=\((runs + 49) / 50)"), ("training_model", "/training?model=\(middle)"),
            ("training_run", "/training/\(middle)-1"), ("docs", "/docs"),
        ]
        var slowest = 0.0
        var result: [(String, String)] = []
        for page in pages {
            let latencies = try await browser.measure("GET \(page.path)", api.base + page.path, clients: 1)
            guard latencies.failures == 0, latencies.count > 0 else {
                throw ValidationErrorMessage("GET \(page.path) answered \(latencies.failures) times with a status other than 200")
            }
            say("  answer: \(latencies.bytes) bytes")
            slowest = max(slowest, latencies.p99)
            result.append(("\(page.name)_p99_ms", String(format: "%.2f", latencies.p99)))
        }

        let (status, reference, _) = try await admin.send(.GET, api.base + "/api/openapi.json")
        guard status == 200, let paths = reference["paths"] as? [String: [String: Any]] else {
            throw admin.failure("GET /api/openapi.json", status, reference)
        }
        let operations = paths.values.flatMap { $0.values.compactMap { $0 as? [String: Any] } }
        let undocumented = operations.filter { $0["x-slipway-undocumented"] as? Bool == true }.count
        if let unavailable = reference["x-slipway-unavailable"] { say("the reference lacks services that did not answer: \(unavailable)") }
        print(
            "RESULT page_p99_ms=\(String(format: "%.2f", slowest)) "
                + result.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
                + " openapi_routes=\(operations.count) undocumented_routes=\(undocumented) models=\(models) runs=\(runs)")
    }

    /// How many of the seeded names the registry lists.
    func presentModels(_ admin: Bench, _ names: [String]) async throws -> Int {
        let (status, json, _) = try await admin.send(.GET, admin.gateway + "/api/registered-models?search=\(prefix)-")
        guard status == 200 else { throw admin.failure("GET /api/registered-models", status, json) }
        let wanted = Set(names)
        return (json["registered_models"] as? [[String: Any]] ?? []).filter { wanted.contains($0["model_name"] as? String ?? "") }.count
    }

    /// A viewer named after the prefix, with a fresh password, logged in: its session cookie.
    func viewerSession(_ admin: Bench) async throws -> String {
        let password = "bench-ui-" + UUID().uuidString
        let created = try await admin.send(
            .POST, admin.gateway + "/api/users", body: Array(try JSONSerialization.data(withJSONObject: ["username": prefix, "role": "viewer"])))
        guard created.0 == 201 || created.0 == 409 else { throw admin.failure("POST /api/users", created.0, created.1) }
        let set = try await admin.send(
            .PUT, admin.gateway + "/api/users/\(prefix)/password", body: Array(try JSONSerialization.data(withJSONObject: ["password": password])))
        guard set.0 == 204 else { throw admin.failure("PUT /api/users/\(prefix)/password", set.0, set.1) }
        var login = HTTPClientRequest(url: admin.gateway + "/api/session")
        login.method = .POST
        login.headers.add(name: "Content-Type", value: "application/json")
        login.body = .bytes(try JSONSerialization.data(withJSONObject: ["username": prefix, "password": password]))
        let answer = try await admin.http.execute(login, timeout: .seconds(10))
        guard answer.status.code == 201, let setCookie = answer.headers.first(name: "Set-Cookie"),
            let pair = setCookie.split(separator: ";").first
        else { throw ValidationErrorMessage("POST /api/session answered \(answer.status.code) without a session cookie") }
        return String(pair)
    }
}
