import ArgumentParser
import Foundation
import SlipwayLoadGenerator
import SlipwayLocalRuntime

/// `slipway bench loadtest`: is testing-svc's load generator fast enough to measure anything? One model-server on a
/// synthetic bundle, loaded in turn by wrk and by `LoadGenerator` (the code testing-svc's load tests run) with the
/// same connections, duration and `/recommend` requests; the generator must reach at least 70 % of wrk's rate.
struct BenchLoadTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest",
        abstract: "testing-svc's load generator against wrk on one model-server; prints RESULT tester_rps=… wrk_rps=… ratio=… p99_ms=….")

    @Option var candidates = 10_000
    @Option var dim = 64
    @Option var customers = 5_000
    @Option(help: "Connections, for both.") var connections = 32
    @Option(help: "wrk threads.") var threads = 2
    @Option(help: "Seconds of each measured run.") var duration = 10
    @Option(help: "Runs of each, alternating (wrk first), so neither always gets the warmer machine.") var rounds = 2
    @Option(help: "Recommendations per request.") var topK = 10

    func run() async throws {
        guard let wrk = findExecutable(named: "wrk") else { throw ValidationErrorMessage("wrk not found: scripts/setup installs it") }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-bench-loadtest-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let server = try await BenchModelServer.start(in: work, candidates: candidates, dim: dim, customers: customers)
        defer { server.stop() }

        // The same requests for both: customer (k × 7919) mod customers, in turn.
        let script = work.appendingPathComponent("recommend.lua")
        try """
        local counter = 0
        request = function()
          counter = counter + 1
          local body = '{"customer_id":"C' .. ((counter * 7919) % \(customers)) .. '","top_k":\(topK)}'
          return wrk.format("POST", "/recommend", {["Content-Type"] = "application/json"}, body)
        end
        """.write(to: script, atomically: true, encoding: .utf8)
        let requests = (1...1000).map { counter in
            LoadPlan.Request(path: "/recommend", body: Array(#"{"customer_id":"C\#((counter * 7919) % customers)","top_k":\#(topK)}"#.utf8))
        }
        let plan = LoadPlan(host: "127.0.0.1", port: server.port, requests: requests, connections: connections, duration: .seconds(duration))

        _ = try Wrk.run(wrk, ["-t1", "-c4", "-d1s", "-s", script.path, server.base])  // warm-up
        var wrkRuns: [WrkResult] = []
        var testerRuns: [LoadReport] = []
        for round in 1...rounds {
            let wrkRun = WrkResult(
                try Wrk.run(wrk, ["-t\(threads)", "-c\(connections)", "-d\(duration)s", "--latency", "-s", script.path, server.base]))
            wrkRuns.append(wrkRun)
            let report = try await LoadGenerator(plan: plan).run()
            testerRuns.append(report)
            print(
                String(
                    format: "round %d: wrk %.0f req/s p99 %.2f ms non2xx %d | tester %.0f req/s p99 %.2f ms errors %d %@", round, wrkRun.rps,
                    wrkRun.p99, wrkRun.non2xx, report.achievedRPS, report.latencyMs(0.99), report.failed, "\(report.errorsByStatus)"))
        }
        let wrkRPS = wrkRuns.map(\.rps).reduce(0, +) / Double(rounds)
        let testerRPS = testerRuns.map(\.achievedRPS).reduce(0, +) / Double(rounds)
        let testerP99 = testerRuns.map { $0.latencyMs(0.99) }.reduce(0, +) / Double(rounds)
        let wrkP99 = wrkRuns.map(\.p99).reduce(0, +) / Double(rounds)
        print(
            String(
                format: "candidates=%d dim=%d top_k=%d connections=%d duration_s=%d rounds=%d", candidates, dim, topK, connections, duration, rounds))
        print(
            String(
                format: "RESULT tester_rps=%.0f wrk_rps=%.0f ratio=%.2f p99_ms=%.2f wrk_p99_ms=%.2f tester_errors=%d", testerRPS, wrkRPS,
                wrkRPS > 0 ? testerRPS / wrkRPS : 0, testerP99, wrkP99, testerRuns.map(\.failed).reduce(0, +)))
    }
}
