import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// A training run's life: pending → submitting → running → completed / not_blessed / failed / cancelled,
/// and deploying → deployed / deploy_failed with auto-deploy. A run is `<model>-<number>`: numbers are
/// given by the caller (`RunNumbers`), and a number another creator took is refused as a conflict on
/// `run_number`. Progress reports (stages, epochs) may arrive twice (a webhook retried), so repeats decide nothing.
public enum TrainingRunDecider: Decider {
    public enum Command: Sendable, Equatable {
        case create(NewRun)
        /// A run a schedule's slot starts (schedule-svc's `ScheduleTriggered`), with the schedule's frozen configuration.
        case createScheduled(ScheduledRun)
        case rerun(Rerun)
        /// A pending run goes to its executor.
        case submit(Submission)
        /// The local executor claims a submitted run.
        case start(jobID: String)
        case reportStage(StageReport)
        case reportEpoch(EpochReport)
        case complete(Completion)
        case fail(Failure)
        case cancel(reason: String, by: String)
        /// Only the settings given change; refused while the run is active.
        case editConfig(RunSettings, catalog: Catalog, by: String)
        /// Auto-deploy: the run's registered version goes to deploy-svc (status `deploying`).
        case requestDeploy(RegisteredVersion)
        case recordDeployment(DeployOutcome)
    }

    public struct State: Sendable {
        public var exists = false
        public var status: TrainingRunStatus = .unspecified
        public var created = TrainingRunCreated()
        public var config = TrainingRunConfig()
        public var tokenSHA256 = ""
        public var artifactURI = ""
        public var currentStage: TrainingStage = .unspecified
        public var startedStages: Set<Int> = []
        public var finishedStages: Set<Int> = []
        public var epochs: Set<Int32> = []

        public var isTerminal: Bool { status.isTerminal }
        var isActive: Bool { [.submitting, .running].contains(status) }
    }

    public static let aggregateType = "TrainingRun"
    public static let initial = State()

    /// A run's id, its aggregate id: `<model name>-<run number>`.
    public static func runID(model: String, number: Int32) -> String { "\(model)-\(number)" }

    // MARK: Decide

