import Foundation
import Logging
import RecommenderKit
import ServiceLifecycle
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import Synchronization

/// The `local` executor: a queue of submitted runs in the read model, at most `maxConcurrentRuns` trainer
/// processes at a time. A run is claimed with a `start` command, so two replicas never run it twice.
/// Progress lines on the trainer's stdout become the run's commands.
///
/// On graceful shutdown it stops polling, sends every trainer SIGTERM (SIGKILL after the grace) and fails
/// their runs, so nobody waits for them; each job ends with its process. Jobs are child tasks of `run()`.
public final class LocalExecutor: Service {
    let settings: TrainingSettings
    let environment: ServiceEnvironment
    let queries: TrainingQueries
    let jobPrefix: String

    private struct Jobs {
        var claimed: Set<String> = []
        var processes: [String: TrainerProcess] = [:]
        var stopping = false
    }

    private let jobs = Mutex(Jobs())
    private let nudged = WakeSignal()

    public init(settings: TrainingSettings, environment: ServiceEnvironment) {
        self.settings = settings
        self.environment = environment
        queries = TrainingQueries(postgres: environment.postgres, logger: environment.logger)
        jobPrefix = "local:\(ProcessInfo.processInfo.hostName):\(getpid())"
    }

    var logger: Logger { environment.logger }
    private var isStopping: Bool { jobs.withLock { $0.stopping } }

    /// A run was submitted or cancelled here: look now rather than at the next poll.
    func nudge() { nudged.signal() }

