import Foundation
import Logging
import NIOCore
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SwiftProtobuf

/// training-svc's runs as the registry needs them (`training_runs_seen`), and the registry's
/// reactions to them: a created run makes its model exist ("pending"), a blessed completed run becomes
/// the model's next version unless the run asked to be registered only by an explicit push.
///
/// Why the reactions run inside `apply` rather than in a separate worker: they must follow the events
/// in order and exactly when the projection sees them, and the commands are idempotent (`ensureExists`;
/// a registered source run yields no events), so at-least-once is enough. Each reaction commits in its own transaction
/// through the event store before the projector commits this batch's checkpoint. If the checkpoint
/// commit is lost, the batch is applied again and the reactions decide to do nothing; if a reaction
/// fails for infrastructure reasons the whole batch rolls back and is retried. A reaction the
/// decider rejects (a name the registry cannot accept) would fail forever, so it is logged and
/// skipped instead of blocking the projection. The reactions touch only the registry's own tables,
/// never `training_runs_seen`, so the two transactions cannot wait on each other's locks.
public struct TrainingRunsProjection: Projection {
    public let name = "training_runs"
    /// Where the reactions' commands go: the registry's own event store.
    let store: EventStore
    /// Reactions belong to the live read model only: a replay rebuilds these rows into a scratch
    /// schema and must not command anything.
    let liveSchema: String

    public init(store: EventStore, liveSchema: String = "public") {
        self.store = store
        self.liveSchema = liveSchema
    }

    public var migrations: [Migration] {
        [
            Migration(
                1, "training runs seen",
                [
                    """
                    CREATE TABLE training_runs_seen (
                        run_id text PRIMARY KEY,
                        model_name text NOT NULL,
                        model_type text NOT NULL,
                        run_number integer NOT NULL,
                        status text NOT NULL,
                        metrics jsonb NOT NULL DEFAULT '{}',
                        blessed boolean NOT NULL DEFAULT false,
                        artifact_uri text NOT NULL DEFAULT '',
                        lineage jsonb NOT NULL DEFAULT '{}',
                        training_config bytea NOT NULL DEFAULT '',
                        skip_auto_register boolean NOT NULL DEFAULT false,
                        created_by text NOT NULL DEFAULT '',
                        created_at timestamptz,
                        completed_at timestamptz)
                    """,
                    "CREATE INDEX training_runs_seen_model ON training_runs_seen (model_name, completed_at)",
                ]),
            // A model's latest finished run (its pending / not_blessed status) without sorting all of its runs.
            Migration(
                2, "latest outcome per model",
                [
                    """
                    CREATE INDEX training_runs_seen_outcome ON training_runs_seen (model_name, completed_at DESC NULLS LAST, run_number DESC)
                    WHERE status IN ('completed', 'not_blessed')
                    """
                ]),
        ]
    }

    enum Reaction {
        case ensureModel(RegisteredModelDecider.NewModel)
        case register(runID: String)
    }

