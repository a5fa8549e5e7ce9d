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
        guard let server = findExecutable(named: "model-server") else { throw ValidationErrorMessage("model-server not found next to slipway") }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-bench-serve-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let bundle = work.appendingPathComponent("bundle")
        try SyntheticBundle.make(candidates: candidates, dim: dim, customers: customers, modelName: "bench").write(to: bundle)

        let port = try freeTCPPort()
        let process = Process()
        process.executableURL = server
        process.arguments = ["--bundle", bundle.path, "--port", "\(port)", "--log-level", "warning"] + serverArguments
        try process.run()
        defer { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        let base = "http://127.0.0.1:\(port)"
        var ready = false
        for _ in 0..<200 where !ready {
            ready = (try? await httpCall(.GET, base + "/health", body: nil, timeout: .seconds(1)))?.0 == 200
            if !ready { try await Task.sleep(for: .milliseconds(50)) }
        }
        guard ready else { throw ValidationErrorMessage("model-server did not become healthy") }

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
        _ = try runWrk(wrk, ["-t1", "-c4", "-d1s", "-s", script.path, base])
        let output = try runWrk(wrk, ["-t\(threads)", "-c\(connections)", "-d\(duration)s", "--latency", "-s", script.path, base])
        print(output)
        let result = WrkResult(output)
        print(String(format: "candidates=%d dim=%d top_k=%d connections=%d duration_s=%d", candidates, dim, topK, connections, duration))
        print(String(format: "RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d", result.rps, result.p50, result.p99, result.non2xx))
    }

    func runWrk(_ wrk: URL, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = wrk
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// The numbers from `wrk --latency` output.
struct WrkResult {
    var rps = 0.0
    var p50 = 0.0
    var p99 = 0.0
    var non2xx = 0

    init(_ output: String) {
        for line in output.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if line.hasPrefix("Requests/sec:"), let value = parts.last.flatMap({ Double($0) }) { rps = value }
            if line.hasPrefix("50%"), let value = parts.last { p50 = Self.milliseconds(String(value)) }
            if line.hasPrefix("99%"), let value = parts.last { p99 = Self.milliseconds(String(value)) }
            if line.hasPrefix("Non-2xx or 3xx responses:"), let value = parts.last.flatMap({ Int($0) }) { non2xx = value }
        }
    }

    /// wrk prints `812.00us`, `1.23ms` or `2.01s`.
    static func milliseconds(_ text: String) -> Double {
        for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(suffix) {
            return (Double(text.dropLast(suffix.count)) ?? 0) * scale
        }
        return Double(text) ?? 0
    }
}