    public func run() async throws {
        try await failRunsLeftRunning()
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    for runID in try await claimQueuedRuns() {
                        group.addTask {
                            await self.execute(runID: runID)
                            self.jobs.withLock { _ = $0.claimed.remove(runID) }
                            self.nudge()
                        }
                    }
                    try await stopEndedJobs()
                } catch {
                    logger.warning("local executor poll failed", metadata: [LogKey.error: "\(error)"])
                }
                await nudged.wait(upTo: .milliseconds(500))
            }
            await stopAll()
        }
    }

    /// Submitted runs for free slots, marked claimed here (the `start` command claims them for good).
    private func claimQueuedRuns() async throws -> [String] {
        let (free, claimed) = jobs.withLock { jobs in (settings.maxConcurrentRuns - jobs.claimed.count, jobs.claimed.count) }
        guard free > 0 else { return [] }
        let queued = try await queries.queuedRuns(executor: Executors.local, limit: free + claimed)
        return jobs.withLock { jobs in
            guard !jobs.stopping else { return [] }
            let fresh = queued.filter { !jobs.claimed.contains($0) }.prefix(free)
            jobs.claimed.formUnion(fresh)
            return Array(fresh)
        }
    }

    /// Shutting down: no new trainers; every running one gets SIGTERM at once (SIGKILL after the grace).
    private func stopAll() async {
        let processes = jobs.withLock { jobs in
            jobs.stopping = true
            return Array(jobs.processes.values)
        }
        await withDiscardingTaskGroup { group in
            for process in processes { group.addTask { await process.terminate() } }
        }
    }

    /// Runs that a training-svc on this host was running when it stopped have no trainer anymore. A job id
    /// is `local:<host>:<pid of the training-svc>`; another replica on this host that is alive keeps its runs.
    func failRunsLeftRunning() async throws {
        let host = "local:\(ProcessInfo.processInfo.hostName):"
        for (runID, jobID) in try await queries.runningRuns(executor: Executors.local, jobPrefix: host) {
            if let owner = Int32(jobID.dropFirst(host.count)), owner != getpid(), kill(owner, 0) == 0 { continue }
            logger.warning("failing a run left running by an earlier training-svc", metadata: [LogKey.runID: "\(runID)"])
            _ = try? await environment.execute(
                TrainingRunDecider.self, aggregateID: runID,
                command: .fail(.init(error: "training-svc restarted while the run was in progress; rerun it")),
                metadata: CommandMetadata(actor: "training-executor"))
        }
    }

    /// A cancel that reached another replica shows in the read model; end our process for it.
    private func stopEndedJobs() async throws {
        let running = jobs.withLock { Array($0.processes.keys) }
        guard !running.isEmpty else { return }
        for runID in try await queries.endedRuns(among: running) { await stop(runID: runID) }
    }

    /// Ends the run's trainer, if it runs here: SIGTERM, SIGKILL after the grace.
    func stop(runID: String) async {
        guard let process = jobs.withLock({ $0.processes[runID] }) else { return }
        await process.terminate()
    }

    // MARK: - One run

    func execute(runID: String) async {
        let started = ContinuousClock.now
        func elapsedMs() -> Int64 { Int64((ContinuousClock.now - started) / .milliseconds(1)) }
        func send(_ command: TrainingRunDecider.Command) async -> Bool {
            do {
                try await environment.execute(
                    TrainingRunDecider.self, aggregateID: runID, command: command,
                    metadata: CommandMetadata(causationID: runID, actor: "training-executor"))
                return true
            } catch {
                logger.info("trainer report not applied", metadata: [LogKey.runID: "\(runID)", LogKey.error: "\(error)"])
                return false
            }
        }
        let prepared: PreparedRun
        do {
            prepared = try await PreparedRun.prepare(runID: runID, settings: settings, queries: queries)
        } catch {
            // Claim first so a failure is recorded once, even with two replicas.
            guard await send(.start(jobID: jobPrefix)) else { return }
            _ = await send(.fail(.init(stage: TrainingStage.compile.apiName, error: "\(error)", durationMs: elapsedMs())))
            return
        }
        // Not claimed yet: the run waits for another replica, or for this service's next start.
        guard !isStopping else { return }
        guard await send(.start(jobID: jobPrefix)) else { return }
        let artifacts = prepared.artifacts
        let process: TrainerProcess
        do {
            process = try TrainerProcess(
                arguments: prepared.arguments(settings),
                environment: prepared.environment(settings).merging(["SLIPWAY_RUN_TOKEN": prepared.token]) { $1 },
                logFile: prepared.logFile)
        } catch {
            _ = await send(.fail(.init(stage: TrainingStage.compile.apiName, error: "\(error)", durationMs: elapsedMs())))
            return
        }
        let registered = jobs.withLock { jobs in
            guard !jobs.stopping else { return false }
            jobs.processes[runID] = process
            return true
        }
        defer { jobs.withLock { _ = $0.processes.removeValue(forKey: runID) } }
        if !registered { await process.terminate() }
        logger.info("trainer started", metadata: [LogKey.runID: "\(runID)", LogKey.processID: "\(process.pid)"])

        var reader = TrainerReport(artifacts: artifacts)
        var finished = false
        await withTaskCancellationHandler {
            for await line in process.lines {
                guard let command = reader.command(for: line, elapsedMs: elapsedMs(), logTail: { process.logTail }) else { continue }
                let applied = await send(command)
                switch command {
                case .complete, .fail: if applied { finished = true }
                default: break
                }
            }
        } onCancel: {
            process.killNow()
        }
        let status = await process.waitForExit()
        if !finished {
            if isStopping {
                _ = await send(.fail(.init(error: "training-svc stopped while the run was in progress; rerun it", logTail: process.logTail)))
            } else {
                let error =
                    status == 0
                    ? "the trainer exited without reporting a result"
                    : "the trainer exited with status \(status)\(status > 128 ? " (signal \(status - 128))" : "")"
                // Rejected when the run was cancelled meanwhile, which is what we want.
                _ = await send(.fail(.init(error: error, logTail: process.logTail, durationMs: elapsedMs())))
            }
        }
        logger.info("trainer ended", metadata: [LogKey.runID: "\(runID)", LogKey.exitStatus: "\(status)"])
    }
}
