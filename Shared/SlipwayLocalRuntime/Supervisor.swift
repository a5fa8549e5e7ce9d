import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Options for a `Supervisor`.
public struct SupervisorOptions: Sendable {
    /// The state directory (`.slipway/`): `up.json`, `up.pids`, `logs/`.
    public var paths: SlipwayPaths
    /// Install SIGINT/SIGTERM/SIGHUP handlers that trigger a graceful shutdown (`run()` only).
    public var handleSignals: Bool
    /// `nil`: colour prefixes only when stdout is a TTY.
    public var colors: Bool?
    /// Where prefixed child output goes; `nil` is our stdout.
    public var output: OutputMultiplexer.Sink?
    /// Start a small `/bin/sh` watchdog that kills the children if the supervisor dies without
    /// shutting down (SIGKILL, crash). See `OrphanWatchdog`.
    public var orphanWatchdog: Bool

    public init(
        paths: SlipwayPaths = .default, handleSignals: Bool = true, colors: Bool? = nil,
        output: OutputMultiplexer.Sink? = nil, orphanWatchdog: Bool = true
    ) {
        self.paths = paths
        self.handleSignals = handleSignals
        self.colors = colors
        self.output = output
        self.orphanWatchdog = orphanWatchdog
    }
}

/// Runs a list of `ManagedProcess`es for `slipway up`.
///
/// `run()` starts them in order, each waiting for readiness; forwards their output with a
/// `name |` prefix and appends it to `.slipway/logs/<name>.log`; restarts crashed ones with
/// exponential backoff; keeps `.slipway/up.json` current; and on SIGINT/SIGTERM (or
/// `requestShutdown()`) stops them in reverse order — SIGTERM, up to `stopTimeout`, then
/// SIGKILL — and finally calls `onShutdown`. A second signal skips the waiting and kills.
public actor Supervisor {
    /// The supervisor's lifecycle.
    public enum Phase: String, Sendable {
        case idle, starting, running, stopping, stopped
    }

    /// One process as the supervisor sees it now.
    public struct ProcessSnapshot: Sendable, Equatable {
        public var name: String
        public var pid: Int32?
        public var restarts: Int
        public var isRunning: Bool
    }

    private enum Event: Sendable {
        case exited(index: Int, generation: Int, exit: ChildProcess.Exit)
        case shutdown
    }

    private struct Slot {
        var spec: ManagedProcess
        var prefix: String
        var child: ChildProcess?
        var generation = 0
        var restarts = 0
        var lastDelay: Duration?
    }

    private struct StartInterrupted: Error {}

    public nonisolated let options: SupervisorOptions
    private let logger: Logger
    private let onShutdown: (@Sendable () async throws -> Void)?
    private let output: OutputMultiplexer
    private var slots: [Slot]
    private var phase: Phase = .idle
    private var startedAt = Date()
    private var watchdog: OrphanWatchdog?
    private var signalSources: [any DispatchSourceSignal] = []
    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    /// Shutdown requests so far: 1 = graceful, 2 or more = stop waiting and kill.
    private let shutdownRequests = Counter()

    private final class Counter: Sendable {
        private let value = Mutex<Int>(0)
        func increment() -> Int {
            value.withLock {
                $0 += 1; return $0
            }
        }
        var current: Int { value.withLock { $0 } }
    }

    /// - Parameters:
    ///   - processes: in start order; names must be unique.
    ///   - onShutdown: called last, after every child is gone (e.g. stop PostgreSQL); also after a
    ///     failed start. Errors it throws are logged.
    public init(
        processes: [ManagedProcess],
        options: SupervisorOptions = SupervisorOptions(),
        logger: Logger = Logger(label: "slipway.up"),
        onShutdown: (@Sendable () async throws -> Void)? = nil
    ) throws {
        var seen = Set<String>()
        for process in processes where !seen.insert(process.name).inserted {
            throw LocalRuntimeError.duplicateProcessName(process.name)
        }
        self.options = options
        self.logger = logger
        self.onShutdown = onShutdown
        let output = OutputMultiplexer(names: processes.map(\.name), colors: options.colors, sink: options.output)
        self.output = output
        self.slots = processes.enumerated().map { Slot(spec: $1, prefix: output.prefix(for: $1.name, index: $0)) }
        (events, eventSink) = AsyncStream<Event>.makeStream()
    }

    public var currentPhase: Phase { phase }

    public func snapshot() -> [ProcessSnapshot] {
        slots.map {
            ProcessSnapshot(
                name: $0.spec.name, pid: $0.child?.pid, restarts: $0.restarts,
                isRunning: $0.child.map { !$0.hasExited && ProcessInspection.isAlive($0.pid) } ?? false)
        }
    }

    /// Asks `run()` to shut down gracefully; a second call stops waiting for children and kills them.
    /// Safe from any thread (signal handlers use it).
    public nonisolated func requestShutdown() {
        let count = shutdownRequests.increment()
        if count == 1 { eventSink.yield(.shutdown) }
    }

    /// Starts every process, supervises them until shutdown is requested, then stops them and calls
    /// `onShutdown`. Throws when the start fails (after cleaning up); returns normally after a
    /// requested shutdown, including one that interrupted the start.
    public func run() async throws {
        precondition(phase == .idle, "Supervisor.run() can be called once")
        if options.handleSignals { installSignalHandlers() }
        defer { removeSignalHandlers() }
        do {
            try await startAll()
        } catch is StartInterrupted {
            logger.info("start interrupted; shutting down")
            await stopAll()
            return
        } catch {
            logger.error("start failed; shutting down", metadata: [LogKey.error: "\(error)"])
            await stopAll()
            throw error
        }
        await supervise()
        await stopAll()
    }

    // MARK: - Start

    private func startAll() async throws {
        phase = .starting
        startedAt = Date()
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: options.paths.logsDirectory, withIntermediateDirectories: true)
        try reclaimStateFile()
        try writeState()
        if options.orphanWatchdog {
            do {
                watchdog = try OrphanWatchdog.start(supervisorPID: getpid(), pidsFile: options.paths.pidsFile)
            } catch {
                logger.warning("orphan watchdog not started; children may outlive a killed supervisor", metadata: [LogKey.error: "\(error)"])
            }
        }
        for index in slots.indices {
            if shutdownRequests.current > 0 { throw StartInterrupted() }
            let child = try launch(index)
            try await waitUntilReady(child)
            logger.info("ready", metadata: [LogKey.processName: "\(child.spec.name)", LogKey.processPid: "\(child.pid)"])
        }
        phase = .running
        try writeState()
    }

    /// Refuses to start over a live supervisor; kills the children of a dead one (orphans).
    private func reclaimStateFile() throws {
        let url = options.paths.stateFile
        guard FileManager.default.fileExists(atPath: url.path), let previous = try? UpState.read(from: url),
            previous.status != .stopped
        else { return }
        if previous.isSupervisorAlive {
            throw LocalRuntimeError.supervisorAlreadyRunning(pid: previous.supervisorPID, stateFile: url.path)
        }
        for entry in previous.processes.reversed() {
            guard let pid = entry.pid, ProcessInspection.isSameProcess(pid, startTicks: entry.startTicks) else { continue }
            logger.warning("killing orphan of a previous run", metadata: [LogKey.processName: "\(entry.name)", LogKey.processPid: "\(pid)"])
            if getpgid(pid) == pid { kill(-pid, SIGKILL) }
            kill(pid, SIGKILL)
        }
    }

    private func launch(_ index: Int) throws -> ChildProcess {
        slots[index].generation += 1
        let generation = slots[index].generation
        let spec = slots[index].spec
        if case .file(let url) = spec.readiness { try? FileManager.default.removeItem(at: url) }
        // Tagged, and so are its own children (they inherit the environment): `slipway down` finds whatever is
        // still running by the tag, model-servers of a deploy-svc that did not stop them included.
        var tagged = spec
        tagged.environment[ProcessInspection.upRootVariable] = options.paths.root.path
        let sink = eventSink
        let child = try ChildProcess.launch(
            tagged, generation: generation, logFile: options.paths.logFile(for: spec.name), output: output,
            prefix: slots[index].prefix
        ) { child, exit in
            sink.yield(.exited(index: index, generation: child.generation, exit: exit))
        }
        slots[index].child = child
        logger.debug("launched", metadata: [LogKey.processName: "\(spec.name)", LogKey.processPid: "\(child.pid)"])
        try? writeState()
        return child
    }

    private func waitUntilReady(_ child: ChildProcess) async throws {
        let spec = child.spec
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: spec.readinessTimeout)
        while true {
            if let exit = child.exitStatus {
                throw LocalRuntimeError.exitedBeforeReady(name: spec.name, status: exit.status, logTail: logTail(spec.name))
            }
            if shutdownRequests.current > 0 { throw StartInterrupted() }
            if await Self.isReady(spec.readiness) {
                // A process can pass a readiness check and die right after; report that as a failed start.
                if let exit = child.exitStatus {
                    throw LocalRuntimeError.exitedBeforeReady(name: spec.name, status: exit.status, logTail: logTail(spec.name))
                }
                return
            }
            if clock.now >= deadline {
                let seconds = Double(spec.readinessTimeout.components.seconds) + Double(spec.readinessTimeout.components.attoseconds) / 1e18
                throw LocalRuntimeError.readinessTimeout(
                    name: spec.name, seconds: seconds, readiness: spec.readiness.description, logTail: logTail(spec.name))
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    static func isReady(_ readiness: Readiness) async -> Bool {
        switch readiness {
        case .none: return true
        case .http(let url): return await HTTPProbe.isOK(url, timeout: .seconds(1))
        case .file(let url): return FileManager.default.fileExists(atPath: url.path)
        }
    }

    private func logTail(_ name: String) -> [String] {
        EmbeddedPostgres.tail(of: options.paths.logFile(for: name), lines: 20)
    }

    // MARK: - Supervise

    private func supervise() async {
        await withDiscardingTaskGroup { group in
            for await event in events {
                switch event {
                case .shutdown:
                    group.cancelAll()
                    return
                case .exited(let index, let generation, let exit):
                    guard let delay = handleExit(index: index, generation: generation, exit: exit) else { continue }
                    group.addTask {
                        do { try await Task.sleep(for: delay) } catch { return }
                        await self.restart(index: index, generation: generation)
                    }
                }
            }
        }
    }

    /// Records an unexpected exit; returns the restart delay, or nil for no restart.
    private func handleExit(index: Int, generation: Int, exit: ChildProcess.Exit) -> Duration? {
        guard phase == .running, slots[index].generation == generation else { return nil }
        let ranFor = slots[index].child.map { ContinuousClock.now - $0.startedAt } ?? .zero
        let spec = slots[index].spec
        let how = exit.reason == .uncaughtSignal ? "was killed by signal \(exit.status)" : "exited with status \(exit.status)"
        slots[index].child = nil
        try? writeState()
        guard let backoff = spec.restartPolicy.backoff(forExitStatus: exit.status, reason: exit.reason) else {
            logger.warning("\(spec.name) \(how); not restarting (policy)", metadata: [LogKey.processName: "\(spec.name)"])
            return nil
        }
        if ranFor >= backoff.resetAfter { slots[index].lastDelay = nil }
        let delay = backoff.next(after: slots[index].lastDelay)
        slots[index].lastDelay = delay
        logger.warning(
            "\(spec.name) \(how); restarting in \(delay)",
            metadata: [LogKey.processName: "\(spec.name)", LogKey.restartAttempt: "\(slots[index].restarts + 1)"])
        return delay
    }

    private func restart(index: Int, generation: Int) {
        guard phase == .running, slots[index].generation == generation, slots[index].child == nil else { return }
        slots[index].restarts += 1
        do {
            let child = try launch(index)
            logger.info(
                "restarted \(slots[index].spec.name)",
                metadata: [
                    LogKey.processName: "\(slots[index].spec.name)", LogKey.processPid: "\(child.pid)",
                    LogKey.restartAttempt: "\(slots[index].restarts)",
                ])
        } catch {
            logger.error("restart failed", metadata: [LogKey.processName: "\(slots[index].spec.name)", LogKey.error: "\(error)"])
            // Treat a failed launch as an immediate exit so the backoff keeps growing.
            eventSink.yield(.exited(index: index, generation: slots[index].generation, exit: .init(status: 127, reason: .exit)))
        }
    }

    // MARK: - Stop

    private func stopAll() async {
        phase = .stopping
        try? writeState()
        for index in slots.indices.reversed() {
            guard let child = slots[index].child, !child.hasExited else { continue }
            let name = child.spec.name
            logger.info("stopping", metadata: [LogKey.processName: "\(name)", LogKey.processPid: "\(child.pid)"])
            child.send(SIGTERM)
            let requests = shutdownRequests
            let stopped = await child.waitForExit(timeout: child.spec.stopTimeout) { requests.current >= 2 }
            if !stopped {
                logger.warning("did not stop after SIGTERM; sending SIGKILL", metadata: [LogKey.processName: "\(name)"])
                child.send(SIGKILL)
                _ = await child.waitForExit(timeout: .seconds(5))
            }
        }
        if let onShutdown {
            do {
                try await onShutdown()
            } catch {
                logger.error("shutdown hook failed", metadata: [LogKey.error: "\(error)"])
            }
        }
        phase = .stopped
        try? writeState()
        try? FileManager.default.removeItem(at: options.paths.pidsFile)
        watchdog = nil
        eventSink.finish()
        logger.info("all processes stopped")
    }

    // MARK: - State file

    private func writeState() throws {
        let status: UpState.Status
        switch phase {
        case .idle, .starting: status = .starting
        case .running: status = .running
        case .stopping: status = .stopping
        case .stopped: status = .stopped
        }
        let me = getpid()
        let entries = slots.map { slot -> UpState.ProcessEntry in
            let child = phase == .stopped ? nil : slot.child.flatMap { $0.hasExited || !ProcessInspection.isAlive($0.pid) ? nil : $0 }
            var url: String?
            var file: String?
            switch slot.spec.readiness {
            case .none: break
            case .http(let value): url = value.absoluteString
            case .file(let value): file = value.path
            }
            return UpState.ProcessEntry(
                name: slot.spec.name, executable: slot.spec.executable.path, pid: child?.pid,
                startTicks: child.flatMap { ProcessInspection.startTicks($0.pid) }, readinessURL: url, readinessFile: file,
                logPath: options.paths.logFile(for: slot.spec.name).path, restarts: slot.restarts)
        }
        let state = UpState(
            status: status, supervisorPID: me, supervisorStartTicks: ProcessInspection.startTicks(me), startedAt: startedAt,
            stoppedAt: phase == .stopped ? Date() : nil, processes: entries)
        try state.write(to: options.paths.stateFile)
        if phase != .stopped {
            // Reverse start order, so the watchdog signals the last-started first. The first line names this
            // supervisor: a watchdog of an earlier one, still in its last second, must not take them for its own.
            let pids = entries.reversed().compactMap(\.pid).map(String.init)
            try OrphanWatchdog.pidsFileContents(supervisorPID: me, children: pids).write(
                to: options.paths.pidsFile, atomically: true, encoding: .utf8)
        }
    }

    // MARK: - Signals

    private func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            SignalMask.catchWithoutAction(signalNumber)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            let logger = self.logger
            source.setEventHandler { [weak self] in
                logger.info("received signal \(signalNumber); shutting down (send it again to kill at once)")
                self?.requestShutdown()
            }
            source.resume()
            signalSources.append(source)
        }
    }

    private func removeSignalHandlers() {
        guard !signalSources.isEmpty else { return }
        for source in signalSources { source.cancel() }
        signalSources.removeAll()
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] { signal(signalNumber, SIG_DFL) }
    }
}
