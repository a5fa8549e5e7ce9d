import Foundation
import Hummingbird
import SlipwayPlatform

public struct StageView: Codable, Sendable {
    public var name: String
    public var status: String
    public var startedAt: Date?
    public var completedAt: Date?
    public var durationSeconds: Double?
    public var details: StageDetails?
    public var error: String?
}

public struct RegistrationView: Codable, Sendable {
    public var modelName: String
    public var version: Int
    public var versionId: String
    public var registeredAt: Date
}

/// A training run as the API shows it (the spec's fields, with Slipway's additions).
public struct RunView: Codable, Sendable {
    public var id: String
    public var runNumber: Int
    public var name: String
    public var displayName: String
    public var description: String
    public var modelType: String
    public var status: String
    public var currentStage: String?
    public var stages: [StageView]
    public var config: RunConfigView
    public var executor: String
    public var metrics: [String: Double]
    public var recallAt5: Double?
    public var recallAt10: Double?
    public var recallAt50: Double?
    public var recallAt100: Double?
    public var isBlessed: Bool?
    public var epochsCompleted: Int
    public var totalEpochs: Int
    public var artifactUri: String?
    public var errorMessage: String?
    public var logTail: String?
    public var failedStage: String?
    public var rerunOf: String?
    /// manual, scheduled or rerun.
    public var trigger: String
    public var scheduleId: String?
    public var scheduleSlot: Date?
    public var registeredModel: RegistrationView?
    public var deployEnabled: Bool
    /// From the `deploy` stage: pending, deploying, deployed, failed or skipped.
    public var deploymentStatus: String
    public var deploymentError: String?
    public var deployedEndpointUrl: String?
    public var deploymentStartedAt: Date?
    public var deploymentCompletedAt: Date?
    public var costUsd: Double
    public var createdBy: String
    public var createdAt: Date
    public var submittedAt: Date?
    public var startedAt: Date?
    public var completedAt: Date?
    public var durationSeconds: Double?
    public var version: Int64
}

/// One epoch of a run (`GET /api/training-runs/{id}/metrics`).
public struct EpochView: Codable, Sendable {
    public var epoch: Int
    public var totalEpochs: Int
    public var loss: Double
    public var valLoss: Double
    public var metrics: [String: Double]
    public var durationSeconds: Double
    public var recordedAt: Date
}

/// `POST /api/training-runs` and `POST …/{id}/submit`: the run, and for an external one its webhook.
struct RunResponse: ResponseEncodable, Decodable {
    var trainingRun: RunView
    var webhook: WebhookInfo?
}

/// `POST /api/training-runs`: the run, and the model's schedule when the wizard's `schedule_config` made one
/// (`training_run` is null when it asked for the schedule alone).
struct CreatedRunResponse: ResponseEncodable, Decodable {
    @Nullable var trainingRun: RunView?
    var webhook: WebhookInfo?
    var schedule: EmbeddedJSON?
}

/// `POST …/{id}/rerun`.
struct RerunResponse: ResponseEncodable, Decodable {
    var success: Bool
    var trainingRun: RunView
    var webhook: WebhookInfo?
    var message: String
}

/// Where and how an external trainer reports (README "Training webhooks"); the token is shown once.
struct WebhookInfo: Codable {
    var url: String
    var token: String
    var kinds: [String]
}

/// `GET /api/training-runs`.
struct RunList: ResponseEncodable, Decodable {
    struct Pagination: Codable {
        var total: Int
        var limit: Int
        var offset: Int
    }

    var trainingRuns: [RunView]
    var pagination: Pagination
}

/// `GET/PATCH …/{id}/config`: the run's settings with its id and name.
struct ConfigResponse: ResponseEncodable {
    struct Config: Encodable {
        var id: String
        var name: String
        var settings: RunConfigView

        func encode(to encoder: any Encoder) throws {
            try settings.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(id, forKey: .id)
            try container.encode(name, forKey: .name)
        }

        enum Keys: String, CodingKey { case id, name }
    }

    var config: Config
    var updatedFields: [String]?
    /// With `schedule_config`: the model's schedule as schedule-svc made or retimed it.
    var schedule: EmbeddedJSON? = nil
}

/// `GET …/{id}/metrics`.
struct MetricsResponse: ResponseEncodable, Decodable {
    var runId: String
    var epochs: [EpochView]
    var final: [String: Double]
}

/// `GET …/{id}/logs`.
struct LogsResponse: ResponseEncodable, Decodable {
    var runId: String
    var lines: [String]
    var totalLines: Int
    var logFile: String?
}

/// A webhook call's answer.
struct WebhookResponse: ResponseEncodable, Decodable {
    var accepted: Bool
    var runId: String
    var status: String
}

/// `GET /api/datasets`.
struct DatasetList: ResponseEncodable, Decodable {
    var datasets: [DatasetView]
}

/// `GET /api/feature-configs`.
struct FeatureConfigList: ResponseEncodable, Decodable {
    var featureConfigs: [FeatureConfigView]
}

/// `GET /api/model-configs`.
struct ModelConfigList: ResponseEncodable, Decodable {
    var modelConfigs: [ModelConfigView]
}

extension RunView: ResponseEncodable {}
extension DatasetView: ResponseEncodable {}
extension FeatureConfigView: ResponseEncodable {}
extension ModelConfigView: ResponseEncodable {}
