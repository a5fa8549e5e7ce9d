import Foundation
import SlipwayLocalRuntime
import Testing

/// An executable started for one test, its output in a log file.
public final class Launched: @unchecked Sendable {
    public let process = Process()
    public let log: URL

    public init(_ executable: URL, _ arguments: [String], log: URL) throws {
        self.log = log
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    deinit { if process.isRunning { process.interrupt(); kill(process.processIdentifier, SIGKILL) } }

    public var exitStatus: Int32? {
        process.isRunning ? nil : process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    }
    public var logTail: String { String((try? String(contentsOf: log, encoding: .utf8))?.suffix(2000) ?? "") }

    public func waitUntil(_ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
        try await eventually(timeout: .seconds(60), what) {
            guard process.isRunning else { throw TimedOut(description: "exited before \(what): \(logTail)") }
            return try await condition()
        }
    }

    /// Keeps `load` running, sends SIGTERM after a moment of it, and returns how long the process took to exit.
    public func terminate(underLoad load: @escaping @Sendable () async -> Void) async throws -> Duration {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { await load() } }
            try await Task.sleep(for: .milliseconds(500))
            let started = ContinuousClock.now
            kill(process.processIdentifier, SIGTERM)
            while process.isRunning, ContinuousClock.now - started < .seconds(30) { try await Task.sleep(for: .milliseconds(20)) }
            let elapsed = ContinuousClock.now - started
            group.cancelAll()
            print("\(process.executableURL?.lastPathComponent ?? "?") stopped \(elapsed) after SIGTERM")
            return elapsed
        }
    }
}

extension TestInfrastructure {
    /// A dev broker for one test, with the platform's topics; it ends with the test (`Launched`'s deinit). Services
    /// started as `slipway up` starts them publish on the platform's real topics, which must not reach other suites.
    public func ownBroker(in work: URL) async throws -> (process: Launched, address: String) {
        let addressFile = work.appendingPathComponent("broker.addr")
        let broker = try Launched(
            executable("slipway-devbroker"),
            ["--port", "\(try freeTCPPort())", "--address-file", addressFile.path, "--log-level", "warning"],
            log: work.appendingPathComponent("broker.log"))
        try await broker.waitUntil("dev broker listening") { FileManager.default.fileExists(atPath: addressFile.path) }
        let address = try String(contentsOf: addressFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return (broker, address)
    }
}
