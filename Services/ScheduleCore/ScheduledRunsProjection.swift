import Foundation
import Logging
import NIOCore
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// training-svc's runs and catalog as schedule-svc needs them: a run's configuration to make a schedule from
/// (`from-run`, `preview`), the datasets and configs a full schedule may name, and — the reaction — the end of
/// every run a schedule started, recorded on the schedule (`ScheduleRunOutcomeRecorded`), which feeds its
/// statistics and ends its overlap.
///
/// As in registry-svc's reactions, the commands run inside `apply` after the rows, only on the live schema (a
/// replay into a scratch schema commands nothing), and are idempotent (an outcome is recorded once), so a
/// batch applied twice changes nothing.
public struct ScheduledRunsProjection: Projection {
    public let name = "scheduled_runs"
    let store: EventStore

    public init(store: EventStore) {
        self.store = store
    }

    public var migrations: [Migration] {
        [
            Migration(
                1, "training runs and catalog seen",
                [
                    """
                    CREATE TABLE training_runs_seen (run_id text PRIMARY KEY, model_name text NOT NULL, run_number integer NOT NULL,
                        config bytea NOT NULL, schedule_id text NOT NULL, schedule_slot timestamptz, status text NOT NULL,
                        created_at timestamptz NOT NULL)
                    """,
                    // Whether a schedule's run is going (its overlap policy) without reading every run.
                    "CREATE INDEX training_runs_seen_going ON training_runs_seen (schedule_id) WHERE status = 'going'",
                    "CREATE TABLE training_catalog (kind text NOT NULL, id text NOT NULL, PRIMARY KEY (kind, id))",
                ])
        ]
    }

    public func apply(_ events: [Recorded<TrainingEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        var outcomes: [(Recorded<TrainingEvent>, scheduleID: String, TrainingScheduleDecider.Command)] = []
        for recorded in events {
            func catalog(_ kind: String, _ id: String) async throws {
                try await connection.query(
                    "INSERT INTO training_catalog (kind, id) VALUES (\(kind), \(id)) ON CONFLICT DO NOTHING", logger: logger)
            }
            func ended(_ runID: String, _ status: String, _ scheduleID: String?, _ outcome: ScheduleRunOutcome, error: String) async throws {
                let rows = try await connection.query(
                    "UPDATE training_runs_seen SET status = \(status) WHERE run_id = \(runID) RETURNING schedule_slot", logger: logger)
                var slot: Date?
                for try await value in rows.decode(Date?.self) { slot = value }
                guard let scheduleID, !scheduleID.isEmpty, let slot else { return }
                outcomes.append(
                    (recorded, scheduleID, .recordOutcome(runID: runID, slot: slot, outcome: outcome, error: error, finishedAt: recorded.occurredAt)))
            }
            switch recorded.event {
            case .datasetRegistered(let e): try await catalog("dataset", e.datasetID)
            case .featureConfigCreated(let e): try await catalog("feature_config", e.featureConfigID)
            case .modelConfigCreated(let e): try await catalog("model_config", e.modelConfigID)
            case .trainingRunCreated(let e):
                try await connection.query(
                    """
                    INSERT INTO training_runs_seen (run_id, model_name, run_number, config, schedule_id, schedule_slot, status, created_at)
                    VALUES (\(e.runID), \(e.modelName), \(Int(e.runNumber)), \(ByteBuffer(bytes: try e.config.serializedBytes() as [UInt8])),
                        \(e.hasScheduleID ? e.scheduleID : ""), \(e.hasScheduleID ? e.scheduleSlot.date : nil), 'going', \(recorded.occurredAt))
                    ON CONFLICT (run_id) DO NOTHING
                    """, logger: logger)
            case .trainingRunConfigEdited(let e):
                try await connection.query(
                    "UPDATE training_runs_seen SET config = \(ByteBuffer(bytes: try e.config.serializedBytes() as [UInt8])) WHERE run_id = \(e.runID)",
                    logger: logger)
            case .trainingRunCompleted(let e):
                try await ended(
                    e.runID, e.blessed ? "completed" : "not_blessed", e.hasScheduleID ? e.scheduleID : nil, e.blessed ? .succeeded : .notBlessed,
                    error: "")
            case .trainingRunFailed(let e):
                try await ended(e.runID, "failed", e.hasScheduleID ? e.scheduleID : nil, .failed, error: e.error)
            case .trainingRunCancelled(let e):
                try await ended(e.runID, "cancelled", e.hasScheduleID ? e.scheduleID : nil, .cancelled, error: e.reason)
            case .trainingRunSubmitted, .trainingRunStarted, .stageStarted, .stageCompleted, .stageFailed, .stageSkipped, .epochCompleted,
                .trainingRunDeployRequested, .trainingRunDeployed, .trainingRunDeployFailed:
                break  // progress within a run; its end is what a schedule counts
            }
        }
        guard !outcomes.isEmpty, try await connection.isLiveSchema(logger: logger) else { return }
        let commands = outcomes.map { recorded, scheduleID, command in
            (
                aggregateID: scheduleID, command: command,
                metadata: CommandMetadata(reactingTo: recorded, reactor: "schedule-svc")
            )
        }
        for (command, result) in zip(commands, await store.executeAll(TrainingScheduleDecider.self, commands)) {
            switch result {
            case .success: break
            case .failure(let rejected as CommandRejected):
                // A schedule deleted since: nothing to count the run on.
                logger.info(
                    "run outcome not recorded", metadata: [LogKey.aggregateID: "\(command.aggregateID)", LogKey.error: "\(rejected.message)"])
            case .failure(let error):
                throw error  // infrastructure: the projector retries the batch
            }
        }
    }

}