    public static func decide(_ command: Command, _ state: State) throws -> [TrainingEvent] {
        switch command {
        case .create(let run):
            try requireNew(state, model: run.model, number: run.number)
            try TrainingNames.validate(run.model, field: "name")
            let modelType = try ModelTypes.parse(run.modelType, field: "model_type")
            let config = try run.settings.config(over: nil)
            if modelType != .retrieval && config.executor == Executors.local {
                throw CommandRejected.invalid(
                    "model_type", "the built-in trainer trains retrieval models; use executor 'external' for \(ModelTypes.name(modelType))")
            }
            try checkReferences(config, run.catalog)
            return created(
                model: run.model, number: run.number, description: run.description, modelType: modelType, config: config, rerunOf: "",
                createdBy: run.createdBy, submission: run.submission)

        case .createScheduled(let run):
            try requireNew(state, model: run.model, number: run.number)
            try TrainingNames.validate(run.model, field: "name")
            try checkReferences(run.config, run.catalog)
            // Schedules retrain what the built-in trainer trains: retrieval models (the frozen configuration names no type).
            return created(
                model: run.model, number: run.number, description: "Scheduled run (\(run.scheduleID))", modelType: .retrieval, config: run.config,
                rerunOf: "", createdBy: "schedule:\(run.scheduleID)", submission: run.submission, schedule: (run.scheduleID, run.slot))

        case .rerun(let rerun):
            let source = rerun.source
            try requireNew(state, model: source.model, number: rerun.number)
            guard source.status.isTerminal else {
                throw CommandRejected(
                    .conflict, "only a completed, failed, not_blessed or cancelled run can be rerun; this one is \(source.status.apiName)")
            }
            let config = try RunSettings().config(over: source.config)
            try checkReferences(config, rerun.catalog)
            return created(
                model: source.model, number: rerun.number, description: "Re-run of \(source.model) #\(source.number)", modelType: source.modelType,
                config: config, rerunOf: source.id, createdBy: rerun.createdBy, submission: rerun.submission)

        case .submit(let submission):
            guard state.exists else { throw runNotFound }
            guard state.status == .pending || state.status == .scheduled else {
                throw CommandRejected(.conflict, "only a pending or scheduled run can be submitted; this one is \(state.status.apiName)")
            }
            return [.trainingRunSubmitted(submitted(state.created.runID, state.config, submission))]

        case .start(let jobID):
            guard state.exists else { throw runNotFound }
            guard state.status == .submitting else { throw notIn(state, "started", expected: "submitting") }
            var started = TrainingRunStarted()
            started.runID = state.created.runID
            started.executorJobID = jobID
            return [.trainingRunStarted(started)]

        case .reportStage(let report):
            return try decideStage(report, state)

        case .reportEpoch(let report):
            return try decideEpoch(report, state)

        case .complete(let completion):
            return try decideCompletion(completion, state)

        case .fail(let failure):
            guard !failure.error.isEmpty else { throw CommandRejected.invalid("error", "error must say what failed") }
            let reported = try failure.stage.map { try stage(named: $0, field: "stage") }
            guard state.exists else { throw runNotFound }
            guard !state.isTerminal else { throw notIn(state, "failed", expected: "pending, submitting or running") }
            return failed(state, stage: reported, error: failure.error, logTail: failure.logTail, durationMs: failure.durationMs)

        case .cancel(let reason, let by):
            guard state.exists else { throw runNotFound }
            guard !state.isTerminal else { throw notIn(state, "cancelled", expected: "pending, submitting or running") }
            var cancelled = TrainingRunCancelled()
            cancelled.runID = state.created.runID
            cancelled.reason = reason
            cancelled.cancelledBy = by
            cancelled.previousStatus = state.status
            cancelled.stage = state.currentStage
            if state.created.hasScheduleID { cancelled.scheduleID = state.created.scheduleID }
            return [.trainingRunCancelled(cancelled)]

        case .editConfig(let settings, let catalog, let by):
            guard state.exists else { throw runNotFound }
            let config = try settings.config(over: state.config)
            try checkReferences(config, catalog)
            guard !state.isActive else {
                throw CommandRejected(
                    .conflict, "the configuration of a \(state.status.apiName) run cannot change; cancel it or edit after it ends")
            }
            let fields = settings.givenFields
            guard !fields.isEmpty else { return [] }
            var edited = TrainingRunConfigEdited()
            edited.runID = state.created.runID
            edited.config = config
            edited.updatedFields = fields
            edited.editedBy = by
            return [.trainingRunConfigEdited(edited)]

        case .requestDeploy(let version):
            guard state.exists else { throw runNotFound }
            guard state.status == .completed, state.config.deploymentConfig.enabled else {
                throw notIn(state, "deployed automatically", expected: "completed run with auto-deploy on; a")
            }
            let runID = state.created.runID
            var requested = TrainingRunDeployRequested()
            requested.runID = runID
            requested.registeredModelID = version.model
            requested.versionNumber = version.number
            requested.modelVersionID = version.versionID
            requested.deploymentConfig = state.config.deploymentConfig
            return [.stageStarted(stageStarted(runID, .deploy)), .trainingRunDeployRequested(requested)]

        case .recordDeployment(let outcome):
            guard state.exists else { throw runNotFound }
            // A late or repeated outcome changes nothing: the run's deployment has ended.
            guard state.status == .deploying else { return [] }
            let runID = state.created.runID
            switch outcome {
            case .deployed(let endpoint, let deploymentID, let url):
                var deployed = TrainingRunDeployed()
                deployed.runID = runID
                deployed.endpointID = endpoint
                deployed.endpointName = endpoint
                deployed.deploymentID = deploymentID
                deployed.endpointURL = url
                var completed = StageCompleted()
                completed.runID = runID
                completed.stage = .deploy
                completed.artifacts = ["endpoint": url]
                return [.stageCompleted(completed), .trainingRunDeployed(deployed)]
            case .failed(let endpoint, let deploymentID, let error):
                var failed = TrainingRunDeployFailed()
                failed.runID = runID
                failed.endpointID = endpoint
                failed.deploymentID = deploymentID
                failed.error = error
                var stageFailed = StageFailed()
                stageFailed.runID = runID
                stageFailed.stage = .deploy
                stageFailed.error = error
                return [.stageFailed(stageFailed), .trainingRunDeployFailed(failed)]
            }
        }
    }

