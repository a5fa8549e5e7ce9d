import Foundation
import SlipwayContracts

extension TrainingRunDecider {
    /// Which datasets, feature configs and model configs exist, of those a command refers to: looked up
    /// in the read model by the caller (they are written once and never deleted).
    public struct Catalog: Sendable, Equatable {
        public var datasets: Set<String>
        public var featureConfigs: Set<String>
        public var modelConfigs: Set<String>

        public init(datasets: Set<String> = [], featureConfigs: Set<String> = [], modelConfigs: Set<String> = []) {
            self.datasets = datasets
            self.featureConfigs = featureConfigs
            self.modelConfigs = modelConfigs
        }
    }

    /// A run handed to its executor: the webhook token (only its hash is kept) and where its artifacts go.
    public struct Submission: Sendable, Equatable {
        public var tokenSHA256: String
        public var artifactURI: String

        public init(tokenSHA256: String, artifactURI: String) {
            self.tokenSHA256 = tokenSHA256
            self.artifactURI = artifactURI
        }
    }

    /// A new run of a registered model, numbered by the caller (`RunNumbers`); the aggregate id is
    /// `runID(model:number:)`.
    public struct NewRun: Sendable, Equatable {
        /// The registered model the run trains; also the run's name.
        public var model: String
        public var number: Int32
        public var description: String
        /// The API's name; nil is retrieval.
        public var modelType: String?
        /// Applied over the defaults.
        public var settings: RunSettings
        public var catalog: Catalog
        public var createdBy: String
        /// nil leaves the run pending until `submit`.
        public var submission: Submission?

        public init(
            model: String, number: Int32, description: String = "", modelType: String? = nil, settings: RunSettings, catalog: Catalog,
            createdBy: String, submission: Submission?
        ) {
            self.model = model
            self.number = number
            self.description = description
            self.modelType = modelType
            self.settings = settings
            self.catalog = catalog
            self.createdBy = createdBy
            self.submission = submission
        }
    }

    /// A run started by a schedule's slot: the schedule's frozen configuration, numbered by the caller.
    public struct ScheduledRun: Sendable, Equatable {
        public var model: String
        public var number: Int32
        public var config: TrainingRunConfig
        public var scheduleID: String
        public var slot: Date
        public var catalog: Catalog
        public var submission: Submission?

        public init(
            model: String, number: Int32, config: TrainingRunConfig, scheduleID: String, slot: Date, catalog: Catalog, submission: Submission?
        ) {
            self.model = model
            self.number = number
            self.config = config
            self.scheduleID = scheduleID
            self.slot = slot
            self.catalog = catalog
            self.submission = submission
        }
    }

    /// The run a rerun copies, as the read model shows it.
    public struct RerunSource: Sendable, Equatable {
        public var id: String
        public var model: String
        public var number: Int32
        public var status: TrainingRunStatus
        public var modelType: ModelType
        public var config: TrainingRunConfig

        public init(id: String, model: String, number: Int32, status: TrainingRunStatus, modelType: ModelType, config: TrainingRunConfig) {
            self.id = id
            self.model = model
            self.number = number
            self.status = status
            self.modelType = modelType
            self.config = config
        }
    }

    /// A new run as a copy of an ended one (same model, type and configuration), submitted at once.
    public struct Rerun: Sendable, Equatable {
        public var source: RerunSource
        public var number: Int32
        public var catalog: Catalog
        public var createdBy: String
        public var submission: Submission

        public init(source: RerunSource, number: Int32, catalog: Catalog, createdBy: String, submission: Submission) {
            self.source = source
            self.number = number
            self.catalog = catalog
            self.createdBy = createdBy
            self.submission = submission
        }
    }

    /// A trainer's report that a stage started or completed (webhook `stage-complete`, or the local
    /// trainer's output), as reported: the decider checks the stage and status names.
    public struct StageReport: Sendable, Equatable {
        public var stage: String
        /// "started" or "completed"; nil is completed.
        public var status: String?
        public var durationMs: Int64
        public var artifacts: [String: String]
        public var metrics: [String: Double]

        public init(stage: String, status: String? = nil, durationMs: Int64 = 0, artifacts: [String: String] = [:], metrics: [String: Double] = [:]) {
            self.stage = stage
            self.status = status
            self.durationMs = durationMs
            self.artifacts = artifacts
            self.metrics = metrics
        }
    }

    /// A trainer's report of a finished epoch.
    public struct EpochReport: Sendable, Equatable {
        public var epoch: Int
        /// nil: the run's configured epochs.
        public var totalEpochs: Int?
        public var loss: Double
        public var valLoss: Double?
        public var recallAtK: [Int32: Double]
        public var metrics: [String: Double]
        public var durationMs: Int64

        public init(
            epoch: Int, totalEpochs: Int? = nil, loss: Double, valLoss: Double? = nil, recallAtK: [Int32: Double] = [:],
            metrics: [String: Double] = [:],
            durationMs: Int64 = 0
        ) {
            self.epoch = epoch
            self.totalEpochs = totalEpochs
            self.loss = loss
            self.valLoss = valLoss
            self.recallAtK = recallAtK
            self.metrics = metrics
            self.durationMs = durationMs
        }
    }

    /// A trainer's final result: metrics and the bundle. The decider blesses against the run's evaluator config.
    public struct Completion: Sendable, Equatable {
        public var metrics: [String: Double]
        public var artifactURI: String
        public var artifacts: [String: String]
        public var durationMs: Int64
        /// Why the bundle at a local `artifactURI` does not load, when the caller checked it (webhooks do).
        public var bundleProblem: String?

        public init(
            metrics: [String: Double], artifactURI: String, artifacts: [String: String] = [:], durationMs: Int64, bundleProblem: String? = nil
        ) {
            self.metrics = metrics
            self.artifactURI = artifactURI
            self.artifacts = artifacts
            self.durationMs = durationMs
            self.bundleProblem = bundleProblem
        }
    }

    /// A run that cannot go on: the trainer's report, a crash, or the service stopping.
    public struct Failure: Sendable, Equatable {
        /// The stage's API name; nil is the stage in progress.
        public var stage: String?
        public var error: String
        public var logTail: String
        public var durationMs: Int64

        public init(stage: String? = nil, error: String, logTail: String = "", durationMs: Int64 = 0) {
            self.stage = stage
            self.error = error
            self.logTail = logTail
            self.durationMs = durationMs
        }
    }

    /// The registry's version of a completed run, which auto-deploy sends to deploy-svc.
    public struct RegisteredVersion: Sendable, Equatable {
        public var model: String
        public var number: Int32
        public var versionID: String

        public init(model: String, number: Int32, versionID: String) {
            self.model = model
            self.number = number
            self.versionID = versionID
        }
    }

    /// What deploy-svc did with an auto-deploy.
    public enum DeployOutcome: Sendable, Equatable {
        case deployed(endpoint: String, deploymentID: String, url: String)
        case failed(endpoint: String, deploymentID: String, error: String)
    }
}
