import Foundation
import SlipwayContracts

/// One row of `training_runs`.
public struct RunRow: Sendable {
    public var id: String
    public var runNumber: Int
    public var name: String
    public var description: String
    public var modelType: String
    public var status: String
    public var currentStage: String?
    public var config: RunConfigView
    public var executor: String
    public var jobId: String?
    public var artifactUri: String?
    public var tokenSha256: String?
    public var metrics: [String: Double]?
    public var blessed: Bool?
    public var errorMessage: String?
    public var logTail: String?
    public var failedStage: String?
    public var rerunOf: String?
    public var createdBy: String
    public var epochsCompleted: Int
    public var createdAt: Date
    public var submittedAt: Date?
    public var startedAt: Date?
    public var completedAt: Date?
    public var durationMs: Int64?
    public var version: Int64
    /// Set when a schedule's slot started the run.
    public var scheduleID: String?
    public var scheduleSlot: Date?

    /// The status as the decider knows it.
    var runStatus: TrainingRunStatus { TrainingRunStatus(apiName: status) ?? .unspecified }
}
