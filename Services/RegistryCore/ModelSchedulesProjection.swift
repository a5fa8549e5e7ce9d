import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// schedule-svc's schedules, keyed to the model they retrain: what `has_schedule` and `schedule_id`
/// are read from. A cancelled or completed schedule no longer counts as the model's schedule (it
/// will not fire again, and the model may be given a new one); a deleted one is gone.
public struct ModelSchedulesProjection: Projection {
    public let name = "model_schedules"

    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "model schedules",
                [
                    """
                    CREATE TABLE model_schedules (
                        schedule_id text PRIMARY KEY,
                        model_name text NOT NULL,
                        name text NOT NULL DEFAULT '',
                        status text NOT NULL,
                        created_at timestamptz NOT NULL,
                        updated_at timestamptz NOT NULL)
                    """,
                    "CREATE INDEX model_schedules_model ON model_schedules (model_name)",
                ])
        ]
    }

    public func apply(_ events: [Recorded<ScheduleEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            let at = recorded.occurredAt
            switch recorded.event {
            case .scheduleCreated(let created):
                // Registry ids are model names, so either field names the model.
                let model = created.modelName.isEmpty ? created.registeredModelID : created.modelName
                try await connection.query(
                    """
                    INSERT INTO model_schedules (schedule_id, model_name, name, status, created_at, updated_at)
                    VALUES (\(created.scheduleID), \(model), \(created.name), 'active', \(at), \(at))
                    ON CONFLICT (schedule_id) DO NOTHING
                    """, logger: logger)
            case .schedulePaused(let paused):
                try await setStatus(paused.scheduleID, "paused", at: at, on: connection, logger: logger)
            case .scheduleResumed(let resumed):
                try await setStatus(resumed.scheduleID, "active", at: at, on: connection, logger: logger)
            case .scheduleCancelled(let cancelled):
                try await setStatus(cancelled.scheduleID, "cancelled", at: at, on: connection, logger: logger)
            case .scheduleCompleted(let completed):
                try await setStatus(completed.scheduleID, "completed", at: at, on: connection, logger: logger)
            case .scheduleDeleted(let deleted):
                try await connection.query("DELETE FROM model_schedules WHERE schedule_id = \(deleted.scheduleID)", logger: logger)
            case .scheduleUpdated, .scheduleTriggered, .scheduleSlotSkipped, .scheduleRunOutcomeRecorded, .scheduleWebhookSecretRotated:
                break  // timing, firings and outcomes do not change which model a schedule retrains
            }
        }
    }

    private func setStatus(_ scheduleID: String, _ status: String, at: Date, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            UPDATE model_schedules SET status = \(status), updated_at = \(at) WHERE schedule_id = \(scheduleID)
            """, logger: logger)
    }
}