    public func apply(_ events: [Recorded<TrainingEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        var reactions: [(Recorded<TrainingEvent>, Reaction)] = []
        for recorded in events {
            if let reaction = try await applyOne(recorded, on: connection, logger: logger) {
                reactions.append((recorded, reaction))
            }
        }
        guard !reactions.isEmpty, try await connection.isLiveSchema(liveSchema, logger: logger) else { return }
        // The batch's reactions commit together (in order, see `EventStore.executeAll`).
        var commands: [(aggregateID: String, command: RegisteredModelDecider.Command, metadata: CommandMetadata)] = []
        var causes: [Recorded<TrainingEvent>] = []
        for (recorded, reaction) in reactions {
            guard let (model, command) = try await command(for: reaction, on: connection, logger: logger) else { continue }
            let metadata = CommandMetadata(reactingTo: recorded, reactor: "registry-svc")
            commands.append((model, command, metadata))
            causes.append(recorded)
        }
        for ((cause, command), result) in zip(zip(causes, commands), await store.executeAll(RegisteredModelDecider.self, commands)) {
            switch result {
            case .success:
                break
            case .failure(let rejected as CommandRejected):
                logger.warning(
                    "training event not applied to the registry",
                    metadata: [
                        LogKey.eventID: "\(cause.eventID)", LogKey.aggregateID: "\(command.aggregateID)", LogKey.error: "\(rejected.message)",
                    ])
            case .failure(let error):
                throw error  // infrastructure: the projector retries the batch
            }
        }
    }

    private func applyOne(_ recorded: Recorded<TrainingEvent>, on connection: PostgresConnection, logger: Logger) async throws -> Reaction? {
        let at = recorded.occurredAt
        switch recorded.event {
        case .trainingRunCreated(let created):
            let scheduleID = created.hasScheduleID ? created.scheduleID : ""
            let lineage = RunLineage(config: created.config, scheduleID: scheduleID, artifacts: [:])
            let config: [UInt8] = created.hasConfig ? try created.config.serializedBytes() : []
            try await connection.query(
                """
                INSERT INTO training_runs_seen (run_id, model_name, model_type, run_number, status, lineage, training_config,
                                                skip_auto_register, created_by, created_at)
                VALUES (\(created.runID), \(created.modelName), \(created.modelType.apiName), \(created.runNumber), 'created',
                        \(try JSONText.encode(lineage))::jsonb, \(ByteBuffer(bytes: config)), \(created.config.skipAutoRegister),
                        \(created.createdBy), \(at))
                ON CONFLICT (run_id) DO NOTHING
                """, logger: logger)
            guard !created.modelName.isEmpty else { return nil }
            return .ensureModel(
                RegisteredModelDecider.NewModel(
                    name: created.modelName, modelType: Self.assumedType(created.modelType), createdBy: created.createdBy))

        case .trainingRunConfigEdited(let edited):
            let config: [UInt8] = try edited.config.serializedBytes()
            try await connection.query(
                """
                UPDATE training_runs_seen SET
                    training_config = \(ByteBuffer(bytes: config)), skip_auto_register = \(edited.config.skipAutoRegister),
                    lineage = lineage || jsonb_build_object('dataset_id', \(edited.config.datasetID)::text,
                                                            'feature_config_id', \(edited.config.featureConfigID)::text,
                                                            'model_config_id', \(edited.config.modelConfigID)::text)
                WHERE run_id = \(edited.runID)
                """, logger: logger)
            return nil

        case .trainingRunCompleted(let completed):
            let scheduleID = completed.hasScheduleID ? completed.scheduleID : ""
            let lineage = RunLineage(config: completed.config, scheduleID: scheduleID, artifacts: completed.artifacts)
            let config: [UInt8] = completed.hasConfig ? try completed.config.serializedBytes() : []
            let status: TrainingRunRecord.Status = completed.blessed ? .completed : .notBlessed
            // The completed event repeats the run's identity (denormalised for us); where it is empty the
            // created event's values stay.
            try await connection.query(
                """
                INSERT INTO training_runs_seen (run_id, model_name, model_type, run_number, status, metrics, blessed, artifact_uri,
                                                lineage, training_config, skip_auto_register, completed_at)
                VALUES (\(completed.runID), \(completed.modelName), \(completed.modelType.apiName), \(completed.runNumber),
                        \(status.rawValue), \(try JSONText.metrics(completed.metrics))::jsonb, \(completed.blessed),
                        \(completed.artifactUri), \(try JSONText.encode(lineage))::jsonb, \(ByteBuffer(bytes: config)),
                        \(completed.config.skipAutoRegister), \(at))
                ON CONFLICT (run_id) DO UPDATE SET
                    model_name = CASE WHEN EXCLUDED.model_name = '' THEN training_runs_seen.model_name ELSE EXCLUDED.model_name END,
                    model_type = CASE WHEN EXCLUDED.model_type = 'unspecified' THEN training_runs_seen.model_type ELSE EXCLUDED.model_type END,
                    run_number = CASE WHEN EXCLUDED.run_number = 0 THEN training_runs_seen.run_number ELSE EXCLUDED.run_number END,
                    status = EXCLUDED.status, metrics = EXCLUDED.metrics, blessed = EXCLUDED.blessed,
                    artifact_uri = EXCLUDED.artifact_uri, lineage = EXCLUDED.lineage,
                    training_config = CASE WHEN \(completed.hasConfig) THEN EXCLUDED.training_config ELSE training_runs_seen.training_config END,
                    skip_auto_register = CASE WHEN \(completed.hasConfig) THEN EXCLUDED.skip_auto_register ELSE training_runs_seen.skip_auto_register END,
                    completed_at = EXCLUDED.completed_at
                """, logger: logger)
            return completed.blessed ? .register(runID: completed.runID) : nil

        case .trainingRunFailed(let failed):
            try await finish(failed.runID, as: .failed, at: at, on: connection, logger: logger)
            return nil

        case .trainingRunCancelled(let cancelled):
            try await finish(cancelled.runID, as: .cancelled, at: at, on: connection, logger: logger)
            return nil

        case .datasetRegistered, .featureConfigCreated, .modelConfigCreated, .trainingRunSubmitted, .trainingRunStarted,
            .stageStarted, .stageCompleted, .stageFailed, .stageSkipped, .epochCompleted, .trainingRunDeployRequested,
            .trainingRunDeployed, .trainingRunDeployFailed:
            return nil  // progress and deployment do not change what the registry knows of a run
        }
    }

    private func finish(_ runID: String, as status: TrainingRunRecord.Status, at: Date, on connection: PostgresConnection, logger: Logger)
        async throws
    {
        try await connection.query(
            """
            UPDATE training_runs_seen SET status = \(status.rawValue), completed_at = \(at) WHERE run_id = \(runID)
            """, logger: logger)
    }

    /// The command a reaction needs, or nil when there is nothing to do: a model that exists already (the
    /// read model, updated with the registry's own events, says so) or a run that registers only by a push.
    private func command(for reaction: Reaction, on connection: PostgresConnection, logger: Logger) async throws
        -> (model: String, command: RegisteredModelDecider.Command)?
    {
        switch reaction {
        case .ensureModel(let model):
            let rows = try await connection.query("SELECT 1 FROM registered_models WHERE name = \(model.name)", logger: logger)
            for try await _ in rows { return nil }
            return (model.name, .ensureExists(model))
        case .register(let runID):
            // Read back the row just written: it merges the created and completed events' values.
            let records = try await TrainingRunRecord.decode(try await connection.query(TrainingRunRecord.select(runID: runID), logger: logger))
            guard let record = records.first, !record.skipAutoRegister, !record.modelName.isEmpty else { return nil }
            var run = record.completedRun
            run.modelType = Self.assumedType(run.modelType)
            return (run.modelName, .registerVersion(run, versionID: UUID.v7().uuidString.lowercased(), force: false))
        }
    }

    /// The built-in trainer makes two-tower retrieval models; a run that does not say otherwise is one.
    static func assumedType(_ type: ModelType) -> ModelType {
        type.isKnown ? type : .retrieval
    }
}
