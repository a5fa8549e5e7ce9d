import Crypto
import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import ServiceLifecycle
import Synchronization
import RecommenderKit

/// How training-svc runs trainers on this machine.
public struct TrainingSettings: Sendable {
    /// Each run gets `<artifact root>/runs/<run id>/` (spec.json, run.log, statistics.json, schema.json, bundle/).
    public var artifactRoot: URL
    /// argv; `{spec}` and `{artifacts}` are replaced per run. Default: the built-in slipway-trainer.
    public var trainerCommand: [String]
    public var maxConcurrentRuns: Int
    /// How a local trainer reaches this service's webhooks.
    public var webhookBaseURL: String

    public init(artifactRoot: URL, trainerCommand: [String], maxConcurrentRuns: Int, webhookBaseURL: String) {
        self.artifactRoot = artifactRoot
        self.trainerCommand = trainerCommand
        self.maxConcurrentRuns = maxConcurrentRuns
        self.webhookBaseURL = webhookBaseURL
    }

    /// `--artifact-root`, `--trainer-command` (split on spaces), `--max-concurrent-runs`.
    public static func load(reader: ConfigReader, config: ServiceConfig) throws -> TrainingSettings {
        let root = reader.string("artifact-root", default: ".slipway/artifacts")
        let artifactRoot = URL(fileURLWithPath: root).standardizedFileURL
        let command: [String]
        if let text = reader.string("trainer-command") {
            command = text.split(separator: " ").map(String.init)
        } else {
            let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("slipway-trainer")
            command = [sibling.path, "run", "--spec", "{spec}", "--artifacts", "{artifacts}"]
        }
        let limit = try reader.int("max-concurrent-runs", default: 1)
        guard limit >= 1 else { throw ConfigError(key: "max-concurrent-runs", message: "must be at least 1") }
        let host = config.host == "0.0.0.0" ? "127.0.0.1" : config.host
        return TrainingSettings(artifactRoot: artifactRoot, trainerCommand: command, maxConcurrentRuns: limit,
                                webhookBaseURL: "http://\(host):\(config.port)")
    }

    func artifactDirectory(for runID: String) -> URL {
        artifactRoot.appendingPathComponent("runs").appendingPathComponent(runID)
    }
}

/// Per-run webhook tokens: handed out once, stored only as a SHA-256.
enum RunToken {
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    static func file(in artifacts: URL) -> URL { artifacts.appendingPathComponent(".token") }

    /// Writes a new token readable by the owner only.
    static func create(in artifacts: URL) throws -> String {
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let token = make()
        let file = self.file(in: artifacts)
        guard FileManager.default.createFile(atPath: file.path, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw TrainerLaunchError(message: "cannot write \(file.path)")
        }
        return token
    }