    private static func decideStage(_ report: StageReport, _ state: State) throws -> [TrainingEvent] {
        let stage = try stage(named: report.stage, field: "stage")
        let completes: Bool
        switch report.status ?? "completed" {
        case "started": completes = false
        case "completed": completes = true
        default: throw CommandRejected.invalid("status", "status must be started or completed")
        }
        var events = try progress(state)
        let runID = state.created.runID
        if completes {
            guard !state.finishedStages.contains(stage.rawValue) else { return [] }
            var completed = StageCompleted()
            completed.runID = runID
            completed.stage = stage
            completed.durationMs = report.durationMs
            completed.artifacts = report.artifacts
            completed.metrics = report.metrics
            events.append(.stageCompleted(completed))
        } else {
            guard !state.startedStages.contains(stage.rawValue), !state.finishedStages.contains(stage.rawValue) else { return [] }
            events.append(.stageStarted(stageStarted(runID, stage)))
        }
        return events
    }

    private static func decideEpoch(_ report: EpochReport, _ state: State) throws -> [TrainingEvent] {
        guard report.epoch >= 1 else { throw CommandRejected.invalid("epoch", "epoch must be at least 1") }
        guard report.loss.isFinite else { throw CommandRejected.invalid("loss", "loss must be a finite number") }
        var events = try progress(state)
        let number = Int32(clamping: report.epoch)
        guard !state.epochs.contains(number) else { return [] }
        var epoch = EpochCompleted()
        epoch.runID = state.created.runID
        epoch.epoch = number
        epoch.totalEpochs = report.totalEpochs.map { Int32(clamping: $0) } ?? state.config.trainingParams.epochs
        epoch.loss = report.loss
        epoch.valLoss = report.valLoss ?? .nan
        epoch.recallAtK = report.recallAtK
        epoch.metrics = report.metrics
        epoch.durationMs = report.durationMs
        events.append(.epochCompleted(epoch))
        return events
    }

    private static func decideCompletion(_ completion: Completion, _ state: State) throws -> [TrainingEvent] {
        guard !completion.metrics.isEmpty else {
            throw CommandRejected.invalid("metrics", "metrics must hold the final metrics, e.g. recall_at_100")
        }
        let uri = completion.artifactURI
        if !(uri.hasPrefix("/") || uri.hasPrefix("file://")), !uri.contains("://") {
            throw CommandRejected.invalid("artifact_uri", "artifact_uri must be an absolute path or a URI")
        }
        if let problem = completion.bundleProblem {
            throw CommandRejected.invalid("artifact_uri", "artifact_uri is not a loadable model bundle: \(problem)")
        }
        var events = try progress(state)
        let runID = state.created.runID
        let metrics = completion.metrics
        let blessed = state.config.blessing(of: metrics)
        let register = blessed && !state.config.skipAutoRegister
        if register {
            events.append(.stageStarted(stageStarted(runID, .register)))
        } else {
            let reason = blessed ? "auto-registration is off: push the run to the registry" : "not blessed: \(blessingNote(state.config, metrics))"
            events.append(.stageSkipped(skipped(runID, .register, reason)))
        }
        if !state.config.deploymentConfig.enabled {
            events.append(.stageSkipped(skipped(runID, .deploy, "auto-deploy is disabled")))
        } else if !register {
            events.append(.stageSkipped(skipped(runID, .deploy, "nothing to deploy: the run registers no version")))
        }
        var completed = TrainingRunCompleted()
        completed.runID = runID
        completed.metrics = metrics
        completed.blessed = blessed
        completed.blessingMetric = state.config.evaluatorConfig.blessingMetric
        completed.blessingThreshold = state.config.evaluatorConfig.blessingThreshold
        completed.artifactUri = completion.artifactURI
        completed.artifacts = completion.artifacts
        completed.durationMs = completion.durationMs
        completed.epochsCompleted = Int32(state.epochs.count)
        completed.modelName = state.created.modelName
        completed.registeredModelID = state.created.modelName
        completed.modelType = state.created.modelType
        completed.runNumber = state.created.runNumber
        completed.config = state.config
        if state.created.hasScheduleID { completed.scheduleID = state.created.scheduleID }
        events.append(.trainingRunCompleted(completed))
        return events
    }

