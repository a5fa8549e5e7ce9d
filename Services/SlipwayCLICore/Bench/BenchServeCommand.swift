import ArgumentParser
import Foundation
import SlipwayLocalRuntime
import SlipwayModelBundle

/// `slipway bench serve`: a model-server on a synthetic bundle of the spec's size (10,000 candidates ×
/// 64 dimensions), loaded by `wrk` on loopback with `/recommend` top-10 requests for random customers.
struct BenchServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Load-test one model-server with wrk; prints RESULT rps=… p50_ms=… p99_ms=… non2xx=….")

    @Option var candidates = 10_000
    @Option var dim = 64
    @Option var customers = 5_000
    @Option(help: "wrk connections.") var connections = 32
    @Option(help: "wrk threads.") var threads = 2
    @Option(help: "Seconds of load.") var duration = 10
    @Option(help: "Recommendations per request.") var topK = 10
    @Option(help: "Extra model-server arguments, e.g. --event-loops 1.") var serverArguments: [String] = []

    func run() async throws {
        guard let wrk = findExecutable(named: "wrk") else { throw ValidationErrorMessage("wrk not found: scripts/setup installs it") }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-bench-serve-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let server = try await BenchModelServer.start(
            in: work, candidates: candidates, dim: dim, customers: customers, arguments: serverArguments)
        defer { server.stop() }
        let base = server.base

        let script = work.appendingPathComponent("recommend.lua")
        try """
        local counter = 0
        request = function()
          counter = counter + 1
          local body = '{"customer_id":"C' .. ((counter * 7919) % \(customers)) .. '","top_k":\(topK)}'
          return wrk.format("POST", "/recommend", {["Content-Type"] = "application/json"}, body)
        end
        """.write(to: script, atomically: true, encoding: .utf8)
        // A short warm-up, then the measured run.
        _ = try Wrk.run(wrk, ["-t1", "-c4", "-d1s", "-s", script.path, base])
        let output = try Wrk.run(wrk, ["-t\(threads)", "-c\(connections)", "-d\(duration)s", "--latency", "-s", script.path, base])
        print(output)
        let result = WrkResult(output)
        print(String(format: "candidates=%d dim=%d top_k=%d connections=%d duration_s=%d", candidates, dim, topK, connections, duration))
        print(String(format: "RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d", result.rps, result.p50, result.p99, result.non2xx))
    }
}
