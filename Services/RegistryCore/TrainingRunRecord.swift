import Foundation
import Logging
import NIOCore
import PostgresNIO
import SlipwayContracts

/// One row of `training_runs_seen`: what the registry knows of a training run, enough to register it
/// as a version later (the push route) without asking training-svc.
public struct TrainingRunRecord: Sendable, Equatable {
    public enum Status: String, Sendable {
        case created, completed, notBlessed = "not_blessed", failed, cancelled
    }

    public var runID: String
    public var modelName: String
    public var modelType: ModelType
    public var runNumber: Int32
    public var status: Status
    public var metrics: [String: Double]
    public var blessed: Bool
    public var artifactURI: String
    public var lineage: RunLineage
    public var trainingConfig: Data
    public var skipAutoRegister: Bool
    public var createdBy: String
    public var completedAt: Date?

    /// The registration command's view of this run.
    public var completedRun: RegisteredModelDecider.CompletedRun {
        RegisteredModelDecider.CompletedRun(
            modelName: modelName, modelType: modelType, runID: runID, runNumber: runNumber, artifactURI: artifactURI,
            metrics: metrics, blessed: blessed, datasetID: lineage.datasetId, featureConfigID: lineage.featureConfigId,
            modelConfigID: lineage.modelConfigId, scheduleID: lineage.scheduleId, trainingConfig: trainingConfig,
            artifacts: lineage.artifacts, createdBy: createdBy)
    }

    static func select(runID: String) -> PostgresQuery {
        """
        SELECT run_id, model_name, model_type, run_number, status, metrics::text, blessed, artifact_uri, lineage::text,
               training_config, skip_auto_register, created_by, completed_at
        FROM training_runs_seen WHERE run_id = \(runID)
        """
    }

    static func decode(_ rows: PostgresRowSequence) async throws -> [TrainingRunRecord] {
        var records: [TrainingRunRecord] = []
        for try await (runID, modelName, modelType, runNumber, status, metrics, blessed, artifactURI, lineage, config, skip, createdBy, completedAt)
            in rows.decode((String, String, String, Int32, String, String, Bool, String, String, ByteBuffer, Bool, String, Date?).self)
        {
            records.append(
                TrainingRunRecord(
                    runID: runID, modelName: modelName, modelType: ModelType(apiName: modelType) ?? .unspecified, runNumber: runNumber,
                    status: Status(rawValue: status) ?? .created, metrics: try JSONText.decode([String: Double].self, from: metrics),
                    blessed: blessed, artifactURI: artifactURI, lineage: try JSONText.decode(RunLineage.self, from: lineage),
                    trainingConfig: Data(config.readableBytesView), skipAutoRegister: skip, createdBy: createdBy, completedAt: completedAt))
        }
        return records
    }
}

/// The `lineage` column of `training_runs_seen`: the run's inputs, copied into a version's lineage.
public struct RunLineage: Codable, Sendable, Equatable {
    public var datasetId: String
    public var featureConfigId: String
    public var modelConfigId: String
    public var scheduleId: String
    public var artifacts: [String: String]

    init(config: TrainingRunConfig, scheduleID: String, artifacts: [String: String]) {
        datasetId = config.datasetID
        featureConfigId = config.featureConfigID
        modelConfigId = config.modelConfigID
        self.scheduleId = scheduleID
        self.artifacts = artifacts
    }
}
