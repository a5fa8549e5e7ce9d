import ArgumentParser
import Foundation
import SlipwayLocalRuntime
import Synchronization

/// `slipway bench replicas`: against `slipway up --replicas 2`, kills one replica of each domain service and a gateway
/// with SIGKILL in turn while a steady workload runs, then counts what was lost and what is there twice.
struct BenchReplicasCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicas",
        abstract:
            "Replicas killed -9 under load; prints RESULT commands_acknowledged=… commands_failed=… lost=… duplicates=… kills=… predictions=… predictions_failed=….",
        discussion: """
            Needs `slipway up --replicas 2` started from this directory (the processes are read from --data-dir's up.json) and
            a model with a version (with none, it trains a small demo version). Deploys it to --endpoint with a fresh API key;
            then, while a workload runs — a dataset (training-svc) and an API key (deploy-svc) a round, each with a name of
            its own, through the gateways as the CLI sends them, and predictions through serving-router — it kills one
            replica of each service in turn (the second and the first alternately, deploy-svc both, then a gateway),
            --pause seconds apart; the supervisor starts each again. Then it waits for every process to be ready and
            counts: lost (acknowledged with a 2xx and not there), duplicates (a name there twice), failed commands and
            predictions. `slipway events replay --verify` per service afterwards checks that no event was applied twice.
            """)

    @Option var model = "b2b-retrieval"
    @Option var endpoint = "bench-replicas"
    @Option(help: "serving-router's public URL.") var router = "http://127.0.0.1:8081"
    @Option(help: "Seconds between kills.") var pause = 4
    @Option(help: "The directory `slipway up` used.") var dataDir = ".slipway"
    @Option var gateway: String?

    /// What the workload saw.
    final class Tally: Sendable {
        let datasets = Mutex<[String]>([])
        let keys = Mutex<[String]>([])
        let failedCommands = Mutex<[String]>([])
        let predictions = Atomic<Int>(0)
        let failedPredictions = Mutex<[String]>([])
        let stop = Atomic<Bool>(false)
        var stopped: Bool { stop.load(ordering: .relaxed) }
    }

    /// Who is killed, in order: one replica of each domain service, deploy-svc's both (whichever leads its controller),
    /// and a gateway.
    static let victims = [
        "training-svc", "registry-svc-2", "schedule-svc", "deploy-svc-2", "testing-svc", "metrics-svc-2", "deploy-svc", "gateway-2",
    ]

    func run() async throws {
        let paths = SlipwayPaths(root: URL(fileURLWithPath: dataDir, isDirectory: true).standardizedFileURL)
        let names = Set(try UpState.read(from: paths.stateFile).processes.map(\.name))
        guard names.isSuperset(of: Self.victims) else {
            throw ValidationErrorMessage("start the platform with `slipway up --replicas 2` (from \(paths.root.path)) first")
        }
        let api = try APIClient(gateway: gateway)
        let version = try await BenchVersions.ensure(api, model: model, count: 1, gateway: gateway)[0]
        let keyAnswer = try await api.expect(.POST, "/api/models/\(model)/api-keys", ["name": "bench replicas"])
        let key = keyAnswer["key"] as? String ?? ""
        let deployment = try await api.expect(
            .POST, "/api/models/\(model)/deployments", ["version": version, "endpoint": endpoint, "force": true, "reason": "bench replicas"])
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
        let run = "\(getpid())"

        let tally = Tally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await Self.commands(api, model: model, run: run, tally: tally) }
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
        var lost: [String] = []
        let datasets = tally.datasets.withLock { $0 }
        for name in datasets where try await api.call(.GET, "/api/datasets/\(name)").status != 200 { lost.append(name) }
        let listed = ((try await api.expect(.GET, "/api/models/\(model)/api-keys"))["api_keys"] as? [[String: Any]] ?? []).compactMap {
            $0["name"] as? String
        }
        let keys = tally.keys.withLock { $0 }
        lost += keys.filter { !listed.contains($0) }
        let prefix = "bench-replicas-\(run)-"
        let duplicates = Dictionary(grouping: listed.filter { $0.hasPrefix(prefix) }, by: { $0 }).filter { $0.value.count > 1 }.count
        let failedCommands = tally.failedCommands.withLock { $0 }
        let failedPredictions = tally.failedPredictions.withLock { $0 }
        for failure in (failedCommands + failedPredictions).prefix(10) { say("failed: \(failure)") }
        if !lost.isEmpty { say("lost: \(lost.joined(separator: ", "))") }

        _ = try? await api.call(.POST, "/api/endpoints/\(endpoint)/undeploy", ["reason": "bench done"])
        print(
            "RESULT commands_acknowledged=\(datasets.count + keys.count) commands_failed=\(failedCommands.count) lost=\(lost.count) "
                + "duplicates=\(duplicates) kills=\(Self.victims.count) predictions=\(tally.predictions.load(ordering: .relaxed)) "
                + "predictions_failed=\(failedPredictions.count)")
    }

    /// A dataset and an API key a round, each named `bench-replicas-<pid>-<round>`, until stopped.
    static func commands(_ api: APIClient, model: String, run: String, tally: Tally) async throws {
        var round = 0
        while !tally.stopped {
            round += 1
            let name = "bench-replicas-\(run)-\(round)"
            for (path, body) in [
                ("/api/datasets", ["name": name, "transactions": "/nowhere/transactions.csv"]), ("/api/models/\(model)/api-keys", ["name": name]),
            ] as [(String, [String: Any])] {
                do {
                    let (status, json) = try await api.call(.POST, path, body)
                    if (200..<300).contains(status) {
                        if path == "/api/datasets" { tally.datasets.withLock { $0.append(name) } } else { tally.keys.withLock { $0.append(name) } }
                    } else {
                        tally.failedCommands.withLock { $0.append("\(path) \(name): \(status) \(json)") }
                    }
                } catch {
                    tally.failedCommands.withLock { $0.append("\(path) \(name): \(error)") }
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
