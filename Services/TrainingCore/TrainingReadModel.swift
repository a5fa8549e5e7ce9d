import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// training-svc's own read model, updated in the same transaction as each command's events. Every
/// timestamp comes from the event (never the clock), so a replay rebuilds identical rows.
public struct TrainingReadModel: Projection {
    public let name = "training"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "datasets, configs, runs, stages, epochs",
                [
                    "CREATE TABLE datasets (id text PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL)",
                    "CREATE TABLE feature_configs (id text PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL)",
                    "CREATE TABLE model_configs (id text PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL)",
                    """
                    CREATE TABLE training_runs (
                        id text PRIMARY KEY, run_number integer NOT NULL, name text NOT NULL, description text NOT NULL,
                        model_type text NOT NULL, status text NOT NULL, current_stage text, config jsonb NOT NULL,
                        executor text NOT NULL, job_id text, artifact_uri text, token_sha256 text, metrics jsonb,
                        blessed boolean, error_message text, log_tail text, failed_stage text, rerun_of text, created_by text NOT NULL,
                        epochs_completed integer NOT NULL DEFAULT 0, created_at timestamptz NOT NULL, submitted_at timestamptz,
                        started_at timestamptz, completed_at timestamptz, duration_ms bigint, version bigint NOT NULL,
                        UNIQUE (name, run_number))
                    """,
                    "CREATE INDEX training_runs_status ON training_runs (status, submitted_at)",
                    """
                    CREATE TABLE training_run_stages (
                        run_id text NOT NULL, stage text NOT NULL, position integer NOT NULL, status text NOT NULL,
                        started_at timestamptz, completed_at timestamptz, duration_ms bigint, details jsonb, error text,
                        PRIMARY KEY (run_id, stage))
                    """,
                    """
                    CREATE TABLE training_run_epochs (
                        run_id text NOT NULL, epoch integer NOT NULL, total_epochs integer NOT NULL, loss double precision NOT NULL,
                        val_loss double precision NOT NULL, metrics jsonb NOT NULL, duration_ms bigint NOT NULL, recorded_at timestamptz NOT NULL,
                        PRIMARY KEY (run_id, epoch))
                    """,
                ]),
            // A schedule's slot starts one run: the index refuses a second one even from a redelivered trigger racing the first.
            Migration(
                2, "scheduled runs",
                [
                    "ALTER TABLE training_runs ADD COLUMN schedule_id text, ADD COLUMN schedule_slot timestamptz",
                    "CREATE UNIQUE INDEX training_runs_one_per_slot ON training_runs (schedule_id, schedule_slot) WHERE schedule_id IS NOT NULL",
                ]),
            // The run list's order, whole and for one model: a page of the newest runs reads its rows, not all of them.
            Migration(
                3, "run list order",
                [
                    "CREATE INDEX training_runs_newest ON training_runs (created_at DESC, id DESC)",
                    "CREATE INDEX training_runs_model_newest ON training_runs (name, created_at DESC, id DESC)",
                ]),
            // Auto-deploy looks for completed runs that deploy several times a second; without it, that read every
            // completed run (`TrainingQueries.registeredRunsToDeploy` must keep the predicate's words).
            Migration(
                4, "completed runs to deploy",
                [
                    """
                    CREATE INDEX training_runs_to_deploy ON training_runs (id)
                    WHERE status = 'completed' AND COALESCE((config -> 'deployment_config' ->> 'enabled')::boolean, false)
                    """
                ]),
        ]
    }

    public func apply(_ events: [Recorded<TrainingEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            let at = recorded.occurredAt
            let version = recorded.version
            switch recorded.event {
            case .datasetRegistered(let e):
                try await connection.query(
                    "INSERT INTO datasets (id, body, created_at) VALUES (\(e.datasetID), \(try JSONText.encode(DatasetView(e, createdAt: at)))::jsonb, \(at))",
                    logger: logger)
            case .featureConfigCreated(let e):
                try await connection.query(
                    "INSERT INTO feature_configs (id, body, created_at) VALUES (\(e.featureConfigID), \(try JSONText.encode(FeatureConfigView(e, createdAt: at)))::jsonb, \(at))",
                    logger: logger)
            case .modelConfigCreated(let e):
                try await connection.query(
                    "INSERT INTO model_configs (id, body, created_at) VALUES (\(e.modelConfigID), \(try JSONText.encode(ModelConfigView(e, createdAt: at)))::jsonb, \(at))",
                    logger: logger)
            case .trainingRunCreated(let e):
                let config = try JSONText.encode(e.config.view)
                // The run and its nine pending stages, in one statement.
                let stages = TrainingStage.pipeline.map(\.apiName)
                try await connection.query(
                    """
                    WITH run AS (
                        INSERT INTO training_runs (id, run_number, name, description, model_type, status, config, executor, rerun_of,
                            created_by, created_at, version, schedule_id, schedule_slot)
                        VALUES (\(e.runID), \(Int(e.runNumber)), \(e.modelName), \(e.descriptionText), \(ModelTypes.name(e.modelType)),
                            \(e.hasScheduleID ? "scheduled" : "pending"), \(config)::jsonb, \(e.config.view.executor),
                            \(e.rerunOfRunID.isEmpty ? nil : e.rerunOfRunID), \(e.createdBy), \(at), \(version), \(e.hasScheduleID ? e.scheduleID : nil),
                            \(e.hasScheduleID ? e.scheduleSlot.date : nil)))
                    INSERT INTO training_run_stages (run_id, stage, position, status)
                    SELECT \(e.runID), stage, position, 'pending' FROM unnest(\(stages)::text[]) WITH ORDINALITY AS s(stage, position)
                    """, logger: logger)
            case .trainingRunSubmitted(let e):
                try await connection.query(
                    """
                    UPDATE training_runs SET status = 'submitting', executor = \(e.executor), token_sha256 = \(e.tokenSha256),
                        artifact_uri = \(e.artifactUri), submitted_at = \(at), version = \(version) WHERE id = \(e.runID)
                    """, logger: logger)
            case .trainingRunStarted(let e):
                try await connection.query(
                    """
                    UPDATE training_runs SET status = 'running', job_id = \(e.executorJobID), started_at = \(at), version = \(version) WHERE id = \(e.runID)
                    """, logger: logger)
            case .trainingRunConfigEdited(let e):
                try await connection.query(
                    """
                    UPDATE training_runs SET config = \(try JSONText.encode(e.config.view))::jsonb, executor = \(e.config.view.executor), version = \(version)
                    WHERE id = \(e.runID)
                    """, logger: logger)
            case .stageStarted(let e):
                try await connection.query(
                    """
                    UPDATE training_run_stages SET status = 'running', started_at = \(at) WHERE run_id = \(e.runID) AND stage = \(e.stage.apiName)
                    """, logger: logger)
                try await setCurrentStage(e.runID, e.stage, version: version, on: connection, logger: logger)
            case .stageCompleted(let e):
                let details = try JSONText.encode(StageDetails(artifacts: e.artifacts, metrics: e.metrics))
                try await connection.query(
                    """
                    UPDATE training_run_stages SET status = 'completed', started_at = COALESCE(started_at, \(at)), completed_at = \(at),
                        duration_ms = \(e.durationMs), details = \(details)::jsonb
                    WHERE run_id = \(e.runID) AND stage = \(e.stage.apiName)
                    """, logger: logger)
                try await setCurrentStage(e.runID, e.stage, version: version, on: connection, logger: logger)
            case .stageSkipped(let e):
                try await connection.query(
                    """
                    UPDATE training_run_stages SET status = 'skipped', error = \(e.reason) WHERE run_id = \(e.runID) AND stage = \(e.stage.apiName)
                    """, logger: logger)
                try await bumpVersion(e.runID, version, on: connection, logger: logger)
            case .stageFailed(let e):
                try await connection.query(
                    """
                    UPDATE training_run_stages SET status = 'failed', started_at = COALESCE(started_at, \(at)), completed_at = \(at), error = \(e.error)
                    WHERE run_id = \(e.runID) AND stage = \(e.stage.apiName)
                    """, logger: logger)
                try await bumpVersion(e.runID, version, on: connection, logger: logger)
            case .epochCompleted(let e):
                var metrics = e.metrics
                for (k, v) in e.recallAtK { metrics["recall_at_\(k)"] = v }
                try await connection.query(
                    """
                    INSERT INTO training_run_epochs (run_id, epoch, total_epochs, loss, val_loss, metrics, duration_ms, recorded_at)
                    VALUES (\(e.runID), \(Int(e.epoch)), \(Int(e.totalEpochs)), \(e.loss), \(e.valLoss), \(try JSONText.encode(metrics))::jsonb, \(e.durationMs), \(at))
                    """, logger: logger)
                try await connection.query(
                    """
                    UPDATE training_runs SET epochs_completed = epochs_completed + 1, version = \(version) WHERE id = \(e.runID)
                    """, logger: logger)
            case .trainingRunCompleted(let e):
                try await connection.query(
                    """
                    UPDATE training_runs SET status = \(e.blessed ? "completed" : "not_blessed"), metrics = \(try JSONText.encode(e.metrics))::jsonb,
                        blessed = \(e.blessed), artifact_uri = \(e.artifactUri), completed_at = \(at), duration_ms = \(e.durationMs), version = \(version)
                    WHERE id = \(e.runID)
                    """, logger: logger)
            case .trainingRunDeployRequested(let e):
                try await connection.query(
                    "UPDATE training_runs SET status = 'deploying', version = \(version) WHERE id = \(e.runID)", logger: logger)
            case .trainingRunDeployed(let e):
                try await connection.query("UPDATE training_runs SET status = 'deployed', version = \(version) WHERE id = \(e.runID)", logger: logger)
            case .trainingRunDeployFailed(let e):
                try await connection.query(
                    """
                    UPDATE training_runs SET status = 'deploy_failed', error_message = \(e.error), version = \(version) WHERE id = \(e.runID)
                    """, logger: logger)
            case .trainingRunFailed(let e):
                try await connection.query(
                    """
                    UPDATE training_runs SET status = 'failed', error_message = \(e.error), log_tail = \(e.logTail), failed_stage = \(e.stage.apiName),
                        completed_at = \(at), duration_ms = \(e.durationMs), version = \(version)
                    WHERE id = \(e.runID)
                    """, logger: logger)
            case .trainingRunCancelled(let e):
                try await connection.query(
                    """
                    UPDATE training_runs SET status = 'cancelled', error_message = \(e.reason.isEmpty ? "cancelled" : "cancelled: \(e.reason)"),
                        completed_at = \(at), version = \(version)
                    WHERE id = \(e.runID)
                    """, logger: logger)
                try await connection.query(
                    """
                    UPDATE training_run_stages SET status = 'cancelled' WHERE run_id = \(e.runID) AND status IN ('pending', 'running')
                    """, logger: logger)
            }
        }
    }

    func setCurrentStage(_ runID: String, _ stage: TrainingStage, version: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "UPDATE training_runs SET current_stage = \(stage.apiName), version = \(version) WHERE id = \(runID)", logger: logger)
    }

    func bumpVersion(_ runID: String, _ version: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("UPDATE training_runs SET version = \(version) WHERE id = \(runID)", logger: logger)
    }
}
