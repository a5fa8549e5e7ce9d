import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// The datasets training-svc registered, from its events: feedback is sent to training by a dataset's id or
/// name, and a dataset that does not exist is refused here rather than ignored there.
public struct TrainingDatasetsProjection: Projection {
    public let name = "training_datasets"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "training datasets",
                [
                    "CREATE TABLE training_datasets (dataset_id text PRIMARY KEY, name text NOT NULL, registered_at timestamptz NOT NULL)",
                    "CREATE INDEX training_datasets_by_name ON training_datasets (name)",
                ])
        ]
    }

    public func apply(_ events: [Recorded<TrainingEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            switch recorded.event {
            case .datasetRegistered(let e):
                try await connection.query(
                    """
                    INSERT INTO training_datasets (dataset_id, name, registered_at) VALUES (\(e.datasetID), \(e.name), \(recorded.occurredAt))
                    ON CONFLICT (dataset_id) DO NOTHING
                    """, logger: logger)
            case .featureConfigCreated, .modelConfigCreated, .trainingRunCreated, .trainingRunSubmitted, .trainingRunStarted,
                .trainingRunConfigEdited, .stageStarted, .stageCompleted, .stageFailed, .stageSkipped, .epochCompleted, .trainingRunCompleted,
                .trainingRunFailed, .trainingRunCancelled, .trainingRunDeployRequested, .trainingRunDeployed, .trainingRunDeployFailed:
                break  // datasets never change once registered; runs are training-svc's to show
            }
        }
    }
}
