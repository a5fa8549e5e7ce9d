import Foundation
import Synchronization
import Testing

@testable import SlipwayLocalRuntime

/// A fresh directory under /tmp (reachable by the `postgres` user), removed by `cleanup()`.
struct TemporaryDirectory {
    let url: URL

    init(_ label: String) throws {
        url = URL(fileURLWithPath: "/tmp").appendingPathComponent("slipway-test-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    }

    func cleanup() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// Collects forwarded output lines.
final class OutputCollector: Sendable {
    private let lines = Mutex<[String]>([])

    var sink: OutputMultiplexer.Sink {
        { text in self.lines.withLock { $0.append(text) } }
    }

    var all: [String] { lines.withLock { $0 } }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// Runs a command to completion and returns (status, stdout+stderr).
func runCommand(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

func shell(
    _ name: String, _ script: String, readiness: Readiness = .none, restart: RestartPolicy = .never,
    directory: URL? = nil, stopTimeout: Duration = .seconds(10)
) -> ManagedProcess {
    ManagedProcess(
        name: name, executable: URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", script], workingDirectory: directory,
        readiness: readiness, readinessTimeout: .seconds(20), restartPolicy: restart, stopTimeout: stopTimeout)
}

var python3: URL {
    get throws { try #require(findExecutable(named: "python3")) }
}
