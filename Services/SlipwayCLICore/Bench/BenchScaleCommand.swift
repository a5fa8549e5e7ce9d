import ArgumentParser
import Foundation
import SlipwayLocalRuntime

/// `slipway bench scale`: against a running platform (`slipway up`), measures revisions scaling on the local target —
/// throughput with one and with two instances, the time from sustained overload to a second instance serving, and
/// the cold start of a revision scaled to zero.
struct BenchScaleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract:
            "Instances under wrk load through serving-router; prints RESULT rps_1=… rps_2=… scale_up_s=… cold_start_ms=… failed=….",
        discussion: """
            Needs `slipway up` and a model with a version (with none, it trains a small demo version). Deploys to
            --endpoint (undeployed at the end) with a fresh API key (revoked at the end):
              1. one instance (min = max = 1): wrk throughput through the router → rps_1;
              2. two instances (min = max = 2), balanced by requests outstanding → rps_2;
              3. one to two instances, then wrk overload: seconds until the router has sent requests to a second
                 instance → scale_up_s;
              4. the development preset (min 0): once idle it scales to zero, and once its instance has drained and
                 stopped, one request's time to answer (held by the router while the instance starts) → cold_start_ms;
                 deploy-svc's start-up time of the instance → instance_start_ms.
            The idle period before scaling to zero is deploy-svc's --scale-to-zero-after-seconds (900 s by default): for
            phase 4, start the platform with `SLIPWAY_SCALE_TO_ZERO_AFTER_SECONDS=5 slipway up` (the bench waits at most
            --idle-wait seconds and skips the phase otherwise). On two cores expect little gain from a second instance:
            the router, wrk and the model-servers share the same two.
            With --kills (and `slipway up --replicas 2`), 5. is `slipway bench replicas`, its figures appended to the same
            RESULT line (lost=, duplicates=, events=, …).
            """)

    @Option var model = "b2b-retrieval"
    @Option var endpoint = "bench-scale"
    @Option(help: "serving-router's public URL.") var router = "http://127.0.0.1:8081"
    @Option(help: "serving-router's admin URL (its /internal/load shows which instances were sent requests).")
    var routerAdmin = "http://127.0.0.1:8082"
    @Option(help: "wrk connections.") var connections = 32
    @Option(help: "wrk threads.") var threads = 2
    @Option(help: "Seconds of each throughput phase.") var duration = 10
    @Option(help: "Seconds to wait for an idle revision to scale to zero.") var idleWait = 120
    @Flag(help: "Then kill replicas -9 under load, as `slipway bench replicas` does (needs `slipway up --replicas 2`).") var kills = false
    @Option(help: "The directory `slipway up` used (for --kills).") var dataDir = ".slipway"
    @Option var gateway: String?

    func run() async throws {
        guard let wrk = findExecutable(named: "wrk") else { throw ValidationErrorMessage("wrk not found: scripts/setup installs it") }
        let api = try APIClient(gateway: gateway)
        let version = try await BenchVersions.ensure(api, model: model, count: 1, gateway: gateway)[0]
        if (try await api.call(.GET, "/api/endpoints/\(endpoint)")).status == 200 {
            _ = try? await api.call(.POST, "/api/endpoints/\(endpoint)/undeploy", ["reason": "bench scale"])
        }
        let keyAnswer = try await api.expect(.POST, "/api/models/\(model)/api-keys", ["name": "bench scale"])
        let key = keyAnswer["key"] as? String ?? ""
        let keyID = (keyAnswer["api_key"] as? [String: Any])?["id"] as? String ?? ""
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-bench-scale-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let script = try Wrk.script(work, "routed.lua", path: "/\(endpoint)/recommend", key: key)
        var failed = 0
        func throughput(_ label: String) throws -> Double {
            _ = try Wrk.run(wrk, ["-t1", "-c4", "-d2s", "-s", script.path, router])  // warm-up
            let output = try Wrk.run(wrk, ["-t\(threads)", "-c\(connections)", "-d\(duration)s", "--latency", "-s", script.path, router])
            let result = WrkResult(output)
            failed += result.non2xx + WrkResult.socketErrors(output)
            say(String(format: "%@: %.0f requests/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d", label, result.rps, result.p50, result.p99, result.non2xx))
            return result.rps
        }

        // 1 and 2: fixed instances.
        var deployment = try await deploy(api, version: version, preset: "custom", min: 1, max: 1)
        try await waitForInstances(api, deployment: deployment, count: 1, key: key)
        let rps1 = try throughput("1 instance")
        deployment = try await deploy(api, version: version, preset: "custom", min: 2, max: 2)
        try await waitForInstances(api, deployment: deployment, count: 2, key: key)
        let rps2 = try throughput("2 instances")

        // 3: overload on one instance that may have two.
        deployment = try await deploy(api, version: version, preset: "custom", min: 1, max: 2)
        let revision = try await waitForInstances(api, deployment: deployment, count: 1, key: key)
        let overload = try Wrk.start(wrk, ["-t\(threads)", "-c\(connections)", "-d120s", "--latency", "-s", script.path, router])
        let began = ContinuousClock.now
        var scaleUp: Duration?
        while ContinuousClock.now - began < .seconds(90) {
            if try await instancesSent(revision: revision) >= 2 {
                scaleUp = ContinuousClock.now - began
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        overload.interrupt()
        let overloadOutput = overload.output()
        failed += WrkResult(overloadOutput).non2xx + WrkResult.socketErrors(overloadOutput)
        guard let scaleUp else { throw ValidationErrorMessage("no second instance served within 90 s of overload") }
        let scaleUpSeconds = Self.seconds(scaleUp)
        say(String(format: "overload → a second instance serving after %.1f s", scaleUpSeconds))

        // 4: from zero.
        deployment = try await deploy(api, version: version, preset: "development", min: nil, max: nil)
        let coldRevision = try await waitForInstances(api, deployment: deployment, count: 1, key: key)
        say("waiting up to \(idleWait) s for the idle revision to scale to zero")
        var coldStartMs: Double?
        var instanceStartMs: Int?
        if try await waitForZero(api, deployment: deployment) {
            // The instance drains for 5 s before it stops (a request meanwhile finds it warm); measure from cold.
            try await Task.sleep(for: .seconds(7))
            let sent = ContinuousClock.now
            let (status, _) = try await httpCall(
                .POST, "\(router)/\(endpoint)/recommend", body: Array(#"{"customer_id": "C1", "top_k": 10}"#.utf8),
                headers: ["Authorization": "Bearer \(key)"], timeout: .seconds(90))
            if status != 200 { failed += 1 }
            coldStartMs = Self.seconds(ContinuousClock.now - sent) * 1000
            let history = try await api.expect(.GET, "/api/endpoints/\(endpoint)/scaling?limit=20")
            let wake = (history["changes"] as? [[String: Any]] ?? []).first {
                $0["revision_id"] as? String == coldRevision && $0["cause"] as? String == "wake"
            }
            instanceStartMs = wake?["startup_ms"] as? Int
            say(
                String(
                    format: "scaled to zero, then one request: answered %d after %.0f ms (the instance's own start-up: %@ ms)", Int(status),
                    coldStartMs ?? 0, instanceStartMs.map { "\($0)" } ?? "?"))
        } else {
            say(
                "the revision did not scale to zero within \(idleWait) s: start the platform with SLIPWAY_SCALE_TO_ZERO_AFTER_SECONDS=5 to measure it"
            )
        }

        _ = try? await api.call(.POST, "/api/endpoints/\(endpoint)/undeploy", ["reason": "bench done"])
        _ = try? await api.call(.DELETE, "/api/api-keys/\(keyID)", ["reason": "bench done"])
        var result = String(
            format: "RESULT rps_1=%.0f rps_2=%.0f scale_up_s=%.1f cold_start_ms=%@ instance_start_ms=%@ failed=%d", rps1, rps2, scaleUpSeconds,
            coldStartMs.map { String(format: "%.0f", $0) } ?? "NA", instanceStartMs.map { "\($0)" } ?? "NA", failed)
        if kills {
            say("5. replicas killed -9 under load (`slipway bench replicas`)")
            let replicas = try BenchReplicasCommand.parse(
                ["--model", model, "--router", router, "--data-dir", dataDir] + (gateway.map { ["--gateway", $0] } ?? []))
            result += (try await replicas.measure()).map { " \($0.0)=\($0.1)" }.joined()
        }
        print(result)
    }

    /// Deploys the version again onto the endpoint with these instance bounds; returns the deployment's id once it serves.
    func deploy(_ api: APIClient, version: Int, preset: String, min: Int?, max: Int?) async throws -> String {
        var body: [String: Any] = ["version": version, "endpoint": endpoint, "force": true, "preset": preset, "reason": "bench scale"]
        if let min { body["min_instances"] = min }
        if let max { body["max_instances"] = max }
        let deployment = try await api.deploy(model, body)
        let id = deployment["id"] as? String ?? ""
        say(try await waitForOutcome(api, endpoint: endpoint, deployment: id, timeout: .seconds(300)))
        return id
    }

    /// Waits until the deployment's revision runs `count` instances and the router answers through it; returns the
    /// revision's id.
    @discardableResult
    func waitForInstances(_ api: APIClient, deployment: String, count: Int, key: String) async throws -> String {
        let deadline = ContinuousClock.now.advanced(by: .seconds(120))
        while ContinuousClock.now < deadline {
            let view = try await api.expect(.GET, "/api/endpoints/\(endpoint)")
            let revision = (view["deployments"] as? [[String: Any]])?.first { $0["id"] as? String == deployment }?["revision"] as? [String: Any]
            if let id = revision?["id"] as? String, (revision?["instances"] as? [String])?.count == count {
                let (status, _) = try await httpCall(
                    .POST, "\(router)/\(endpoint)/recommend", body: Array(#"{"customer_id": "C1", "top_k": 10}"#.utf8),
                    headers: ["Authorization": "Bearer \(key)"], timeout: .seconds(30))
                if status == 200 { return id }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ValidationErrorMessage("deployment \(deployment) did not run \(count) instance(s) within 120 s")
    }

    /// How many of the revision's instances the router has sent requests to.
    func instancesSent(revision: String) async throws -> Int {
        let (status, bytes) = try await httpCall(.GET, "\(routerAdmin)/internal/load", body: nil, timeout: .seconds(2))
        guard status == 200, let json = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return 0 }
        let entry = (json["revisions"] as? [[String: Any]])?.first { $0["revision_id"] as? String == revision }
        return (entry?["instances"] as? [[String: Any]] ?? []).filter { ($0["sent"] as? Int ?? 0) > 0 }.count
    }

    /// Waits (at most --idle-wait seconds) for the deployment's revision to have no instance.
    func waitForZero(_ api: APIClient, deployment: String) async throws -> Bool {
        let deadline = ContinuousClock.now.advanced(by: .seconds(idleWait))
        while ContinuousClock.now < deadline {
            let view = try await api.expect(.GET, "/api/endpoints/\(endpoint)")
            let revision = (view["deployments"] as? [[String: Any]])?.first { $0["id"] as? String == deployment }?["revision"] as? [String: Any]
            if (revision?["instances"] as? [String])?.isEmpty == true { return true }
            try await Task.sleep(for: .milliseconds(500))
        }
        return false
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