    // MARK: Events

    private static func created(
        model: String, number: Int32, description: String, modelType: ModelType, config: TrainingRunConfig, rerunOf: String, createdBy: String,
        submission: Submission?, schedule: (id: String, slot: Date)? = nil
    ) -> [TrainingEvent] {
        var created = TrainingRunCreated()
        created.runID = runID(model: model, number: number)
        created.runNumber = number
        created.name = model
        created.modelName = model
        created.descriptionText = description
        created.modelType = modelType
        created.config = config
        created.createdBy = createdBy
        created.rerunOfRunID = rerunOf
        if let schedule {
            created.scheduleID = schedule.id
            created.scheduleSlot = .init(date: schedule.slot)
        }
        var events: [TrainingEvent] = [.trainingRunCreated(created)]
        if let submission { events.append(.trainingRunSubmitted(submitted(created.runID, config, submission))) }
        return events
    }

    private static func submitted(_ runID: String, _ config: TrainingRunConfig, _ submission: Submission) -> TrainingRunSubmitted {
        var submitted = TrainingRunSubmitted()
        submitted.runID = runID
        submitted.executor = config.executor.isEmpty ? Executors.local : config.executor
        submitted.tokenSha256 = submission.tokenSHA256
        submitted.artifactUri = submission.artifactURI
        return submitted
    }

    private static func failed(_ state: State, stage: TrainingStage?, error: String, logTail: String, durationMs: Int64) -> [TrainingEvent] {
        let runID = state.created.runID
        let failedStage = stage ?? (state.currentStage == .unspecified ? .compile : state.currentStage)
        var stageFailed = StageFailed()
        stageFailed.runID = runID
        stageFailed.stage = failedStage
        stageFailed.error = error
        stageFailed.logTail = logTail
        var failed = TrainingRunFailed()
        failed.runID = runID
        failed.stage = failedStage
        failed.error = error
        failed.logTail = logTail
        failed.durationMs = durationMs
        if state.created.hasScheduleID { failed.scheduleID = state.created.scheduleID }
        return [.stageFailed(stageFailed), .trainingRunFailed(failed)]
    }

    private static func stageStarted(_ runID: String, _ stage: TrainingStage) -> StageStarted {
        var started = StageStarted()
        started.runID = runID
        started.stage = stage
        started.attempt = 1
        return started
    }

    private static func skipped(_ runID: String, _ stage: TrainingStage, _ reason: String) -> StageSkipped {
        var skipped = StageSkipped()
        skipped.runID = runID
        skipped.stage = stage
        skipped.reason = reason
        return skipped
    }

    // MARK: Rules

    /// The number another creator took: the caller numbers again (`RunNumbers`), the client never sees it.
    static func requireNew(_ state: State, model: String, number: Int32) throws {
        guard !state.exists else {
            throw CommandRejected(.conflict, field: numberTakenField, "training run \(runID(model: model, number: number)) already exists")
        }
    }

    /// The field of the rejection `requireNew` gives.
    static let numberTakenField = "run_number"

    static let runNotFound = CommandRejected(.notFound, "no such training run")

