import Foundation
import Logging
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayLocalRuntime
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// model-server processes on this machine, one per revision, each on a free port. They listen on `bindHost`
/// (loopback by default) and a revision's address names `advertiseHost`, the host serving-router reaches them at
/// (deploy-svc's container or pod in compose and Kubernetes); deploy-svc itself checks them over loopback. Each
/// revision has `<root>/<revision>/` with `process` (pid, start ticks, port — so a restarted deploy-svc can find
/// and adopt it) and `model-server.log`.
public final class LocalServingTarget: ServingTarget {
    struct Running: Sendable {
        var pid: Int32
        var startTicks: UInt64?
        var port: Int
    }

    let root: URL
    let modelServer: URL
    let readinessTimeout: Duration
    let bindHost: String
    let advertiseHost: String
    let logger: Logger
    private let running = Mutex<[String: Running]>([:])
    /// Foundation reaps a child only while its `Process` object lives.
    private let processes = Mutex<[String: Process]>([:])

    public init(
        root: URL, modelServer: URL, readinessTimeout: Duration, bindHost: String = "127.0.0.1", advertiseHost: String = "127.0.0.1",
        logger: Logger
    ) {
        self.root = root
        self.modelServer = modelServer
        self.readinessTimeout = readinessTimeout
        self.bindHost = bindHost
        self.advertiseHost = advertiseHost
        self.logger = logger
    }

    /// Where a revision is reached from elsewhere (recorded in its events, routed to by serving-router).
    func address(_ port: Int) -> String { "http://\(advertiseHost):\(port)" }

    /// Where deploy-svc checks its own model-servers: the bound address, or loopback for a wildcard.
    func localAddress(_ port: Int) -> String {
        "http://\(bindHost == "0.0.0.0" ? "127.0.0.1" : bindHost):\(port)"
    }

    func directory(_ revisionID: String) -> URL { root.appendingPathComponent(revisionID, isDirectory: true) }

    public func start(_ revision: RevisionSpec) async throws -> (address: String, startupMs: Int64) {
        let clock = ContinuousClock()
        let began = clock.now
        if let adopted = await adopt(revision.revisionID) {
            logger.info(
                "adopted a running revision", metadata: [LogKey.revisionID: "\(revision.revisionID)", LogKey.revisionPort: "\(adopted.port)"])
            return (address(adopted.port), 0)
        }
        await stop(revision.revisionID)
        let directory = directory(revision.revisionID)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try Self.port(reusing: revision.previousAddress)
        let bundle = revision.artifactURI.hasPrefix("file://") ? String(revision.artifactURI.dropFirst(7)) : revision.artifactURI
        let process = Process()
        process.executableURL = modelServer
        process.arguments = [
            "--bundle", bundle, "--name", revision.modelName, "--version", "\(revision.versionNumber)",
            "--host", bindHost, "--port", "\(port)",
        ]
        process.standardInput = FileHandle.nullDevice
        let logFile = directory.appendingPathComponent("model-server.log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        do {
            try process.run()
        } catch {
            throw RevisionStartError(message: "cannot start \(modelServer.path): \(error)", logTail: "")
        }
        try? log.close()
        let pid = process.processIdentifier
        let entry = Running(pid: pid, startTicks: ProcessInspection.startTicks(pid), port: port)
        processes.withLock { $0[revision.revisionID] = process }
        running.withLock { $0[revision.revisionID] = entry }
        try "\(pid) \(entry.startTicks ?? 0) \(port)\n".write(to: directory.appendingPathComponent("process"), atomically: true, encoding: .utf8)

        let health = URL(string: "\(localAddress(port))/health")!
        let deadline = clock.now.advanced(by: readinessTimeout)
        while clock.now < deadline {
            if !process.isRunning {
                let status = process.terminationStatus
                await stop(revision.revisionID)
                throw RevisionStartError(message: "model-server exited with status \(status) before it was ready", logTail: Self.tail(of: logFile))
            }
            if await HTTPProbe.isOK(health, timeout: .milliseconds(500)) {
                let elapsed = clock.now - began
                return (address(port), elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        await stop(revision.revisionID)
        throw RevisionStartError(message: "model-server did not answer /health within \(readinessTimeout)", logTail: Self.tail(of: logFile))
    }

    /// A process recorded for the revision that is still the same process and still healthy.
    func adopt(_ revisionID: String) async -> Running? {
        let known = running.withLock { $0[revisionID] } ?? readRecord(revisionID)
        guard let known, ProcessInspection.isSameProcess(known.pid, startTicks: known.startTicks) else { return nil }
        guard await HTTPProbe.isOK(URL(string: "\(localAddress(known.port))/health")!, timeout: .seconds(1)) else { return nil }
        running.withLock { $0[revisionID] = known }
        return known
    }

    func readRecord(_ revisionID: String) -> Running? {
        guard let text = try? String(contentsOf: directory(revisionID).appendingPathComponent("process"), encoding: .utf8) else { return nil }
        let parts = text.split(whereSeparator: \.isWhitespace)
        guard parts.count == 3, let pid = Int32(parts[0]), let ticks = UInt64(parts[1]), let port = Int(parts[2]) else { return nil }
        return Running(pid: pid, startTicks: ticks == 0 ? nil : ticks, port: port)
    }

    public func isRunning(_ revisionID: String) -> Bool {
        guard let known = running.withLock({ $0[revisionID] }) ?? readRecord(revisionID) else { return false }
        return ProcessInspection.isSameProcess(known.pid, startTicks: known.startTicks)
    }

    /// SIGTERM, then SIGKILL after 3 s.
    public func stop(_ revisionID: String) async {
        let known = running.withLock { $0.removeValue(forKey: revisionID) } ?? readRecord(revisionID)
        defer {
            processes.withLock { _ = $0.removeValue(forKey: revisionID) }
            try? FileManager.default.removeItem(at: directory(revisionID).appendingPathComponent("process"))
        }
        guard let known, ProcessInspection.isSameProcess(known.pid, startTicks: known.startTicks) else { return }
        _ = ProcessInspection.send(SIGTERM, to: known.pid)
        if !(await ProcessInspection.waitForExit(known.pid, timeout: .seconds(3))) {
            _ = ProcessInspection.send(SIGKILL, to: known.pid)
            _ = await ProcessInspection.waitForExit(known.pid, timeout: .seconds(1))
        }
        logger.info("stopped revision", metadata: [LogKey.revisionID: "\(revisionID)"])
    }

    /// Stops every revision at once, so shutting down takes one revision's stop time, not the sum.
    public func stopAll() async {
        await withDiscardingTaskGroup { group in
            for revisionID in running.withLock({ Array($0.keys) }) {
                group.addTask { await self.stop(revisionID) }
            }
        }
    }

    /// The previous port when it is free again (a restarted revision keeps its address), else a new one.
    static func port(reusing address: String?) throws -> Int {
        if let address, let port = URL(string: address)?.port, isTCPPortFree(port) { return port }
        return try freeTCPPort()
    }

    static func tail(of file: URL, lines: Int = 20) -> String {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}
