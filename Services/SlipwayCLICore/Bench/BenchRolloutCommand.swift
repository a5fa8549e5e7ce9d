import ArgumentParser
import Foundation
import SlipwayLocalRuntime

/// `slipway bench rollout`: against a running platform (`slipway up`), measures what serving-router adds
/// to a prediction, its throughput, and what users see during a gradual deploy and a rollback under
/// continuous load.
struct BenchRolloutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract:
            "Deploy, roll out and roll back under wrk load through serving-router; prints RESULT rps=… router_overhead_p50_ms=… rollback_visible_ms=… non2xx=….",
        discussion: """
            Needs `slipway up` and a model with at least two versions; with fewer, it first trains small demo
            versions (`slipway train --demo` with 20,000 transactions). Uses the endpoint --endpoint (undeployed
            and redeployed by the bench) and a fresh API key, revoked at the end.
            Phases: v1 immediately; router overhead = wrk p50 through the router minus wrk p50 straight to the
            revision (1 connection, so neither queues); throughput through the router (--connections); then
            under continuous load: v2 as a 10/50/100 rollout, and a rollback to v1, timed from the rollback
            command's response until the router has answered from v1 20 times in a row.
            """)

    @Option var model = "b2b-retrieval"
    @Option var endpoint = "bench-rollout"
    @Option(help: "serving-router's public URL.") var router = "http://127.0.0.1:8081"
    @Option(help: "wrk connections for the throughput and rollout phases.") var connections = 32
    @Option(help: "wrk threads.") var threads = 2
    @Option(help: "Seconds of each measured wrk phase.") var duration = 10
    @Option(help: "Seconds per rollout step.") var stepSeconds = 3
    @Option var gateway: String?

    func run() async throws {
        guard let wrk = findExecutable(named: "wrk") else { throw ValidationErrorMessage("wrk not found: scripts/setup installs it") }
        let api = try APIClient(gateway: gateway)
        let known = try await BenchVersions.ensure(api, model: model, count: 2, gateway: gateway)
        let (v1, v2) = (known[0], known[1])
        say("versions: v\(v1) and v\(v2) of \(model)")

        // A clean endpoint serving v1, and a key for it.
        if (try await api.call(.GET, "/api/endpoints/\(endpoint)")).status == 200 {
            _ = try? await api.call(.POST, "/api/endpoints/\(endpoint)/undeploy", ["reason": "bench rollout"])
        }
        let keyAnswer = try await api.expect(.POST, "/api/models/\(model)/api-keys", ["name": "bench rollout"])
        let key = keyAnswer["key"] as? String ?? ""
        let keyID = (keyAnswer["api_key"] as? [String: Any])?["id"] as? String ?? ""
        defer { Task { _ = try? await api.call(.DELETE, "/api/api-keys/\(keyID)", ["reason": "bench done"]) } }
        try await deploy(api, version: v1, steps: nil)
        let view = try await api.expect(.GET, "/api/endpoints/\(endpoint)")
        let active = (view["deployments"] as? [[String: Any]])?.first { $0["status"] as? String == "active" }
        guard let revisionAddress = (active?["revision"] as? [String: Any])?["address"] as? String else {
            throw ValidationErrorMessage("the endpoint has no serving revision address")
        }
        try await waitForRouter(key: key, version: v1, consecutive: 5)

        let work = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-bench-rollout-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let direct = try Wrk.script(work, "direct.lua", path: "/recommend", key: nil)
        let routed = try Wrk.script(work, "routed.lua", path: "/\(endpoint)/recommend", key: key)

        // Router overhead: one connection, so the difference is the router's own work, not queueing.
        _ = try Wrk.run(wrk, ["-t1", "-c4", "-d2s", "-s", routed.path, router])  // warm-up (connections, caches)
        let directResult = WrkResult(try Wrk.run(wrk, ["-t1", "-c1", "-d\(duration)s", "--latency", "-s", direct.path, revisionAddress]))
        let routedResult = WrkResult(try Wrk.run(wrk, ["-t1", "-c1", "-d\(duration)s", "--latency", "-s", routed.path, router]))
        let overhead = routedResult.p50 - directResult.p50
        say(
            String(
                format: "1 connection: direct p50 %.3f ms, through the router p50 %.3f ms → router overhead p50 %.3f ms",
                directResult.p50, routedResult.p50, overhead))

        // Throughput through the router.
        let load = WrkResult(try Wrk.run(wrk, ["-t\(threads)", "-c\(connections)", "-d\(duration)s", "--latency", "-s", routed.path, router]))
        say(
            String(
                format: "%d connections through the router: %.0f requests/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d",
                connections, load.rps, load.p50, load.p99, load.non2xx))

        // Continuous load during a gradual deploy of v2 and a rollback to v1.
        let rolloutSeconds = 3 * stepSeconds + 40
        let background = try Wrk.start(wrk, ["-t\(threads)", "-c\(connections)", "-d\(rolloutSeconds)s", "--latency", "-s", routed.path, router])
        try await Task.sleep(for: .seconds(1))
        let deployStart = ContinuousClock.now
        try await deploy(api, version: v2, steps: [10, 50, 100])
        let deploySeconds = Double((ContinuousClock.now - deployStart).components.seconds)
        try await waitForRouter(key: key, version: v2, consecutive: 5)
        try await Task.sleep(for: .seconds(1))
        _ = try await api.expect(.POST, "/api/endpoints/\(endpoint)/rollback", ["to_version": v1, "reason": "bench rollout"])
        let answered = ContinuousClock.now
        let visible = try await waitForRouter(key: key, version: v1, consecutive: 20)
        let visibleMs = Double((visible - answered).components.attoseconds) / 1e15 + Double((visible - answered).components.seconds) * 1000
        say(String(format: "v2 rolled out (10/50/100) in %.0f s; rollback visible through the router after %.0f ms", deploySeconds, visibleMs))
        try await Task.sleep(for: .seconds(2))
        background.interrupt()  // wrk prints its summary on SIGINT
        let duringOutput = background.output()
        let during = WrkResult(duringOutput)
        say(
            String(
                format: "under load during deploy + rollback: %.0f requests/s, non-2xx %d, socket errors %d", during.rps, during.non2xx,
                WrkResult.socketErrors(duringOutput)))

        _ = try? await api.call(.POST, "/api/endpoints/\(endpoint)/undeploy", ["reason": "bench done"])
        print(
            String(
                format: "RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f router_overhead_p50_ms=%.3f rollback_visible_ms=%.0f non2xx=%d socket_errors=%d",
                load.rps, load.p50, load.p99, overhead, visibleMs, during.non2xx + load.non2xx, WrkResult.socketErrors(duringOutput)))
    }

    func deploy(_ api: APIClient, version: Int, steps: [Int]?) async throws {
        var body: [String: Any] = ["version": version, "endpoint": endpoint, "force": true, "preset": "development", "reason": "bench rollout"]
        if let steps {
            body["strategy"] = "gradual"
            body["steps"] = steps
            body["step_seconds"] = stepSeconds
        }
        let deployment = try await api.deploy(model, body)
        say(try await waitForOutcome(api, endpoint: endpoint, deployment: deployment["id"] as? String ?? "", timeout: .seconds(300)))
    }

    /// Polls the router's `/health` for the endpoint until `consecutive` answers in a row came from
    /// `version`; returns when the first of them was sent.
    @discardableResult
    func waitForRouter(key: String, version: Int, consecutive: Int) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        var streakStart: ContinuousClock.Instant?
        var streak = 0
        while ContinuousClock.now < deadline {
            let sent = ContinuousClock.now
            let (status, bytes) = try await httpCall(
                .GET, "\(router)/\(endpoint)/health", body: nil, headers: ["Authorization": "Bearer \(key)"],
                timeout: .seconds(2))
            let json = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
            if status == 200, "\(json["model_version"] ?? "")" == "\(version)" {
                if streak == 0 { streakStart = sent }
                streak += 1
                if streak >= consecutive { return streakStart! }
            } else {
                streak = 0
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw ValidationErrorMessage("the router did not serve v\(version) of \(endpoint) within 30 s")
    }
}
