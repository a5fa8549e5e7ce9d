import Foundation
import Logging
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayLocalRuntime
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// model-server processes on this machine, one per instance of a revision, each on a free port. They listen on
/// `bindHost` (loopback by default) and an instance's address names `advertiseHost`, the host serving-router reaches
/// them at (deploy-svc's container or pod in compose and Kubernetes); deploy-svc itself checks them over loopback.
/// Each revision has `<root>/<revision>/` with, per instance, `process` (pid, start ticks, port — so a restarted
/// deploy-svc can find and adopt it) and `model-server.log` for instance 0, `process.<k>` and `model-server.<k>.log`
/// for instance k.
public final class LocalServingTarget: ServingTarget {
    struct Running: Sendable {
        var pid: Int32
        var startTicks: UInt64?
        var port: Int
    }

    struct Instance: Hashable, Sendable, CustomStringConvertible {
        var revisionID: String
        var index: Int
        var description: String { index == 0 ? revisionID : "\(revisionID)#\(index)" }
    }

    let root: URL
    let modelServer: URL
    let readinessTimeout: Duration
    let bindHost: String
    let advertiseHost: String
    let logger: Logger
    private let running = Mutex<[Instance: Running]>([:])
    /// Foundation reaps a child only while its `Process` object lives.
    private let processes = Mutex<[Instance: Process]>([:])

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

    func recordFile(_ instance: Instance) -> URL {
        directory(instance.revisionID).appendingPathComponent(instance.index == 0 ? "process" : "process.\(instance.index)")
    }

    func logFile(_ instance: Instance) -> URL {
        directory(instance.revisionID).appendingPathComponent(instance.index == 0 ? "model-server.log" : "model-server.\(instance.index).log")
    }

    public func start(_ revision: RevisionSpec, instance index: Int) async throws -> (address: String, startupMs: Int64) {
        let instance = Instance(revisionID: revision.revisionID, index: index)
        let clock = ContinuousClock()
        let began = clock.now
        if let adopted = await adopt(instance) {
            logger.info(
                "adopted a running revision instance", metadata: [LogKey.revisionID: "\(instance)", LogKey.revisionPort: "\(adopted.port)"])
            return (address(adopted.port), 0)
        }
        await stop(instance)
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
        let logFile = logFile(instance)
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
        processes.withLock { $0[instance] = process }
        running.withLock { $0[instance] = entry }
        try "\(pid) \(entry.startTicks ?? 0) \(port)\n".write(to: recordFile(instance), atomically: true, encoding: .utf8)

        let health = URL(string: "\(localAddress(port))/health")!
        let deadline = clock.now.advanced(by: readinessTimeout)
        while clock.now < deadline {
            if !process.isRunning {
                let status = process.terminationStatus
                await stop(instance)
                throw RevisionStartError(message: "model-server exited with status \(status) before it was ready", logTail: Self.tail(of: logFile))
            }
            if await HTTPProbe.isOK(health, timeout: .milliseconds(500)) {
                let elapsed = clock.now - began
                return (address(port), elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        await stop(instance)
        throw RevisionStartError(message: "model-server did not answer /health within \(readinessTimeout)", logTail: Self.tail(of: logFile))
    }

    /// A process recorded for the instance that is still the same process and still healthy.
    func adopt(_ instance: Instance) async -> Running? {
        let known = running.withLock { $0[instance] } ?? readRecord(instance)
        guard let known, ProcessInspection.isSameProcess(known.pid, startTicks: known.startTicks) else { return nil }
        guard await HTTPProbe.isOK(URL(string: "\(localAddress(known.port))/health")!, timeout: .seconds(1)) else { return nil }
        running.withLock { $0[instance] = known }
        return known
    }

    func readRecord(_ instance: Instance) -> Running? {
        guard let text = try? String(contentsOf: recordFile(instance), encoding: .utf8) else { return nil }
        let parts = text.split(whereSeparator: \.isWhitespace)
        guard parts.count == 3, let pid = Int32(parts[0]), let ticks = UInt64(parts[1]), let port = Int(parts[2]) else { return nil }
        return Running(pid: pid, startTicks: ticks == 0 ? nil : ticks, port: port)
    }

    public func isRunning(_ revisionID: String, instance index: Int) -> Bool {
        let instance = Instance(revisionID: revisionID, index: index)
        guard let known = running.withLock({ $0[instance] }) ?? readRecord(instance) else { return false }
        return ProcessInspection.isSameProcess(known.pid, startTicks: known.startTicks)
    }

    public func stop(_ revisionID: String, instance index: Int) async { await stop(Instance(revisionID: revisionID, index: index)) }

    public func runningInstances(_ revisionID: String) -> [Int] {
        knownInstances(revisionID).filter { isRunning(revisionID, instance: $0) }.sorted()
    }

    /// Every instance known in memory or recorded on disk (a restarted deploy-svc knows only the records).
    func knownInstances(_ revisionID: String) -> Set<Int> {
        var indices = Set(running.withLock { $0.keys.filter { $0.revisionID == revisionID }.map(\.index) })
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory(revisionID).path)) ?? []
        for file in files where file == "process" || file.hasPrefix("process.") {
            if file == "process" { indices.insert(0) } else if let index = Int(file.dropFirst("process.".count)) { indices.insert(index) }
        }
        return indices
    }

    public func stop(_ revisionID: String) async {
        let indices = knownInstances(revisionID)
        await withDiscardingTaskGroup { group in
            for index in indices { group.addTask { await self.stop(Instance(revisionID: revisionID, index: index)) } }
        }
    }

    /// SIGTERM, then SIGKILL after 3 s.
    func stop(_ instance: Instance) async {
        let known = running.withLock { $0.removeValue(forKey: instance) } ?? readRecord(instance)
        defer {
            processes.withLock { _ = $0.removeValue(forKey: instance) }
            try? FileManager.default.removeItem(at: recordFile(instance))
        }
        guard let known, ProcessInspection.isSameProcess(known.pid, startTicks: known.startTicks) else { return }
        _ = ProcessInspection.send(SIGTERM, to: known.pid)
        if !(await ProcessInspection.waitForExit(known.pid, timeout: .seconds(3))) {
            _ = ProcessInspection.send(SIGKILL, to: known.pid)
            _ = await ProcessInspection.waitForExit(known.pid, timeout: .seconds(1))
        }
        logger.info("stopped revision instance", metadata: [LogKey.revisionID: "\(instance)"])
    }

    /// Stops every instance at once, so shutting down takes one instance's stop time, not the sum.
    public func stopAll() async {
        await withDiscardingTaskGroup { group in
            for instance in running.withLock({ Array($0.keys) }) {
                group.addTask { await self.stop(instance) }
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
