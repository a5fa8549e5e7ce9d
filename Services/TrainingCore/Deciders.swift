import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// Datasets, feature configs and model configs are written once and never change (a run that used one
/// can always be rerun as it was), so their deciders only refuse a second creation.
public protocol CreateOnceDecider: Decider where Command == TrainingEvent, Event == TrainingEvent, State == Bool {
    static var noun: String { get }
}

extension CreateOnceDecider {
    public static var initial: Bool { false }
    public static func decide(_ command: TrainingEvent, _ exists: Bool) throws -> [TrainingEvent] {
        guard !exists else { throw CommandRejected(.conflict, field: "name", "a \(noun) with this name already exists") }
        return [command]
    }
    public static func evolve(_ exists: Bool, _ event: TrainingEvent) -> Bool { true }
}

public enum DatasetDecider: CreateOnceDecider {
    public static let aggregateType = "Dataset"
    public static let noun = "dataset"
}

public enum FeatureConfigDecider: CreateOnceDecider {
    public static let aggregateType = "FeatureConfig"
    public static let noun = "feature config"
}

public enum ModelConfigDecider: CreateOnceDecider {
    public static let aggregateType = "ModelConfig"
    public static let noun = "model config"
}

/// A training run's life: pending → submitting → running → completed / not_blessed / failed / cancelled.
/// Progress reports (stages, epochs) may arrive twice (a webhook retried), so repeats decide nothing.
public enum TrainingRunDecider: Decider {

    public enum Command: Sendable {
        case create(TrainingRunCreated, submit: TrainingRunSubmitted?)
        case submit(TrainingRunSubmitted)
        case start(jobID: String)
        case stageStarted(TrainingStage)
        case stageCompleted(StageCompleted)
        case epoch(EpochCompleted)
        /// Final metrics and the bundle; the decider blesses against the run's evaluator config.
        case complete(metrics: [String: Double], artifactURI: String, artifacts: [String: String], durationMs: Int64)
        case fail(stage: TrainingStage?, error: String, logTail: String, durationMs: Int64)
        case cancel(reason: String, by: String)
        case editConfig(TrainingRunConfig, fields: [String], by: String)
        /// Auto-deploy: the run's registered version goes to deploy-svc (status `deploying`).
        case requestDeploy(TrainingRunDeployRequested)
        case deployed(TrainingRunDeployed)
        case deployFailed(TrainingRunDeployFailed)
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

        public var isTerminal: Bool { [.completed, .notBlessed, .failed, .cancelled, .deploying, .deployed, .deployFailed].contains(status) }
        var isActive: Bool { [.submitting, .running].contains(status) }
    }

    public static let aggregateType = "TrainingRun"
    public static let initial = State()