    static func sha256(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// The `local` executor: a queue of submitted runs in the read model, at most `maxConcurrentRuns` trainer
/// processes at a time. A run is claimed with a `start` command, so two replicas never run it twice.
/// Progress lines on the trainer's stdout become the run's events.
public final class LocalExecutor: Service {
    let settings: TrainingSettings
    let environment: ServiceEnvironment
    private let jobs = Mutex<[String: TrainerProcess]>([:])
    private let claimed = Mutex<Set<String>>([])
    private let nudged = Mutex(false)
    let jobPrefix: String

    public init(settings: TrainingSettings, environment: ServiceEnvironment) {
        self.settings = settings
        self.environment = environment
        jobPrefix = "local:\(ProcessInfo.processInfo.hostName):\(getpid())"
    }

    /// A run was submitted or cancelled here: look now rather than at the next poll.
    func nudge() { nudged.withLock { $0 = true } }

    /// Up to 500 ms, less when nudged: a submitted run starts within ~50 ms, an idle queue costs one query per 0.5 s.
    private func pause() async {
        for _ in 0..<10 {
            if nudged.withLock({ let was = $0; $0 = false; return was }) { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    public func run() async throws {
        let environment = self.environment
        try await failRunsLeftRunning(environment)
        try await withThrowingTaskGroup(of: Void.self) { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let free = settings.maxConcurrentRuns - claimed.withLock { $0.count }
                if free > 0 {
                    for runID in try await queuedRuns(environment, limit: free) {
                        guard claimed.withLock({ $0.insert(runID).inserted }) else { continue }
                        group.addTask {
                            defer { self.claimed.withLock { _ = $0.remove(runID) } }
                            await self.execute(runID: runID, environment: environment)
                            self.nudge()
                        }
                    }
                }
                try await killCancelledJobs(environment)
                await pause()
            }
            // Shutting down: stop our trainers; their runs are failed so nobody waits for them.
            for (runID, process) in jobs.withLock({ $0 }) {
                await process.terminate()
                _ = try? await environment.execute(TrainingRunDecider.self, aggregateID: runID,
                    command: .fail(stage: nil, error: "training-svc stopped while the run was in progress; rerun it", logTail: process.logTail, durationMs: 0),
                    metadata: CommandMetadata())
            }
            try await group.waitForAll()
        }
    }

    func queuedRuns(_ environment: ServiceEnvironment, limit: Int) async throws -> [String] {
        let rows = try await environment.postgres.query("""
            SELECT id FROM training_runs WHERE status = 'submitting' AND executor = 'local' ORDER BY submitted_at, id LIMIT \(limit + claimed.withLock { $0.count })
            """, logger: environment.logger)
        var ids: [String] = []
        for try await id in rows.decode(String.self) where !claimed.withLock({ $0.contains(id) }) { ids.append(id) }
        return Array(ids.prefix(limit))
    }

    /// Runs that a training-svc on this host was running when it stopped have no trainer anymore. A job id
    /// is `local:<host>:<pid of the training-svc>`; another replica on this host that is alive keeps its runs.
    func failRunsLeftRunning(_ environment: ServiceEnvironment) async throws {
        let host = "local:\(ProcessInfo.processInfo.hostName):"
        let rows = try await environment.postgres.query("""
            SELECT id, job_id FROM training_runs WHERE status = 'running' AND executor = 'local' AND job_id LIKE \(host + "%")
            """, logger: environment.logger)
        for try await (runID, jobID) in rows.decode((String, String).self) {
            if let owner = Int32(jobID.dropFirst(host.count)), owner != getpid(), kill(owner, 0) == 0 { continue }
            environment.logger.warning("failing a run left running by an earlier training-svc", metadata: ["run_id": "\(runID)"])
            _ = try? await environment.execute(TrainingRunDecider.self, aggregateID: runID,
                command: .fail(stage: nil, error: "training-svc restarted while the run was in progress; rerun it", logTail: "", durationMs: 0),
                metadata: CommandMetadata())
        }
    }

    /// A cancel that reached another replica shows in the read model; end our process for it.
    func killCancelledJobs(_ environment: ServiceEnvironment) async throws {
        let running = jobs.withLock { Array($0.keys) }
        guard !running.isEmpty else { return }
        let rows = try await environment.postgres.query("""
            SELECT id FROM training_runs WHERE id = ANY(\(running)) AND status IN ('cancelled', 'failed', 'completed', 'not_blessed')
            """, logger: environment.logger)
        for try await runID in rows.decode(String.self) { await stop(runID: runID) }
    }

    func stop(runID: String) async {
        guard let process = jobs.withLock({ $0[runID] }) else { return }
        await process.terminate()
    }

    // MARK: - One run

    func execute(runID: String, environment: ServiceEnvironment) async {
        let logger = environment.logger
        let started = ContinuousClock.now
        func elapsedMs() -> Int64 { Int64((ContinuousClock.now - started) / .milliseconds(1)) }
        func send(_ command: TrainingRunDecider.Command) async -> Bool {
            do {
                try await environment.execute(TrainingRunDecider.self, aggregateID: runID, command: command, metadata: CommandMetadata(causationID: runID))
                return true
            } catch {
                logger.info("trainer report not applied", metadata: ["run_id": "\(runID)", "error": "\(error)"])
                return false
            }
        }
        let artifacts = settings.artifactDirectory(for: runID)
        let specFile = artifacts.appendingPathComponent("spec.json")
        let token: String
        do {
            token = try await prepare(runID: runID, specFile: specFile, artifacts: artifacts, environment: environment)
        } catch {
            // Claim first so a failure is recorded once, even with two replicas.
            guard await send(.start(jobID: jobPrefix)) else { return }
            _ = await send(.fail(stage: .compile, error: "\(error)", logTail: "", durationMs: elapsedMs()))
            return
        }
        guard await send(.start(jobID: jobPrefix)) else { return }
        let arguments = settings.trainerCommand.map {
            $0.replacingOccurrences(of: "{spec}", with: specFile.path).replacingOccurrences(of: "{artifacts}", with: artifacts.path)
        }
        let process: TrainerProcess
        do {
            process = try TrainerProcess(arguments: arguments, environment: [
                "SLIPWAY_RUN_ID": runID, "SLIPWAY_RUN_TOKEN": token, "SLIPWAY_SPEC": specFile.path,
                "SLIPWAY_ARTIFACT_DIR": artifacts.path,
                "SLIPWAY_WEBHOOK_URL": "\(settings.webhookBaseURL)/api/training-runs/\(runID)/webhook",
            ], logFile: artifacts.appendingPathComponent("run.log"))
        } catch {
            _ = await send(.fail(stage: .compile, error: "\(error)", logTail: "", durationMs: elapsedMs()))
            return
        }
        jobs.withLock { $0[runID] = process }
        defer { jobs.withLock { _ = $0.removeValue(forKey: runID) } }
        logger.info("trainer started", metadata: ["run_id": "\(runID)", "pid": "\(process.pid)"])

        var reader = TrainerReport(artifacts: artifacts)
        var finished = false
        for await line in process.lines {
            guard let command = reader.command(for: line, elapsedMs: elapsedMs(), logTail: { process.logTail }) else { continue }
            if case .complete = command { finished = true }
            if case .fail = command { finished = true }
            _ = await send(command)
        }
        let status = await process.waitForExit()
        if !finished {
            let error = status == 0 ? "the trainer exited without reporting a result"
                                    : "the trainer exited with status \(status)\(status > 128 ? " (signal \(status - 128))" : "")"
            // Rejected when the run was cancelled meanwhile, which is what we want.
            _ = await send(.fail(stage: nil, error: error, logTail: process.logTail, durationMs: elapsedMs()))
        }
        logger.info("trainer ended", metadata: ["run_id": "\(runID)", "exit_status": "\(status)"])
    }

    /// Writes the trainer's spec file from the run's configuration; returns the run token.
    func prepare(runID: String, specFile: URL, artifacts: URL, environment: ServiceEnvironment) async throws -> String {
        let queries = TrainingQueries(postgres: environment.postgres, logger: environment.logger)
        guard let run = try await queries.runRow(runID) else { throw TrainerLaunchError(message: "run \(runID) is not in the read model") }
        let config = run.config
        guard let dataset = try await queries.dataset(config.datasetId) else { throw TrainerLaunchError(message: "dataset \(config.datasetId) does not exist") }
        guard let features = try await queries.featureConfig(config.featureConfigId) else {
            throw TrainerLaunchError(message: "feature config \(config.featureConfigId) does not exist")
        }
        guard let model = try await queries.modelConfig(config.modelConfigId) else {
            throw TrainerLaunchError(message: "model config \(config.modelConfigId) does not exist")
        }
        var modelConfig = ModelConfig()
        modelConfig.id = model.id
        modelConfig.queryLayers = model.queryLayers
        modelConfig.candidateLayers = model.candidateLayers
        modelConfig.outputDim = model.outputDim
        modelConfig.temperature = model.temperature
        modelConfig.logQCorrection = model.logQCorrection
        let params = config.trainingParams
        modelConfig.epochs = params.epochs ?? modelConfig.epochs
        modelConfig.batchSize = params.batchSize ?? modelConfig.batchSize
        modelConfig.learningRate = params.learningRate ?? modelConfig.learningRate
        modelConfig.optimizer = params.optimizer.flatMap(OptimizerKind.init(rawValue:)) ?? modelConfig.optimizer
        modelConfig.earlyStoppingPatience = params.earlyStoppingPatience ?? modelConfig.earlyStoppingPatience
        modelConfig.seed = params.seed.map { UInt64(bitPattern: $0) } ?? modelConfig.seed
        let threshold = config.evaluatorConfig.blessingMetric == "recall_at_100" ? config.evaluatorConfig.blessingThreshold ?? 0 : 0
        let spec = RunSpec(runId: runID, modelName: run.name, dataset: dataset.trainerSpec, featureConfig: features.trainerConfig,
                           modelConfig: modelConfig, evaluator: EvaluatorConfig(enabled: config.evaluatorConfig.enabled ?? true, minRecallAt100: threshold))
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        try RunSpec.encoder().encode(spec).write(to: specFile)
        // Written at submit (only its hash is in the events), read here by whichever replica runs the job.
        guard let token = try? String(contentsOf: RunToken.file(in: artifacts), encoding: .utf8) else {
            throw TrainerLaunchError(message: "the run's webhook token file is missing from \(artifacts.path)")
        }
        return token
    }
}

/// Turns the built-in trainer's JSON lines (docs/trainer-and-bundle.md) into run commands; statistics
/// and schema go to files in the artifact directory, where Data Insights reads them.
struct TrainerReport {
    let artifacts: URL
    var totalEpochs: Int32 = 0
    var stageArtifacts: [String: String] = [:]

    init(artifacts: URL) { self.artifacts = artifacts }

    mutating func command(for line: String, elapsedMs: Int64, logTail: () -> String) -> TrainingRunDecider.Command? {
        guard line.hasPrefix("{"), let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
              let kind = object["event"] as? String else { return nil }
        func number(_ key: String) -> Double? { (object[key] as? NSNumber)?.doubleValue }
        switch kind {
        case "stage_started":
            guard let name = object["stage"] as? String, let stage = stage(named: name) else { return nil }
            if stage == .compile, let epochs = (object["epochs"] as? NSNumber)?.int32Value { totalEpochs = epochs }
            return .stageStarted(stage)
        case "stage_completed":
            guard let name = object["stage"] as? String, let stage = stage(named: name) else { return nil }
            var completed = StageCompleted()
            completed.stage = stage
            completed.durationMs = Int64((number("seconds") ?? 0) * 1000)
            if let details = object["details"] as? [String: Any] {
                for (key, value) in details {
                    if let n = value as? NSNumber, !(value is Bool) { completed.metrics[key] = n.doubleValue }
                }
                if stage == .compile, let epochs = details["epochs"] as? NSNumber { totalEpochs = epochs.int32Value }
                if stage == .evaluate, let bundle = details["bundle"] as? String { completed.artifacts["model"] = bundle }
            }
            if stage == .stats, let uri = stageArtifacts["statistics"] { completed.artifacts["statistics"] = uri }
            if stage == .schema, let uri = stageArtifacts["schema"] { completed.artifacts["schema"] = uri }
            return .stageCompleted(completed)
        case "statistics", "schema":
            var body = object
            body.removeValue(forKey: "event")
            let file = artifacts.appendingPathComponent("\(kind).json")
            guard let data = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), (try? data.write(to: file)) != nil else { return nil }
            stageArtifacts[kind] = file.path
            return nil
        case "epoch_completed":
            var epoch = EpochCompleted()
            epoch.epoch = (object["epoch"] as? NSNumber)?.int32Value ?? 0
            epoch.totalEpochs = totalEpochs
            epoch.loss = number("loss") ?? .nan
            epoch.valLoss = number("val_loss") ?? .nan
            for k: Int32 in [5, 10, 50, 100] { if let v = number("recall_at_\(k)") { epoch.recallAtK[k] = v } }
            if let v = number("examples_per_s") { epoch.metrics["examples_per_s"] = v }
            epoch.durationMs = Int64((number("seconds") ?? 0) * 1000)
            return .epoch(epoch)
        case "completed":
            var metrics: [String: Double] = [:]
            for (key, value) in object["metrics"] as? [String: Any] ?? [:] {
                if let n = value as? NSNumber { metrics[key] = n.doubleValue }
            }
            let bundle = object["bundle"] as? String ?? artifacts.appendingPathComponent("bundle").path
            var files = stageArtifacts
            files["log"] = artifacts.appendingPathComponent("run.log").path
            return .complete(metrics: metrics, artifactURI: bundle, artifacts: files, durationMs: elapsedMs)
        case "failed":
            let stage = (object["stage"] as? String).flatMap(stage(named:))
            return .fail(stage: stage, error: object["error"] as? String ?? "the trainer reported a failure", logTail: logTail(), durationMs: elapsedMs)
        default:
            return nil
        }
    }
}