    static func checkReferences(_ config: TrainingRunConfig, _ catalog: Catalog) throws {
        guard catalog.datasets.contains(config.datasetID) else {
            throw CommandRejected.invalid("dataset_id", "no dataset '\(config.datasetID)'")
        }
        guard catalog.featureConfigs.contains(config.featureConfigID) else {
            throw CommandRejected.invalid("feature_config_id", "no feature config '\(config.featureConfigID)'")
        }
        guard catalog.modelConfigs.contains(config.modelConfigID) else {
            throw CommandRejected.invalid("model_config_id", "no model config '\(config.modelConfigID)'")
        }
    }

    static func stage(named name: String, field: String) throws -> TrainingStage {
        guard let stage = TrainingStage(apiName: name) else {
            throw CommandRejected.invalid(field, "\(field) must be one of \(TrainingStage.pipeline.map(\.apiName).joined(separator: ", "))")
        }
        return stage
    }

    /// Progress may arrive for a running run; an external trainer's first report also starts it.
    static func progress(_ state: State) throws -> [TrainingEvent] {
        guard state.exists else { throw runNotFound }
        switch state.status {
        case .running: return []
        case .submitting:
            var started = TrainingRunStarted()
            started.runID = state.created.runID
            started.executorJobID = state.config.executor
            return [.trainingRunStarted(started)]
        default: throw notIn(state, "updated", expected: "running")
        }
    }

    static func blessingNote(_ config: TrainingRunConfig, _ metrics: [String: Double]) -> String {
        let metric = config.evaluator.blessingMetric
        guard let value = metrics[metric] else { return "metric \(metric) was not reported" }
        guard value >= config.evaluatorConfig.blessingThreshold else {
            return "\(metric) \(String(format: "%.4f", value)) < threshold \(config.evaluatorConfig.blessingThreshold)"
        }
        return String(
            format: "recall_at_10 %.4f does not beat the popularity baseline's %.4f (evaluator_config.allow_below_popularity forces it)",
            metrics["recall_at_10"] ?? 0, metrics["popularity_recall_at_10"] ?? 0)
    }

    static func notIn(_ state: State, _ verb: String, expected: String) -> CommandRejected {
        CommandRejected(.conflict, "training run is \(state.status.apiName); only a \(expected) run can be \(verb)")
    }

    // MARK: Evolve

    public static func evolve(_ state: State, _ event: TrainingEvent) -> State {
        var state = state
        switch event {
        case .trainingRunCreated(let created):
            state.exists = true
            state.created = created
            state.config = created.config
            state.status = created.hasScheduleID ? .scheduled : .pending
        case .trainingRunSubmitted(let submitted):
            state.status = .submitting
            state.tokenSHA256 = submitted.tokenSha256
            state.artifactURI = submitted.artifactUri
        case .trainingRunStarted:
            state.status = .running
        case .trainingRunConfigEdited(let edited):
            state.config = edited.config
        case .stageStarted(let started):
            state.startedStages.insert(started.stage.rawValue)
            state.currentStage = started.stage
        case .stageCompleted(let completed):
            state.finishedStages.insert(completed.stage.rawValue)
            state.currentStage = completed.stage
        case .stageSkipped(let skipped):
            state.finishedStages.insert(skipped.stage.rawValue)
        case .epochCompleted(let epoch):
            state.epochs.insert(epoch.epoch)
        case .trainingRunCompleted(let completed):
            state.status = completed.blessed ? .completed : .notBlessed
        case .trainingRunFailed:
            state.status = .failed
        case .trainingRunCancelled:
            state.status = .cancelled
        case .trainingRunDeployRequested:
            state.status = .deploying
        case .trainingRunDeployed:
            state.status = .deployed
        case .trainingRunDeployFailed:
            state.status = .deployFailed
        case .stageFailed:
            break  // always followed by TrainingRunFailed, which ends the run
        case .datasetRegistered, .featureConfigCreated, .modelConfigCreated:
            break  // not a run's: datasets and configs are aggregates of their own
        }
        return state
    }
}
