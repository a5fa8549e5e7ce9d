import Foundation
import SlipwayLocalRuntime
import SlipwayModelBundle

/// wrk, the load generator the benchmarks measure with (`scripts/setup` installs it).
enum Wrk {
    /// Runs wrk to its end and returns what it printed.
    static func run(_ wrk: URL, _ arguments: [String]) throws -> String {
        try start(wrk, arguments).output()
    }

    static func start(_ wrk: URL, _ arguments: [String]) throws -> Running {
        let process = Process()
        process.executableURL = wrk
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        return Running(process: process, pipe: pipe)
    }

    /// A wrk script posting `/recommend` bodies for 5,000 customers to `path`, with the key when given.
    static func script(_ directory: URL, _ name: String, path: String, key: String?) throws -> URL {
        let file = directory.appendingPathComponent(name)
        let auth = key.map { #", ["Authorization"] = "Bearer \#($0)""# } ?? ""
        try """
        local counter = 0
        request = function()
          counter = counter + 1
          local body = '{"customer_id":"C' .. ((counter * 7919) % 5000) .. '","top_k":10}'
          return wrk.format("POST", "\(path)", {["Content-Type"] = "application/json"\(auth)}, body)
        end
        """.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    struct Running {
        let process: Process
        let pipe: Pipe
        /// wrk prints its summary on SIGINT.
        func interrupt() { process.interrupt() }
        func output() -> String {
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
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

    /// wrk's "Socket errors: connect 0, read 0, write 0, timeout 0", summed.
    static func socketErrors(_ output: String) -> Int {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("Socket errors:") }) else { return 0 }
        return line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.reduce(0, +)
    }

    /// wrk prints `812.00us`, `1.23ms` or `2.01s`.
    static func milliseconds(_ text: String) -> Double {
        for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(suffix) {
            return (Double(text.dropLast(suffix.count)) ?? 0) * scale
        }
        return Double(text) ?? 0
    }
}

/// A model-server process on a synthetic bundle (`SyntheticBundle`), for the benchmarks that load one server.
struct BenchModelServer {
    let process: Process
    let base: String
    let port: Int

    static func start(in work: URL, candidates: Int, dim: Int, customers: Int, arguments: [String] = []) async throws -> BenchModelServer {
        guard let server = findExecutable(named: "model-server") else { throw ValidationErrorMessage("model-server not found next to slipway") }
        let bundle = work.appendingPathComponent("bundle")
        try SyntheticBundle.make(candidates: candidates, dim: dim, customers: customers, modelName: "bench").write(to: bundle)
        let port = try freeTCPPort()
        let process = Process()
        process.executableURL = server
        process.arguments = ["--bundle", bundle.path, "--port", "\(port)", "--log-level", "warning"] + arguments
        try process.run()
        let base = "http://127.0.0.1:\(port)"
        for _ in 0..<200 {
            if (try? await httpCall(.GET, base + "/health", body: nil, timeout: .seconds(1)))?.0 == 200 {
                return BenchModelServer(process: process, base: base, port: port)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw ValidationErrorMessage("model-server did not become healthy")
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
