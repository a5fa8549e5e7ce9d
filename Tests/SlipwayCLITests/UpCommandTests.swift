import Foundation
import SlipwayLocalRuntime
import Testing

/// The README's first command, end to end: `slipway up` on embedded defaults in a fresh directory,
/// `slipway status`, a request through the gateway to a service, then `slipway down`.
@Suite("slipway up", .serialized, .timeLimit(.minutes(3)))
struct UpCommandTests {
    struct Environment: Decodable {
        let bin_directory: String
        let kafka_brokers: String
    }

    static let environment: Environment = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try! Data(contentsOf: root.appendingPathComponent(".slipway-test/env.json"))
        return try! JSONDecoder().decode(Environment.self, from: data)
    }()

    @Test("up, status, a request through the gateway, down")
    func upStatusDown() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-up-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let slipway = Self.environment.bin_directory + "/slipway"
        let gatewayPort = try freeTCPPort()
        let logFile = directory.appendingPathComponent("up.out")
        FileManager.default.createFile(atPath: logFile.path, contents: nil)

        let up = Process()
        up.executableURL = URL(fileURLWithPath: slipway)
        // The shared test broker stands in for the dev broker so this test stays quick; PostgreSQL is embedded.
        up.arguments = ["up", "--data-dir", directory.appendingPathComponent(".slipway").path, "--gateway-port", "\(gatewayPort)",
                        "--kafka-brokers", Self.environment.kafka_brokers, "--log-level", "warning"]
        up.currentDirectoryURL = directory
        up.standardOutput = try FileHandle(forWritingTo: logFile)
        up.standardError = up.standardOutput
        try up.run()
        defer {
            if up.isRunning { kill(up.processIdentifier, SIGKILL) }
        }

        let dataDir = ["--data-dir", directory.appendingPathComponent(".slipway").path]
        try await eventually(timeout: .seconds(120), "slipway status reports every process ready", log: logFile) {
            try run(slipway, ["status"] + dataDir).status == 0
        }
        let status = try run(slipway, ["status"] + dataDir)
        for name in ["training-svc", "registry-svc", "schedule-svc", "deploy-svc", "testing-svc", "metrics-svc", "gateway"] {
            #expect(status.output.contains(name))
        }

        // Through the gateway to registry-svc, which has no such model: its 404, in the error shape.
        let (code, body) = try await get("http://127.0.0.1:\(gatewayPort)/api/registered-models/does-not-exist/")
        #expect(code == 404)
        #expect(body.contains(#""error""#))
        let (unknownCode, _) = try await get("http://127.0.0.1:\(gatewayPort)/api/no-such-thing/")
        #expect(unknownCode == 404)

        let down = try run(slipway, ["down"] + dataDir)
        #expect(down.status == 0)
        up.waitUntilExit()
        #expect(try run(slipway, ["status"] + dataDir).status != 0)
    }

    func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
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

    func get(_ url: String) async throws -> (Int, String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
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

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
