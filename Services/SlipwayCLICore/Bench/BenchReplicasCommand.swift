import ArgumentParser
import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayLocalRuntime
import SlipwayPlatform
import Synchronization

/// `slipway bench replicas`: against `slipway up --replicas 2`, kills one replica of each domain service and a gateway
/// with SIGKILL in turn while a steady workload of the whole lifecycle runs, then counts what was lost and what is
/// there twice.
struct BenchReplicasCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicas",
        abstract: """
            Replicas killed -9 under load; prints RESULT commands_acknowledged=… commands_failed=… events=… lost=… duplicates=… kills=… \
            runs_registered=… deployments=… rollbacks=… deployments_failed=… slots=… slots_fired_once=… predictions=… predictions_failed=….
            """,
        discussion: """
            Needs `slipway up --replicas 2` started from this directory (the processes are read from --data-dir's up.json) and
            a model with a version (with none, it trains a small demo version). Deploys it to --endpoint with a fresh API key.
            Setup: external runs of a model of its own, completed through their webhooks, give two versions; the first serves
            --endpoint-rollbacks; one `once` schedule per kill is made, their slots --pause seconds apart through the kills.
            The workload, through the gateways as the CLI sends it, each name its own:
              - a dataset (training-svc) and an API key (deploy-svc) a round;
              - an external run created, then completed through its webhook (the registry registers its version);
              - the second version deployed to --endpoint-rollbacks, and once it serves, rolled back;
              - a prediction every 20 ms through serving-router.
            Meanwhile it kills one replica of each service in turn (the second and the first alternately, deploy-svc both,
            then a gateway), --pause seconds apart; the supervisor starts each again. Then it waits for every process to be
            ready and every slot to come, and counts. lost: acknowledged with a 2xx and not there (a dataset, a key, a run;
            a completed run without its version; a deployment; a rolled-back deployment not rolled back) and slots that never
            fired. duplicates: a key's name twice, a run registered twice, a slot fired twice (in schedule-svc's ledger or as
            training-svc runs). events: how many events the six services' logs gained meanwhile. `slipway events replay --verify`
            per service afterwards checks that no event was applied twice.
            """)

    @Option var model = "b2b-retrieval"
    @Option var endpoint = "bench-replicas"
    @Option(
        help:
            "The endpoint deployed and rolled back over and over (default: bench-replicas-<pid>-rollbacks: an endpoint serves one model, and each run's model is its own)."
    )
    var endpointRollbacks: String?
    @Option(help: "serving-router's public URL.") var router = "http://127.0.0.1:8081"
    @Option(help: "Seconds between kills.") var pause = 4
    @Option(help: "The directory `slipway up` used.") var dataDir = ".slipway"
    @Option(help: "Where the external runs' model bundle is written.") var workDir = FileManager.default.temporaryDirectory
        .appendingPathComponent("slipway-bench-replicas").path
    @Option var gateway: String?

    /// What the workload saw.
    final class Tally: Sendable {
        /// Every command acknowledged with a 2xx, by what must be there afterwards.
        struct Acknowledged {
            var datasets: [String] = []
            var keys: [String] = []
            /// Runs created (external, submitted).
            var runs: [String] = []
            /// Runs whose `completed` webhook was acknowledged: each must end completed with one version.
            var completedRuns: [String] = []
            var deployments: [String] = []
            /// Deployments an acknowledged instant rollback moved the traffic away from.
            var rolledBack: [String] = []

            var total: Int { [datasets, keys, runs, completedRuns, deployments, rolledBack].map(\.count).reduce(0, +) }
        }

        let acknowledged = Mutex(Acknowledged())
        let failedCommands = Mutex<[String]>([])
        let predictions = Atomic<Int>(0)
        let failedPredictions = Mutex<[String]>([])
        let stop = Atomic<Bool>(false)
        var stopped: Bool { stop.load(ordering: .relaxed) }

        func acknowledge(_ kind: WritableKeyPath<Acknowledged, [String]> & Sendable, _ name: String) {
            acknowledged.withLock { $0[keyPath: kind].append(name) }
        }
        func failed(_ what: String) { failedCommands.withLock { $0.append(what) } }
        var seen: Acknowledged { acknowledged.withLock { $0 } }
    }

    /// Who is killed, in order: one replica of each domain service, deploy-svc's both (whichever leads its controller),
    /// and a gateway.
    static let victims = [
        "training-svc", "registry-svc-2", "schedule-svc", "deploy-svc-2", "testing-svc", "metrics-svc-2", "deploy-svc", "gateway-2",
    ]

    func run() async throws {
        print("RESULT " + (try await measure()).map { "\($0.0)=\($0.1)" }.joined(separator: " "))
    }

    /// The whole bench; its figures, in the RESULT line's order (`slipway bench scale --kills` appends them to its own).
    func measure() async throws -> [(String, String)] {
        let paths = SlipwayPaths(root: URL(fileURLWithPath: dataDir, isDirectory: true).standardizedFileURL)
        let names = Set(try UpState.read(from: paths.stateFile).processes.map(\.name))
        guard names.isSuperset(of: Self.victims) else {
            throw ValidationErrorMessage("start the platform with `slipway up --replicas 2` (from \(paths.root.path)) first")
        }
        let api = try APIClient(gateway: gateway)
        let version = try await BenchVersions.ensure(api, model: model, count: 1, gateway: gateway)[0]
        let keyAnswer = try await api.expect(.POST, "/api/models/\(model)/api-keys", ["name": "bench replicas"])
        let key = keyAnswer["key"] as? String ?? ""
        let deployment = try await api.deploy(model, ["version": version, "endpoint": endpoint, "force": true, "reason": "bench replicas"])
        say(try await waitForOutcome(api, endpoint: endpoint, deployment: deployment["id"] as? String ?? "", timeout: .seconds(300)))
        // The router learns the new key and the endpoint from deploy-svc's events: the workload starts once it answers.
        let ready = ContinuousClock.now.advanced(by: .seconds(60))
        while try await httpCall(
            .POST, "\(router)/\(endpoint)/recommend", body: Array(#"{"customer_id": "C1", "top_k": 5}"#.utf8),
            headers: ["Authorization": "Bearer \(key)"], timeout: .seconds(10)
        ).0 != 200 {
            guard ContinuousClock.now < ready else { throw ValidationErrorMessage("serving-router did not answer for \(endpoint) within 60 s") }
            try await Task.sleep(for: .milliseconds(100))
        }

        let prefix = "bench-replicas-\(getpid())"
        let lifecycle = try await Lifecycle.prepare(
            api, runModel: "\(prefix)-runs", endpoint: endpointRollbacks ?? "\(prefix)-rollbacks", workDir: URL(fileURLWithPath: workDir))
        let eventsBefore = try await Self.eventCount()
        // One `once` schedule a kill, the first slot 6 s after the workload starts (the first kill comes at 2 s).
        let firstSlot = Date().addingTimeInterval(6).timeIntervalSince1970.rounded(.up)
        var slots: [Lifecycle.Slot] = []
        for index in Self.victims.indices {
            slots.append(
                try await lifecycle.schedule(model: "\(prefix)-slot-\(index)", at: Date(timeIntervalSince1970: firstSlot + Double(index * pause))))
        }
        say("\(slots.count) once schedules, \(pause) s apart from \(Date(timeIntervalSince1970: firstSlot))")

        let tally = Tally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await Self.commands(api, model: model, prefix: prefix, tally: tally) }
            group.addTask { try await lifecycle.runs(tally: tally) }
            group.addTask { try await lifecycle.deployAndRollBack(tally: tally) }
            group.addTask { [router, endpoint] in try await Self.predictions(router: router, endpoint: endpoint, key: key, tally: tally) }
            try await Task.sleep(for: .seconds(2))
            for victim in Self.victims {
                guard let pid = try UpState.read(from: paths.stateFile).processes.first(where: { $0.name == victim })?.pid else {
                    throw ValidationErrorMessage("\(victim) is not running")
                }
                say("kill -9 \(victim) (pid \(pid))")
                kill(pid, SIGKILL)
                try await Task.sleep(for: .seconds(pause))
            }
            tally.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }

        let deadline = ContinuousClock.now.advanced(by: .seconds(120))
        while try await StatusReport.load(paths: paths).exitCode != 0 {
            guard ContinuousClock.now < deadline else { throw ValidationErrorMessage("not every process was ready again within 120 s") }
            try await Task.sleep(for: .milliseconds(500))
        }

        var count = Count()
        let seen = tally.seen
        for name in seen.datasets where try await api.call(.GET, "/api/datasets/\(name)").status != 200 { count.lost("dataset \(name)") }
        let listed = ((try await api.expect(.GET, "/api/models/\(model)/api-keys"))["api_keys"] as? [[String: Any]] ?? []).compactMap {
            $0["name"] as? String
        }
        for name in seen.keys where !listed.contains(name) { count.lost("API key \(name)") }
        for (name, copies) in Dictionary(grouping: listed.filter { $0.hasPrefix(prefix) }, by: { $0 }) where copies.count > 1 {
            count.duplicate("API key \(name) \(copies.count) times")
        }
        try await lifecycle.count(seen, into: &count)
        let firedOnce = try await lifecycle.countSlots(slots, into: &count)

        let failedCommands = tally.failedCommands.withLock { $0 }
        let failedPredictions = tally.failedPredictions.withLock { $0 }
        for failure in (failedCommands + failedPredictions).prefix(10) { say("failed: \(failure)") }
        for problem in count.problems { say(problem) }

        let events = try await Self.eventCount() - eventsBefore
        _ = try? await api.call(.POST, "/api/endpoints/\(endpoint)/undeploy", ["reason": "bench done"])
        _ = try? await api.call(.POST, "/api/endpoints/\(lifecycle.endpoint)/undeploy", ["reason": "bench done"])
        return [
            ("commands_acknowledged", seen.total), ("commands_failed", failedCommands.count), ("events", events), ("lost", count.lost),
            ("duplicates", count.duplicates), ("kills", Self.victims.count), ("runs_registered", count.registered),
            ("deployments", seen.deployments.count), ("rollbacks", seen.rolledBack.count), ("deployments_failed", count.failedDeployments),
            ("slots", slots.count), ("slots_fired_once", firedOnce), ("predictions", tally.predictions.load(ordering: .relaxed)),
            ("predictions_failed", failedPredictions.count),
        ].map { ($0.0, "\($0.1)") }
    }

    /// How many events the domain services' logs hold together, read page by page from each one's feed (any replica:
    /// they share the store).
    static func eventCount() async throws -> Int {
        var total = 0
        for service in ServiceDirectory.domainServices.map(\.rawValue) {
            let replicas = PeerAddresses(try Endpoints().serviceURLs(service, override: nil))
            var after: Int64 = 0
            while true {
                let (status, bytes) = try await httpCall(
                    .GET, replicas, "/internal/events?after=\(after)&limit=\(EventFeedFormat.maxLimit)", body: nil)
                guard status == 200 else { throw ValidationErrorMessage("\(service)-svc's event feed answered \(status)") }
                let batch = try EventEnvelopeBatch(serializedBytes: bytes)
                total += batch.events.count
                after = batch.lastPosition
                if !batch.hasMore { break }
            }
        }
        return total
    }

    /// What the count found, each problem named.
    struct Count {
        var lost = 0
        var duplicates = 0
        var registered = 0
        var failedDeployments = 0
        var problems: [String] = []

        mutating func lost(_ what: String) {
            lost += 1
            problems.append("lost: \(what)")
        }

        mutating func duplicate(_ what: String) {
            duplicates += 1
            problems.append("twice: \(what)")
        }
    }

    /// A dataset and an API key a round, each named `<prefix>-<round>`, until stopped.
    static func commands(_ api: APIClient, model: String, prefix: String, tally: Tally) async throws {
        var round = 0
        while !tally.stopped {
            round += 1
            let name = "\(prefix)-\(round)"
            for (path, body, kind) in [
                ("/api/datasets", ["name": name, "transactions": "/nowhere/transactions.csv"], \.datasets),
                ("/api/models/\(model)/api-keys", ["name": name], \.keys),
            ] as [(String, [String: Any], WritableKeyPath<Tally.Acknowledged, [String]> & Sendable)] {
                do {
                    let (status, json) = try await api.call(.POST, path, body)
                    if (200..<300).contains(status) {
                        tally.acknowledge(kind, name)
                    } else {
                        tally.failed("\(path) \(name): \(status) \(json)")
                    }
                } catch {
                    tally.failed("\(path) \(name): \(error)")
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// One prediction every 20 ms through serving-router, until stopped.
    static func predictions(router: String, endpoint: String, key: String, tally: Tally) async throws {
        while !tally.stopped {
            do {
                let (status, body) = try await httpCall(
                    .POST, "\(router)/\(endpoint)/recommend", body: Array(#"{"customer_id": "C1", "top_k": 5}"#.utf8),
                    headers: ["Authorization": "Bearer \(key)"], timeout: .seconds(10))
                if status == 200 {
                    tally.predictions.add(1, ordering: .relaxed)
                } else {
                    tally.failedPredictions.withLock { $0.append("\(status) \(String(decoding: body.prefix(200), as: UTF8.self))") }
                }
            } catch {
                tally.failedPredictions.withLock { $0.append("\(error)") }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