    public static func decide(_ command: Command, _ state: State) throws -> [TrainingEvent] {
        if case .create(let created, let submit) = command {
            guard !state.exists else { throw CommandRejected(.conflict, "training run \(created.runID) already exists") }
            return [.trainingRunCreated(created)] + (submit.map { [.trainingRunSubmitted($0)] } ?? [])
        }
        guard state.exists else { throw CommandRejected(.notFound, "no such training run") }
        let runID = state.created.runID
        switch command {
        case .create:
            return []
        case .submit(let submitted):
            guard state.status == .pending else { throw notIn(state, "submitted", expected: "pending") }
            return [.trainingRunSubmitted(submitted)]
        case .start(let jobID):
            guard state.status == .submitting else { throw notIn(state, "started", expected: "submitting") }
            var started = TrainingRunStarted()
            started.runID = runID
            started.executorJobID = jobID
            return [.trainingRunStarted(started)]
        case .stageStarted(let stage):
            var events = try progress(state)
            guard !state.startedStages.contains(stage.rawValue), !state.finishedStages.contains(stage.rawValue) else { return [] }
            var started = StageStarted()
            started.runID = runID
            started.stage = stage
            started.attempt = 1
            events.append(.stageStarted(started))
            return events
        case .stageCompleted(var completed):
            var events = try progress(state)
            guard !state.finishedStages.contains(completed.stage.rawValue) else { return [] }
            completed.runID = runID
            events.append(.stageCompleted(completed))
            return events
        case .epoch(var epoch):
            var events = try progress(state)
            guard !state.epochs.contains(epoch.epoch) else { return [] }
            epoch.runID = runID
            events.append(.epochCompleted(epoch))
            return events
        case .complete(let metrics, let artifactURI, let artifacts, let durationMs):
            var events = try progress(state)
            let blessed = state.config.blessing(of: metrics)
            let register = blessed && !state.config.skipAutoRegister
            if register {
                var started = StageStarted()
                started.runID = runID
                started.stage = .register
                started.attempt = 1
                events.append(.stageStarted(started))
            } else {
                events.append(.stageSkipped(skipped(runID, .register, blessed ? "auto-registration is off: push the run to the registry"
                                                                        : "not blessed: \(blessingNote(state.config, metrics))")))
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
            completed.artifactUri = artifactURI
            completed.artifacts = artifacts
            completed.durationMs = durationMs
            completed.epochsCompleted = Int32(state.epochs.count)
            completed.modelName = state.created.modelName
            completed.registeredModelID = state.created.modelName
            completed.modelType = state.created.modelType
            completed.runNumber = state.created.runNumber
            completed.config = state.config
            if state.created.hasScheduleID { completed.scheduleID = state.created.scheduleID }
            events.append(.trainingRunCompleted(completed))
            return events
        case .requestDeploy(var requested):
            guard state.status == .completed, state.config.deploymentConfig.enabled else {
                throw notIn(state, "deployed automatically", expected: "completed run with auto-deploy on; a")
            }
            requested.runID = runID
            requested.deploymentConfig = state.config.deploymentConfig
            var started = StageStarted()
            started.runID = runID
            started.stage = .deploy
            started.attempt = 1
            return [.stageStarted(started), .trainingRunDeployRequested(requested)]
        case .deployed(var deployed):
            guard state.status == .deploying else { return [] }
            deployed.runID = runID
            var completed = StageCompleted()
            completed.runID = runID
            completed.stage = .deploy
            completed.artifacts = ["endpoint": deployed.endpointURL]
            return [.stageCompleted(completed), .trainingRunDeployed(deployed)]
        case .deployFailed(var failed):
            guard state.status == .deploying else { return [] }
            failed.runID = runID
            var stageFailed = StageFailed()
            stageFailed.runID = runID
            stageFailed.stage = .deploy
            stageFailed.error = failed.error
            return [.stageFailed(stageFailed), .trainingRunDeployFailed(failed)]
        case .fail(let stage, let error, let logTail, let durationMs):
            guard !state.isTerminal else { throw notIn(state, "failed", expected: "pending, submitting or running") }
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
        case .cancel(let reason, let by):
            guard !state.isTerminal else { throw notIn(state, "cancelled", expected: "pending, submitting or running") }
            var cancelled = TrainingRunCancelled()
            cancelled.runID = runID
            cancelled.reason = reason
            cancelled.cancelledBy = by
            cancelled.previousStatus = state.status
            cancelled.stage = state.currentStage
            if state.created.hasScheduleID { cancelled.scheduleID = state.created.scheduleID }
            return [.trainingRunCancelled(cancelled)]
        case .editConfig(let config, let fields, let by):
            guard !state.isActive else {
                throw CommandRejected(.conflict, "the configuration of a \(statusName(state.status)) run cannot change; cancel it or edit after it ends")
            }
            guard !fields.isEmpty else { return [] }
            var edited = TrainingRunConfigEdited()
            edited.runID = runID
            edited.config = config
            edited.updatedFields = fields
            edited.editedBy = by
            return [.trainingRunConfigEdited(edited)]
        }
    }

    /// Progress may arrive for a running run; an external trainer's first report also starts it.
    static func progress(_ state: State) throws -> [TrainingEvent] {
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

    static func skipped(_ runID: String, _ stage: TrainingStage, _ reason: String) -> StageSkipped {
        var skipped = StageSkipped()
        skipped.runID = runID
        skipped.stage = stage
        skipped.reason = reason
        return skipped
    }

    static func blessingNote(_ config: TrainingRunConfig, _ metrics: [String: Double]) -> String {
        let metric = config.evaluatorConfig.blessingMetric
        guard let value = metrics[metric] else { return "metric \(metric) was not reported" }
        return "\(metric) \(String(format: "%.4f", value)) < threshold \(config.evaluatorConfig.blessingThreshold)"
    }

    static func notIn(_ state: State, _ verb: String, expected: String) -> CommandRejected {
        CommandRejected(.conflict, "training run is \(statusName(state.status)); only a \(expected) run can be \(verb)")
    }

    public static func evolve(_ state: State, _ event: TrainingEvent) -> State {
        var state = state
        switch event {
        case .trainingRunCreated(let created):
            state.exists = true
            state.created = created
            state.config = created.config
            state.status = .pending
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

/// The API's status words (the spec's).
func statusName(_ status: TrainingRunStatus) -> String {
    switch status {
    case .pending: "pending"
    case .scheduled: "scheduled"
    case .submitting: "submitting"
    case .running: "running"
    case .completed: "completed"
    case .failed: "failed"
    case .cancelled: "cancelled"
    case .notBlessed: "not_blessed"
    case .deploying: "deploying"
    case .deployed: "deployed"
    case .deployFailed: "deploy_failed"
    default: "unknown"
    }
}

/// The nine stages in pipeline order, with the API's names.
public let pipelineStages: [(stage: TrainingStage, name: String)] = [
    (.compile, "compile"), (.examples, "examples"), (.stats, "stats"), (.schema, "schema"), (.transform, "transform"),
    (.train, "train"), (.evaluate, "evaluate"), (.register, "register"), (.deploy, "deploy"),
]

func stageName(_ stage: TrainingStage) -> String { pipelineStages.first { $0.stage == stage }?.name ?? "unknown" }
func stage(named name: String) -> TrainingStage? { pipelineStages.first { $0.name == name }?.stage }
