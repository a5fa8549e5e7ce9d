import ArgumentParser
import AsyncHTTPClient
import Foundation
import SlipwayKafka
import SlipwayPlatform

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
            last, one model's), a run, an endpoint's monitoring tab (a day and a week) over --metrics-days of
            minute metrics and its tests tab, a model's deployment dashboard and timeline, the schedules (first
            page, the last) and one schedule, /docs — sends requests one after another for --seconds, each answered in full; a
            page's latency is measured on the client (loopback, so it bounds the server's render time from above). page_p99_ms is the slowest page's p99. Any answer but
            200 fails the bench.
            openapi_routes: the operations /api/openapi.json documents; undocumented_routes: those it lists as
            undocumented (`x-slipway-undocumented`).
            The monitored endpoint, <prefix>-monitored, serves the first model's version 1 (deployed unless it
            serves). Its history is request logs published to the serving topic as serving-router writes them,
            one a minute for --metrics-days days (with five features each, which drift compares), unless the
            last week already holds most of them; each chunk of 5,000 is followed by one log of now under its own key,
            and the next chunk waits until metrics-svc has counted it (so a minute of now holds a few more).
            Each model also gets a daily schedule made from its first run, paused at once (so that nothing fires).
            """)

    @Option(help: "Models in the registry.") var models = 1_000
    @Option(help: "Training runs (and so versions), spread over the models.") var runs = 10_000
    @Option(help: "Concurrent clients while seeding.") var clients = 8
    @Option(help: "Seconds of requests per page.") var seconds = 3.0
    @Option(help: "Days of minute metrics behind the monitored endpoint.") var metricsDays = 30
    @Option(help: "Prefix of the seeded models' names and the viewer's username.") var prefix = "bench-ui"
    @Option(help: "Where the seeding's data file and model bundle live.") var workDir = FileManager.default.temporaryDirectory
        .appendingPathComponent("slipway-bench-ui").path
    @Option(help: "Gateway URL (default: the one `slipway up` started).") var gateway: String?

    func validate() throws {
        guard models >= 1, runs >= models else { throw ValidationError("--runs must be at least --models (each model needs a version)") }
        guard clients >= 1, seconds > 0 else { throw ValidationError("--clients and --seconds must be positive") }
        guard (8...365).contains(metricsDays) else { throw ValidationError("--metrics-days must be 8 to 365 (the week view reads 7)") }
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
            let setup = try await Bench.prepare(api, workDir: URL(fileURLWithPath: workDir))
            let missing = max(runs - held, models - present)
            say("seed: \(missing) runs over \(models) models from \(clients) clients (the registry holds \(held) versions of them)")
            let registered = try await admin.register(versions: missing, of: names, setup: setup)
            say(String(format: "  seeded in %.1f s (%.0f runs/s)", registered.seconds, Double(missing) / registered.seconds))
        }

        let monitored = try await monitoredEndpoint(admin, api: api, model: names[0])
        try await seedServingHistory(admin, endpoint: monitored)
        let scheduleID = try await seedSchedules(admin, models: names, showing: names[models / 2])

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
            ("training_run", "/training/\(middle)-1"), ("endpoint_monitoring", "/endpoints/\(monitored.name)?tab=monitoring"),
            ("endpoint_monitoring_week", "/endpoints/\(monitored.name)?tab=monitoring&hours=168"),
            ("endpoint_tests", "/endpoints/\(monitored.name)?tab=tests"), ("model_deployment", "/models/\(names[0])?tab=deployment"),
            ("model_timeline", "/models/\(names[0])?tab=timeline"), ("schedules", "/schedules"),
            ("schedules_last_page", "/schedules?page=\((models + 49) / 50)"), ("schedule", "/schedules/\(scheduleID)"), ("docs", "/docs"),
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
                + " openapi_routes=\(operations.count) undocumented_routes=\(undocumented) models=\(models) runs=\(runs)"
                + " metrics_days=\(metricsDays)")
    }

    // MARK: The monitored endpoint

    /// `<prefix>-monitored` serving `model` v1: where its serving logs say they were answered.
    func monitoredEndpoint(_ admin: Bench, api: APIClient, model: String) async throws -> (name: String, route: RequestLogs.Route) {
        let name = prefix + "-monitored"
        var (status, endpoint, _) = try await admin.send(.GET, admin.gateway + "/api/endpoints/\(name)")
        if status == 404 || endpoint["status"] as? String != "serving" {
            say("deploy: \(model) v1 to \(name)")
            let body: [String: Any] = ["version": 1, "endpoint": name, "preset": "development", "force": true, "reason": "slipway bench ui"]
            let deployment = try await api.deploy(model, body)
            _ = try await waitForOutcome(api, endpoint: name, deployment: deployment["id"] as? String ?? "", timeout: .seconds(120))
            (status, endpoint, _) = try await admin.send(.GET, admin.gateway + "/api/endpoints/\(name)")
        }
        guard status == 200, let endpointID = endpoint["id"] as? String,
            let deployment = (endpoint["deployments"] as? [[String: Any]] ?? []).first(where: { $0["status"] as? String == "active" }),
            let deploymentID = deployment["id"] as? String, let revisionID = deployment["revision_id"] as? String
        else { throw admin.failure("GET /api/endpoints/\(name)", status, endpoint) }
        let route = RequestLogs.Route(
            endpointID: endpointID, deploymentID: deploymentID, registeredModelID: model,
            revisions: [
                .init(
                    id: revisionID, version: Int32(deployment["version"] as? Int ?? 1),
                    modelVersionID: deployment["model_version_id"] as? String ?? "")
            ])
        return (name, route)
    }

    /// A log a minute for `metricsDays` days, oldest first, unless the last week already holds most of a week of them
    /// (an earlier seeding: each hour since moves an hour of it out of the week).
    func seedServingHistory(_ admin: Bench, endpoint: (name: String, route: RequestLogs.Route)) async throws {
        let week = 7 * 24 * 60
        let held = try await requests(admin, "/api/v1/monitoring/metrics/performance?endpoint_id=\(endpoint.name)&hours=168")
        if held >= week * 9 / 10 {
            say("seed: \(endpoint.name) already holds \(held) requests in its last week")
            return
        }
        let brokers = try Endpoints().kafkaBrokers(override: nil)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientId: "bench-ui", lingerMs: 5),
            logger: serviceLogger("bench", level: .warning))
        do {
            let minutes = metricsDays * 24 * 60
            let now = Date()
            let started = ContinuousClock.now
            say("seed: \(minutes) minutes of request logs for \(endpoint.name) through \(brokers)")
            // Each chunk ends with a log of now under a key of its own, counted in the last hour's figures by key.
            let markerKey = prefix + "-marker"
            let recent = "/api/v1/monitoring/metrics/realtime/\(endpoint.name)?minutes=60"
            var markers = try await requests(admin, recent, apiKey: markerKey)
            for first in stride(from: 0, to: minutes, by: 5_000) {
                // Oldest first: `minutes - 1` minutes ago up to now.
                let logs = (first..<min(first + 5_000, minutes)).map { index in
                    RequestLogs.log(
                        id: "\(prefix)-\(index)", route: endpoint.route, index: index,
                        at: now.addingTimeInterval(-Double(minutes - 1 - index) * 60), keys: 2)
                }
                // The partition is read in order: once this log is counted, so is the chunk before it.
                var marker = RequestLogs.log(id: "\(prefix)-marker-\(first)", route: endpoint.route, index: first, at: Date(), keys: 1)
                marker.apiKeyID = markerKey
                _ = try await producer.send(try RequestLogs.messages(logs + [marker]))
                markers += 1
                let deadline = ContinuousClock.now + .seconds(120)
                while try await requests(admin, recent, apiKey: markerKey) < markers {
                    guard ContinuousClock.now < deadline else { throw ValidationErrorMessage("metrics-svc did not count the logs within 120 s") }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            say(String(format: "  seeded in %.1f s", Double((ContinuousClock.now - started).milliseconds) / 1000))
        } catch {
            await producer.shutdown()
            throw error
        }
        await producer.shutdown()
    }

    /// A paused daily schedule for each model, made from its first run, unless there are as many already; the id of
    /// `showing`'s.
    func seedSchedules(_ admin: Bench, models: [String], showing: String) async throws -> String {
        let (status, held, _) = try await admin.send(.GET, admin.gateway + "/api/training/schedules?limit=1")
        guard status == 200 else { throw admin.failure("GET /api/training/schedules", status, held) }
        if held["total_matching"] as? Int ?? 0 < models.count {
            say("seed: a paused daily schedule for each of \(models.count) models")
            let started = ContinuousClock.now
            let next = SharedCounter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<clients {
                    group.addTask {
                        while case let index = next.next(), index < models.count {
                            let body: [String: Any] = [
                                "source_training_run_id": "\(models[index])-1", "name": "\(models[index]) nightly", "schedule_type": "daily",
                                "schedule_time": "02:00", "schedule_timezone": "UTC",
                            ]
                            let made = try await admin.send(
                                .POST, admin.gateway + "/api/training/schedules/from-run",
                                body: Array(try JSONSerialization.data(withJSONObject: body)))
                            // 409: the model has a schedule already (an earlier, interrupted seeding).
                            guard made.0 == 201 || made.0 == 409 else { throw admin.failure("POST /api/training/schedules/from-run", made.0, made.1) }
                            guard let id = (made.1["schedule"] as? [String: Any])?["id"] as? String else { continue }
                            let paused = try await admin.send(.POST, admin.gateway + "/api/training/schedules/\(id)/pause")
                            guard paused.0 == 200 else { throw admin.failure("POST /api/training/schedules/\(id)/pause", paused.0, paused.1) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            say(String(format: "  seeded in %.1f s", Double((ContinuousClock.now - started).milliseconds) / 1000))
        }
        let (found, list, _) = try await admin.send(.GET, admin.gateway + "/api/training/schedules?model_name=\(showing)")
        guard found == 200, let id = (list["schedules"] as? [[String: Any]])?.first?["id"] as? String else {
            throw admin.failure("GET /api/training/schedules?model_name=\(showing)", found, list)
        }
        return id
    }

    /// The requests a metrics-svc figures route counts, or those with `apiKey` (0 while metrics-svc has no figures of
    /// the endpoint).
    func requests(_ admin: Bench, _ path: String, apiKey: String? = nil) async throws -> Int {
        let (status, json, _) = try await admin.send(.GET, admin.gateway + path)
        guard status == 200 else { return 0 }
        let figures = (json["endpoints"] as? [[String: Any]])?.first ?? json
        if let apiKey {
            return (figures["by_api_key"] as? [[String: Any]] ?? []).first { $0["api_key_id"] as? String == apiKey }?["requests"] as? Int ?? 0
        }
        return ((figures["summary"] as? [String: Any])?["requests"] as? [String: Any])?["total"] as? Int ?? 0
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
