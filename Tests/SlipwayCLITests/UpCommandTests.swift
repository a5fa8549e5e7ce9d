import Foundation
import HTTPTypes
import SlipwayLocalRuntime
import SlipwayTestSupport
import Testing

/// The README's first command, end to end: `slipway up` on embedded defaults in a fresh directory,
/// `slipway status`, training, deploying and serving through the gateway and serving-router, `slipway down`
/// leaving nothing running, and `up` again at once serving what was deployed.
@Suite("slipway up", .serialized, .timeLimit(.minutes(8)))
struct UpCommandTests {
    static let infrastructure = TestInfrastructure.shared

    @Test("--durable with an external PostgreSQL is refused, naming the flag, before anything starts")
    func durableNeedsTheEmbeddedPostgres() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-durable-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let slipway = Self.infrastructure.executable("slipway").path
        let refused = try run(slipway, ["up", "--durable", "--database-url", "postgres://postgres@127.0.0.1:1/", "--data-dir", directory.path])
        #expect(refused.status != 0)
        #expect(refused.output.contains("--durable is for the embedded PostgreSQL"), "\(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("up.json").path), "nothing started")
    }

    @Test("up, status, train twice through the gateway, a failing dataset, down")
    func upStatusDown() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-up-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let slipway = Self.infrastructure.executable("slipway").path
        let gatewayPort = try freeTCPPort()
        let routerPort = try freeTCPPort()
        let routerAdminPort = try freeTCPPort()
        let logFile = directory.appendingPathComponent("up.out")
        FileManager.default.createFile(atPath: logFile.path, contents: nil)

        let up = Process()
        up.executableURL = URL(fileURLWithPath: slipway)
        // Embedded PostgreSQL and its own dev broker, as the README's command runs: the platform's real topics
        // must not be shared with other suites' services on the test broker.
        up.arguments = [
            "up", "--data-dir", directory.appendingPathComponent(".slipway").path, "--gateway-port", "\(gatewayPort)",
            "--router-port", "\(routerPort)", "--router-admin-port", "\(routerAdminPort)",
            "--log-level", "warning",
        ]
        up.currentDirectoryURL = directory
        up.standardOutput = try FileHandle(forWritingTo: logFile)
        up.standardError = up.standardOutput
        try up.run()
        let dataDir = ["--data-dir", directory.appendingPathComponent(".slipway").path]
        defer { leaveNothingRunning(slipway: slipway, dataDir: dataDir[1]) }
        try await eventually(timeout: .seconds(120), "slipway status reports every process ready", log: logFile) {
            try run(slipway, ["status"] + dataDir).status == 0
        }
        let status = try run(slipway, ["status"] + dataDir)
        for name in ["training-svc", "registry-svc", "schedule-svc", "deploy-svc", "testing-svc", "metrics-svc", "gateway", "serving-router"] {
            #expect(status.output.contains(name))
        }

        // The first start made an admin and left its token for the CLI, readable by its owner alone.
        let tokenFile = directory.appendingPathComponent(".slipway/admin-token")
        let token = try String(contentsOf: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect((try FileManager.default.attributesOfItem(atPath: tokenFile.path)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let actorSecret = directory.appendingPathComponent(".slipway/actor.secret").path
        #expect((try FileManager.default.attributesOfItem(atPath: actorSecret)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let anonymous = APITestClient(baseURL: "http://127.0.0.1:\(gatewayPort)")
        try await anonymous.get("/api/registered-models/", expect: .unauthorized)
        try await anonymous.post("/api/datasets/", "{}", expect: .unauthorized)
        // Through the gateway to registry-svc, which has no such model: its 404, in the error shape.
        let gatewayAPI = APITestClient(baseURL: "http://127.0.0.1:\(gatewayPort)", headers: [.authorization: "Bearer \(token)"])
        let missing = try await gatewayAPI.get("/api/registered-models/does-not-exist/", expect: .notFound)
        #expect(missing.errorCode == "not_found")
        try await gatewayAPI.get("/api/no-such-thing/", expect: .notFound)
        try await gatewayAPI.get("/internal/events", expect: .notFound)
        #expect(try await gatewayAPI.get("/api/me", expect: .ok).json()["username"] as? String == "admin")
        // The CLI acts as the admin; a viewer's token, given in SLIPWAY_TOKEN, reads and may not write.
        let gateway = "http://127.0.0.1:\(gatewayPort)"
        #expect(try run(slipway, ["whoami", "--gateway", gateway], in: directory).output.hasPrefix("admin\tadmin"))
        #expect(try run(slipway, ["users", "create", "vera", "--role", "viewer", "--gateway", gateway], in: directory).status == 0)
        let issued = try run(slipway, ["tokens", "create", "--user", "vera", "--name", "e2e", "--gateway", gateway], in: directory)
        let vera = ["SLIPWAY_TOKEN": String(issued.output.split(separator: "\n").last ?? "")]
        #expect(try run(slipway, ["models", "list", "--gateway", gateway], in: directory, environment: vera).status == 0)
        let write = try run(slipway, ["users", "create", "eve", "--role", "admin", "--gateway", gateway], in: directory, environment: vera)
        #expect(write.status != 0 && write.output.contains("403"), "\(write.output)")

        let router = APITestClient(baseURL: "http://127.0.0.1:\(routerPort)")
        try await trainTwice(slipway: slipway, gateway: gatewayAPI, directory: directory)
        try await deployAndServe(slipway: slipway, gateway: gatewayAPI, router: router, directory: directory)
        try await scheduleRetraining(slipway: slipway, gateway: gatewayAPI, directory: directory)
        // Every read model rebuilds from its event log into exactly the live rows.
        for service in ["training", "registry", "deploy", "schedule", "metrics"] {
            let replay = try run(slipway, ["events", "replay", "--service", service, "--verify"], in: directory)
            #expect(replay.status == 0, "\(service): \(replay.output)")
        }

        try await everyDocumentedRouteAnswers(gateway: gatewayAPI)
        try await modelsPage(gateway: gatewayAPI)

        // Down leaves nothing of this platform running — deploy-svc stops its model-servers itself, so `down`
        // finds nothing left to end — and up at once serves what was deployed again.
        // Tokens never reach a log: every process's output so far, the gateway's refusals included.
        let logs = directory.appendingPathComponent(".slipway/logs")
        for file in try FileManager.default.contentsOfDirectory(atPath: logs.path) {
            let text = (try? String(contentsOf: logs.appendingPathComponent(file), encoding: .utf8)) ?? ""
            #expect(!text.contains(token) && !text.contains(vera["SLIPWAY_TOKEN"]!), "a token is in \(file)")
        }
        let servingKey = try await keepServing(slipway: slipway, gateway: gateway, router: router, directory: directory)
        let running = ProcessInspection.processes(taggedWith: dataDir[1]).map(ProcessInspection.commandLine)
        #expect(running.count >= 9, "every process of up carries the tag: \(running)")
        #expect(running.contains { $0.contains("model-server") }, "a revision's model-server inherits the tag: \(running)")
        var current = up
        for cycle in 1...3 {
            let down = try run(slipway, ["down"] + dataDir)
            #expect(down.status == 0, "cycle \(cycle): \(down.output)")
            #expect(!down.output.contains("still running"), "cycle \(cycle): down had to end leftovers: \(down.output)")
            current.waitUntilExit()
            #expect(ProcessInspection.processes(taggedWith: dataDir[1]).isEmpty, "cycle \(cycle): processes left running")
            #expect(try run(slipway, ["status"] + dataDir).status != 0)
            guard cycle < 3 else { break }
            current = try startUp(slipway: slipway, arguments: up.arguments ?? [], directory: directory, log: logFile)
            try await eventually(timeout: .seconds(120), "cycle \(cycle): up again, every process ready", log: logFile) {
                try run(slipway, ["status"] + dataDir).status == 0
            }
            #expect(
                try await servedVersion(router, key: servingKey, within: .seconds(30)) == "1", "cycle \(cycle): the endpoint does not serve again")
        }
    }

    /// The API reference through the gateway has every service's part and no undocumented route, and every route it
    /// documents answers a call with placeholder names and an empty JSON body by its handler — never with the router's
    /// "no such route" and never with a 5xx.
    func everyDocumentedRouteAnswers(gateway api: APITestClient) async throws {
        let anonymous = APITestClient(baseURL: api.baseURL)
        let document = try await anonymous.get("/api/openapi.json", expect: .ok).json()
        #expect((document["info"] as? [String: Any])?["x-slipway-unavailable"] == nil, "\(document["info"] ?? "")")
        try await anonymous.send(.get, "/docs", expect: .ok)
        let paths = try #require(document["paths"] as? [String: [String: [String: Any]]])
        var called = 0
        for (path, operations) in paths.sorted(by: { $0.key < $1.key }) {
            for (method, operation) in operations.sorted(by: { $0.key < $1.key }) {
                #expect(operation["x-slipway-undocumented"] == nil, "\(method) \(path) is not documented")
                let success = (operation["responses"] as? [String: Any])?.first { $0.key.hasPrefix("2") }?.value as? [String: Any]
                // A live stream answers by staying open; /api/events/stream has its own tests.
                if (success?["content"] as? [String: Any])?["text/event-stream"] != nil { continue }
                let concrete = path.replacing(/\{[^}]+\}/, with: "e2e-missing")
                let verb = try #require(HTTPRequest.Method(method.uppercased()))
                let response = try await api.send(verb, concrete, verb == .get || verb == .delete ? nil : "{}")
                called += 1
                let message = (try? response.json()["error"] as? [String: Any])?["message"] as? String ?? ""
                #expect(response.status.code < 500, "\(verb) \(concrete) answered \(response.status.code): \(response.text.prefix(300))")
                #expect(
                    response.status != .methodNotAllowed && !message.hasPrefix("no route for this path") && !message.hasPrefix("no API route"),
                    "\(verb) \(concrete) reached no handler: \(response.status.code) \(message)")
            }
        }
        #expect(called > 120, "\(called) routes called")
    }

    /// The web UI through the real gateway: the admin, given a password through the API, logs in and finds the model
    /// trained above on the models page with the registry's figures; a filter that matches nothing says so.
    func modelsPage(gateway api: APITestClient) async throws {
        try await api.put("/api/users/admin/password", #"{"password": "e2e admin password"}"#, expect: .noContent)
        let browser = APITestClient(baseURL: api.baseURL)
        let login = try await browser.post("/api/session", #"{"username": "admin", "password": "e2e admin password"}"#, expect: .created)
        let cookie = String(login.headers[.setCookie]?.split(separator: ";").first ?? "")
        #expect(cookie.hasPrefix("slipway_session="))
        let page = try await browser.send(.get, "/models", headers: [.cookie: cookie], expect: .ok)
        #expect(page.text.contains("b2b-retrieval") && page.text.contains("Registered") && page.text.contains("admin · admin"))
        let none = try await browser.send(.get, "/models?search=no-such-model", headers: [.cookie: cookie], expect: .ok)
        #expect(none.text.contains("match these filters") && !none.text.contains("<strong>b2b-retrieval</strong>"))
    }

    /// However a test ends: `slipway down` for its data directory while anything of it runs, then SIGKILL to whatever
    /// is still tagged with it. Killing only the supervisor, as a failed test used to, orphans the platform it started.
    func leaveNothingRunning(slipway: String, dataDir: String) {
        guard !ProcessInspection.processes(taggedWith: dataDir).isEmpty else { return }
        _ = try? run(slipway, ["down", "--data-dir", dataDir])
        // A supervisor that did not stop would start again what is killed next.
        let state = try? UpState.read(from: SlipwayPaths(root: URL(fileURLWithPath: dataDir)).stateFile)
        if let supervisor = state?.supervisorPID, ProcessInspection.isAlive(supervisor) { kill(supervisor, SIGKILL) }
        for pid in ProcessInspection.processes(taggedWith: dataDir) { kill(pid, SIGKILL) }
    }

    func startUp(slipway: String, arguments: [String], directory: URL, log: URL) throws -> Process {
        let up = Process()
        up.executableURL = URL(fileURLWithPath: slipway)
        up.arguments = arguments
        up.currentDirectoryURL = directory
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        up.standardOutput = handle
        up.standardError = handle
        try up.run()
        return up
    }

    /// Deploys v1 on `shop` with a fresh key and waits until the router serves it; returns the key.
    func keepServing(slipway: String, gateway: String, router: APITestClient, directory: URL) async throws -> String {
        let created = try run(slipway, ["keys", "create", "b2b-retrieval", "--name", "cycles", "--gateway", gateway], in: directory)
        #expect(created.status == 0, "\(created.output)")
        let key = String(created.output.split(separator: "\n").last ?? "")
        let deployed = try run(slipway, ["deploy", "b2b-retrieval", "--version", "1", "--endpoint", "shop", "--gateway", gateway], in: directory)
        #expect(deployed.status == 0, "\(deployed.output)")
        #expect(try await servedVersion(router, key: key, within: .seconds(10)) == "1")
        return key
    }

    /// The version `shop` answers from through the router, once it answers at all within `within`.
    func servedVersion(_ router: APITestClient, key: String, within: Duration) async throws -> String? {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            if let health = try? await router.get("/shop/health", headers: [.authorization: "Bearer \(key)"]), health.status == .ok,
                let version = try? health.json()["model_version"]
            {
                return "\(version)"
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// Issue 3's must-hold: `slipway train --demo` trains, evaluates, blesses and registers v1, a second run
    /// v2, both visible through the gateway with per-epoch metrics and data statistics; a dataset whose file
    /// is missing fails its run at the examples stage with a readable error.
    func trainTwice(slipway: String, gateway api: APITestClient, directory: URL) async throws {
        let gateway = api.baseURL
        // Big enough that the model clearly beats popularity (it must, to be blessed): with 300 customers and 9,000
        // transactions its Recall@10 was 0.12 against 0.11, and a rerun fell under; here 0.20 against 0.11.
        let demo = ["train", "--demo", "--customers", "500", "--products", "200", "--transactions", "20000", "--epochs", "3", "--gateway", gateway]
        let first = try run(slipway, demo, in: directory)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("registered b2b-retrieval v1"), "\(first.output)")
        let second = try run(slipway, demo, in: directory)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("registered b2b-retrieval v2"), "\(second.output)")

        let versions = try await api.get("/api/registered-models/b2b-retrieval/versions/").json()
        let list = versions["versions"] as? [[String: Any]] ?? []
        #expect(list.compactMap { $0["version"] as? Int }.sorted() == [1, 2])
        #expect(list.allSatisfy { ($0["metrics"] as? [String: Any])?["recall_at_100"] is Double })
        let model = try await api.get("/api/registered-models/b2b-retrieval/").json()
        #expect(model["total_versions"] as? Int == 2)
        // Who: the gateway signed the CLI's user with the installation's actor secret, and training-svc believed it.
        let run = try await api.get("/api/training-runs/b2b-retrieval-1/").json()
        #expect(run["created_by"] as? String == "admin", "\(run)")
        let metrics = try await api.get("/api/training-runs/b2b-retrieval-1/metrics/").json()
        #expect(((metrics["epochs"] as? [Any])?.count ?? 0) >= 1)
        let statistics = try await api.get("/api/training-runs/b2b-retrieval-2/statistics/", expect: .ok).json()
        #expect(statistics["num_examples"] as? Int == 20000)
        try await api.get("/api/training-runs/b2b-retrieval-2/schema/", expect: .ok)

        // A dataset whose transactions file is missing: the run fails at `examples`, saying which file.
        try await api.post("/api/datasets/", #"{"name": "missing-files", "transactions": "\#(directory.appendingPathComponent("gone.csv").path)"}"#)
        try await api.post(
            "/api/training-runs/",
            #"""
            {"name": "broken-model", "dataset_id": "missing-files", "feature_config_id": "b2b-default", "model_config_id": "mf-64"}
            """#, expect: .created)
        var failed: [String: Any] = [:]
        for _ in 0..<100 {
            failed = try await api.get("/api/training-runs/broken-model-1/").json()
            if failed["status"] as? String == "failed" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(failed["status"] as? String == "failed")
        #expect(failed["failed_stage"] as? String == "examples")
        #expect((failed["error_message"] as? String)?.contains("gone.csv") == true, "\(failed)")
        #expect((failed["log_tail"] as? String)?.isEmpty == false)
        try await api.get("/api/training-runs/no-such-run/", expect: .notFound)
    }

    /// Issue 11: a schedule made from run 2 freezes its configuration; the registry shows it; triggered, it starts a
    /// run with that configuration (`trigger: scheduled`), whose real outcome the schedule counts.
    func scheduleRetraining(slipway: String, gateway api: APITestClient, directory: URL) async throws {
        let gateway = api.baseURL
        var created = (status: Int32(1), output: "")
        for _ in 0..<50 {  // schedule-svc learns the run from training-svc's events
            created = try run(
                slipway,
                [
                    "schedules", "create", "--from-run", "b2b-retrieval-2", "--name", "nightly", "--daily", "03:00", "--tz", "Europe/Warsaw",
                    "--gateway", gateway,
                ],
                in: directory)
            if created.status == 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(created.status == 0, "\(created.output)")
        let id = String(created.output.split(separator: "\t").first ?? "")
        var model: [String: Any] = [:]
        for _ in 0..<50 {
            model = try await api.get("/api/registered-models/b2b-retrieval/").json()
            if model["has_schedule"] as? Bool == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(model["has_schedule"] as? Bool == true, "\(model)")
        let triggered = try run(slipway, ["schedules", "trigger", id, "--gateway", gateway], in: directory)
        #expect(triggered.status == 0, "\(triggered.output)")
        var schedule: [String: Any] = [:]
        for _ in 0..<300 {
            schedule = try await api.get("/api/training/schedules/\(id)/").json()
            if (schedule["total_runs"] as? Int ?? 0) > 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        let slot = (schedule["ledger"] as? [[String: Any]])?.first
        let slotRun = try await api.get("/api/training-runs/\(slot?["run_id"] as? String ?? "none")/").json()
        #expect(schedule["total_runs"] as? Int == 1 && schedule["successful_runs"] as? Int == 1, "\(schedule)\n\(slotRun)")
        #expect((slot?["detail"] as? String)?.hasPrefix("succeeded") == true, "the ledger says how the slot's run ended: \(schedule)")
        #expect((slot?["run_id"] as? String)?.hasPrefix("b2b-retrieval-") == true)
        let runs = try await api.get("/api/training-runs/?name=b2b-retrieval").json()
        let scheduled = (runs["training_runs"] as? [[String: Any]] ?? []).filter { $0["schedule_id"] as? String == id }
        #expect(scheduled.count == 1 && scheduled.first?["trigger"] as? String == "scheduled", "\(runs)")
        let shown = try run(slipway, ["schedules", "show", id, "--gateway", gateway], in: directory)
        #expect(shown.output.contains("1 ended, 1 succeeded"), "\(shown.output)")
        try await wizardSchedules(slipway: slipway, gateway: api, scheduleID: id, directory: directory)
    }

    /// The wizard's `schedule_config` (training-svc asks schedule-svc), and an external scheduler's webhook starting
    /// a slot's run once.
    func wizardSchedules(slipway: String, gateway api: APITestClient, scheduleID: String, directory: URL) async throws {
        let source = try await api.get("/api/training-runs/b2b-retrieval-2/config").json()["config"] as? [String: Any] ?? [:]
        let ids = ["dataset_id", "feature_config_id", "model_config_id"].map { "\"\($0)\": \"\(source[$0] as? String ?? "")\"" }.joined(
            separator: ", ")
        // A schedule alone: no run starts. A second one for the model, or a bad time, is refused naming the field.
        let wizard =
            #"{"name": "wizard-model", \#(ids), "training_params": {"epochs": 1}, "schedule_config": {"schedule_type": "weekly", "schedule_time": "05:00", "schedule_day_of_week": 6, "schedule_timezone": "America/New_York", "schedule_name": "Sunday refresh"}}"#
        let made = try await api.post("/api/training-runs/", wizard, expect: .created).json()
        #expect(made["training_run"] is NSNull, "\(made)")
        let schedule = try #require(made["schedule"] as? [String: Any])
        #expect(schedule["name"] as? String == "Sunday refresh" && schedule["model_name"] as? String == "wizard-model", "\(schedule)")
        try await api.post("/api/training-runs/", wizard).expectError(.conflict)
        try await api.post(
            "/api/training-runs/", #"{"name": "wizard-other", \#(ids), "schedule_config": {"schedule_type": "daily", "schedule_time": "26:00"}}"#
        ).expectError(.unprocessableContent, field: "schedule_config.schedule_time")
        #expect((try await api.get("/api/training-runs/?name=wizard-model").json()["training_runs"] as? [Any])?.isEmpty == true)
        // A config edit's schedule_config retimes the model's schedule.
        let retimed = try await api.patch(
            "/api/training-runs/b2b-retrieval-2/config/", #"{"schedule_config": {"schedule_type": "daily", "schedule_time": "04:15"}}"#, expect: .ok
        ).json()
        #expect((retimed["schedule"] as? [String: Any])?["schedule_time"] as? String == "04:15", "\(retimed)")

        // An external scheduler, through the run's path: the wrong secret is refused; the right one starts the slot's run, once.
        let wizardID = try #require(schedule["id"] as? String)
        let shown = try run(slipway, ["schedules", "webhook", wizardID, "--gateway", api.baseURL], in: directory)
        let secret = try #require(shown.output.split(separator: "\n").first { $0.hasPrefix("secret") }?.split(separator: " ").last.map(String.init))
        try await api.post("/api/training-runs/b2b-retrieval-2/schedule-webhook/", "{}", headers: [.authorization: "Bearer \(secret)"])
            .expectError(.unauthorized)
        let slot = #"{"slot_time": "\#(ISO8601DateFormatter().string(from: Date()))"}"#
        let webhook = "/api/training/schedules/\(wizardID)/webhook/"
        let started = try await api.post(webhook, slot, headers: [.authorization: "Bearer \(secret)"], expect: .accepted).json()
        #expect(started["outcome"] as? String == "started", "\(started)")
        #expect(try await api.post(webhook, slot, headers: [.authorization: "Bearer \(secret)"]).json()["outcome"] as? String == "already_handled")
        var runs: [[String: Any]] = []
        for _ in 0..<300 {
            runs = try await api.get("/api/training-runs/?name=wizard-model").json()["training_runs"] as? [[String: Any]] ?? []
            if let status = runs.first?["status"] as? String, ["completed", "not_blessed", "failed"].contains(status) { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(runs.count == 1 && runs.first?["schedule_id"] as? String == wizardID, "\(runs)")
        #expect(["completed", "not_blessed"].contains(runs.first?["status"] as? String ?? ""), "\(runs)")
        try await timerFiresOnTheClock(gateway: api, scheduleID: wizardID)
    }

    /// schedule-svc's own timer on the real clock: retimed to once, 15 s out, the schedule fires at that second,
    /// training-svc trains the slot's run, the schedule counts its outcome and is completed.
    func timerFiresOnTheClock(gateway api: APITestClient, scheduleID: String) async throws {
        let slot = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 15).rounded(.down))
        let slotText = ISO8601DateFormatter().string(from: slot)
        try await api.put(
            "/api/training/schedules/\(scheduleID)/", #"{"schedule_type": "once", "scheduled_datetime": "\#(slotText)"}"#, expect: .ok)
        var schedule: [String: Any] = [:]
        for _ in 0..<450 {
            schedule = try await api.get("/api/training/schedules/\(scheduleID)/").json()
            if (schedule["total_runs"] as? Int ?? 0) >= 2 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(schedule["total_runs"] as? Int == 2 && schedule["status"] as? String == "completed", "\(schedule)")
        let fired = (schedule["ledger"] as? [[String: Any]] ?? []).first { $0["trigger"] as? String == "timer" }
        #expect(fired?["slot_time"] as? String == slotText && fired?["outcome"] as? String == "started", "\(schedule)")
        let runs = try await api.get("/api/training-runs/?name=wizard-model").json()["training_runs"] as? [[String: Any]] ?? []
        let timed = runs.filter { $0["schedule_id"] as? String == scheduleID && $0["trigger"] as? String == "scheduled" }
        #expect(timed.count == 2, "the webhook's run and the timer's: \(runs)")
    }

    /// Issue 4's must-hold: deploy v1, query it through serving-router with a key and get real product
    /// ids; v2 as a 10/50/100 rollout; roll back to v1; a wrong or revoked key gets a bare 401; undeploy.
    func deployAndServe(slipway: String, gateway api: APITestClient, router: APITestClient, directory: URL) async throws {
        let gateway = api.baseURL
        // deploy-svc learns the model from registry-svc's events; then an API key can be made for it.
        var keyCreated = (status: Int32(1), output: "")
        for _ in 0..<50 {
            keyCreated = try run(slipway, ["keys", "create", "b2b-retrieval", "--name", "ci", "--gateway", gateway], in: directory)
            if keyCreated.status == 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(keyCreated.status == 0, "\(keyCreated.output)")
        let keyLines = keyCreated.output.split(separator: "\n")
        let key = String(keyLines.last ?? "")
        let keyID = String(keyLines.first?.split(separator: " ").dropFirst().first ?? "")
        let keys = try run(slipway, ["keys", "list", "b2b-retrieval", "--gateway", gateway], in: directory)
        #expect(keys.output.contains("active"), "\(keys.output)")

        let v1 = try run(slipway, ["deploy", "b2b-retrieval", "--version", "1", "--endpoint", "shop", "--gateway", gateway], in: directory)
        #expect(v1.status == 0, "\(v1.output)")
        #expect(v1.output.contains("v1 serves"), "\(v1.output)")

        func predict(_ key: String) async throws -> (Int, [String: Any], String) {
            let answer = try await router.post("/shop/recommend", #"{"customer_id": "C1", "top_k": 5}"#, headers: [.authorization: "Bearer \(key)"])
            return (answer.status.code, (try? answer.json()) ?? [:], answer.text)
        }
        func servedVersion() async throws -> String {
            let health = try await router.get("/shop/health", headers: [.authorization: "Bearer \(key)"])
            return "\((try? health.json())?["model_version"] ?? "")"
        }
        func waitForVersion(_ version: String, within: Duration) async throws -> Bool {
            let deadline = ContinuousClock.now.advanced(by: within)
            while ContinuousClock.now < deadline {
                if try await servedVersion() == version { return true }
                try await Task.sleep(for: .milliseconds(20))
            }
            return false
        }
        #expect(try await waitForVersion("1", within: .seconds(5)), "the router never served v1")
        let (status, answer, raw) = try await predict(key)
        #expect(status == 200, "\(raw)")
        let products =
            (answer["product_ids"] as? [String]) ?? ((answer["recommendations"] as? [[String: Any]])?.compactMap { $0["product_id"] as? String })
            ?? []
        #expect(products.count == 5, "\(raw)")

        // The registry shows what serves, from deploy-svc's events.
        var registered: [String: Any] = [:]
        for _ in 0..<50 {
            registered = try await api.get("/api/registered-models/b2b-retrieval/").json()
            if registered["is_deployed"] as? Bool == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(registered["is_deployed"] as? Bool == true && registered["deployed_version"] as? Int == 1, "\(registered)")

        let (wrong, _, wrongBody) = try await predict("not-a-key")
        #expect(wrong == 401)
        #expect(wrongBody.replacingOccurrences(of: " ", with: "") == #"{"error":"unauthorized"}"#, "\(wrongBody)")

        // Issue 12: an endpoint test of v1 — samples of its training data, through serving-router with testing-svc's own key.
        var tested = (status: Int32(1), output: "")
        for _ in 0..<50 {  // testing-svc learns the endpoint's version from deploy-svc's events
            tested = try run(slipway, ["test", "shop", "--samples", "20", "--gateway", gateway], in: directory)
            if tested.status == 0 || !(tested.output.contains("serves no version") || tested.output.contains("no endpoint")) { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(tested.status == 0 && tested.output.contains("Result: PASSED") && tested.output.contains("Requests Sent: 20"), "\(tested.output)")
        let history = try run(slipway, ["tests", "shop", "--gateway", gateway], in: directory)
        #expect(history.output.contains("\tv1\tpassed\tmanual"), "\(history.output)")
        let checks = try run(slipway, ["checks", "shop", "--every", "15m", "--gateway", gateway], in: directory)
        #expect(checks.status == 0 && checks.output.contains("every 15 min"), "\(checks.output)")
        let loaded = try run(slipway, ["loadtest", "shop", "--connections", "4", "--duration", "2s", "--gateway", gateway], in: directory)
        #expect(loaded.status == 0 && loaded.output.contains(": completed") && loaded.output.contains("Errors:") == false, "\(loaded.output)")
        var health = (status: Int32(1), output: "")
        let healthDeadline = ContinuousClock.now + .seconds(60)
        // metrics-svc learns the tests from testing-svc's events. The latest may be the manual test or the activation's
        // smoke test (smoke-shop-1), whichever ended last; both passed.
        while ContinuousClock.now < healthDeadline {
            health = try run(slipway, ["health", "shop", "--gateway", gateway], in: directory)
            if health.output.contains("last endpoint test: test-") || health.output.contains("last endpoint test: smoke-shop-1") { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(
            (health.output.contains("last endpoint test: test-") || health.output.contains("last endpoint test: smoke-shop-1"))
                && health.output.contains(") passed"), "\(health.output)")

        let v2 = try run(
            slipway,
            [
                "deploy", "b2b-retrieval", "--version", "2", "--endpoint", "shop", "--rollout", "10,50,100",
                "--step-seconds", "1", "--min-requests", "0", "--endpoint-test", "--gateway", gateway,
            ], in: directory)
        #expect(v2.status == 0, "\(v2.output)")
        #expect(v2.output.contains("v2 10%"), "\(v2.output)")
        // The first step waited for testing-svc's test of the new revision, which passed.
        let rolloutTests = try run(slipway, ["tests", "shop", "--gateway", gateway], in: directory)
        #expect(rolloutTests.output.contains("\tv2\tpassed\trollout"), "\(rolloutTests.output)")
        #expect(try await waitForVersion("2", within: .seconds(5)))

        let rollback = try run(slipway, ["rollback", "shop", "--to-version", "1", "--gateway", gateway], in: directory)
        #expect(rollback.status == 0, "\(rollback.output)")
        #expect(try await waitForVersion("1", within: .seconds(3)), "the rollback did not reach the router")
        // Who did it: the CLI's token is the admin's, and every deployment says so.
        let shop = try await api.get("/api/endpoints/shop", expect: .ok).json()
        let requesters = (shop["deployments"] as? [[String: Any]] ?? []).compactMap { $0["requested_by"] as? String }
        #expect(!requesters.isEmpty && requesters.allSatisfy { $0 == "admin" }, "\(requesters)")

        let revoke = try run(slipway, ["keys", "revoke", keyID, "--gateway", gateway], in: directory)
        #expect(revoke.status == 0, "\(revoke.output)")
        var revoked = 0
        for _ in 0..<150 where revoked != 401 {
            revoked = try await predict(key).0
            if revoked != 401 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(revoked == 401, "a revoked key still worked")

        let undeploy = try run(slipway, ["undeploy", "shop", "--gateway", gateway], in: directory)
        #expect(undeploy.status == 0, "\(undeploy.output)")
        let show = try run(slipway, ["endpoints", "show", "shop", "--gateway", gateway], in: directory)
        #expect(show.output.contains("not_serving"), "\(show.output)")

        // Feedback on a prediction, sent to the demo dataset: the next run on it (auto-deploy's, below) trains on it.
        let demoDataset = "demo-b2b-500c-200p-20000t-s42"
        var given = (status: Int32(1), output: "")
        for _ in 0..<50 {  // metrics-svc learns the endpoint from deploy-svc's events
            given = try run(
                slipway,
                ["feedback", "give", "shop", "--rating", "positive", "--customer", "C1", "--product", products.first ?? "", "--gateway", gateway],
                in: directory)
            if given.status == 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(given.status == 0, "\(given.output)")
        let feedbackID = String(given.output.split(separator: "\t").first ?? "")
        var sent = (status: Int32(1), output: "")
        for _ in 0..<50 {  // and the dataset from training-svc's
            sent = try run(slipway, ["feedback", "to-training", feedbackID, "--dataset", demoDataset, "--gateway", gateway], in: directory)
            if sent.status == 0 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(sent.status == 0, "\(sent.output)")
        var feedbackRows = 0
        for _ in 0..<50 where feedbackRows == 0 {
            feedbackRows = (try await api.get("/api/datasets/\(demoDataset)/feedback/").json()["feedback_rows"] as? [Any])?.count ?? 0
            if feedbackRows == 0 { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(feedbackRows == 1, "training-svc never saw the feedback sent to \(demoDataset)")

        // Auto-deploy: a run with deployment_config.enabled ends `deployed`, its version serving on the endpoint it named.
        let body = try await api.post(
            "/api/training-runs/",
            #"""
            {"name": "b2b-retrieval", "dataset_id": "\#(demoDataset)", "feature_config_id": "b2b-default",
             "model_config_id": "mf-64", "training_params": {"epochs": 2},
             "deployment_config": {"enabled": true, "service_name": "auto-shop", "preset": "development"}}
            """#, expect: .created
        ).json()
        let runID = (body["training_run"] as? [String: Any])?["id"] as? String ?? ""
        var runView: [String: Any] = [:]
        for _ in 0..<300 {
            runView = try await api.get("/api/training-runs/\(runID)/").json()
            if ["deployed", "deploy_failed", "failed", "not_blessed"].contains(runView["status"] as? String ?? "") { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(runView["status"] as? String == "deployed", "\(runView)")
        let runStatistics = try await api.get("/api/training-runs/\(runID)/statistics/", expect: .ok).json()
        #expect(runStatistics["feedback_rows"] as? Int == 1, "the run did not train on the feedback")
        #expect(runView["deployment_status"] as? String == "deployed")
        #expect((runView["deployed_endpoint_url"] as? String)?.hasSuffix("/auto-shop") == true, "\(runView)")
        let endpoint = try await api.get("/api/endpoints/auto-shop/").json()
        #expect(endpoint["status"] as? String == "serving", "\(endpoint)")

        // Issue 12: the rollout gate stops a faulty version. The auto-deployed version's bundle, spoiled on disk (its
        // product ids renamed, so every answer names products its training data never sold), rolled out to `shop`
        // with --endpoint-test: testing-svc's test of the new revision fails and deploy-svc rolls back at the first step.
        let autoVersion = ((endpoint["traffic"] as? [[String: Any]])?.first?["version"] as? Int) ?? 0
        let versionView = try await api.get("/api/registered-models/b2b-retrieval/versions/\(autoVersion)/").json()
        let idsFile = URL(fileURLWithPath: versionView["artifact_uri"] as? String ?? "").appendingPathComponent("candidate_ids.json")
        let ids = (try? JSONSerialization.jsonObject(with: Data(contentsOf: idsFile))) as? [String] ?? []
        #expect(!ids.isEmpty, "\(versionView)")
        try JSONSerialization.data(withJSONObject: ids.map { "UNSOLD-\($0)" }).write(to: idsFile)
        let v1Again = try run(slipway, ["deploy", "b2b-retrieval", "--version", "1", "--endpoint", "shop", "--gateway", gateway], in: directory)
        #expect(v1Again.status == 0, "\(v1Again.output)")
        let faulty = try run(
            slipway,
            [
                "deploy", "b2b-retrieval", "--version", "\(autoVersion)", "--endpoint", "shop", "--rollout", "10,50,100", "--step-seconds", "1",
                "--min-requests", "0", "--endpoint-test", "--gateway", gateway,
            ], in: directory)
        #expect(faulty.status != 0 && faulty.output.contains("rolled_back"), "\(faulty.output)")
        #expect(faulty.output.contains("ids_in_training_catalog"), "the rollback names the rule: \(faulty.output)")
        #expect(!faulty.output.contains("v\(autoVersion) 50%"), "the faulty version got beyond its first step: \(faulty.output)")
        let afterGate = try await api.get("/api/endpoints/shop/").json()
        let split = (afterGate["traffic"] as? [[String: Any]] ?? []).map { "v\($0["version"] ?? "?") \($0["percent"] ?? 0)%" }
        #expect(split == ["v1 100%"], "shop after the rollback: \(afterGate)")
        let shopEvents = try run(slipway, ["events", "show", "--service", "deploy", "--aggregate", "shop"], in: directory)
        #expect(shopEvents.output.contains("ROLLBACK_TRIGGER_TEST_FAILED"), "the rollback's trigger: \(shopEvents.output.suffix(3000))")
        let gateHistory = try run(slipway, ["tests", "shop", "--gateway", gateway], in: directory)
        #expect(gateHistory.output.contains("\tv\(autoVersion)\tfailed\trollout"), "\(gateHistory.output)")
        let shopUndeploy = try run(slipway, ["undeploy", "shop", "--gateway", gateway], in: directory)
        #expect(shopUndeploy.status == 0, "\(shopUndeploy.output)")
        let autoUndeploy = try run(slipway, ["undeploy", "auto-shop", "--gateway", gateway], in: directory)
        #expect(autoUndeploy.status == 0, "\(autoUndeploy.output)")
    }

    func run(_ executable: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]) throws -> (
        status: Int32, output: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString).out")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    func eventually(timeout: Duration, _ what: String, log: URL, _ condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        let tail = (try? String(contentsOf: log, encoding: .utf8))?.suffix(3000) ?? ""
        Issue.record("timed out waiting for: \(what)\n\(tail)")
        throw CancellationError()
    }
}
