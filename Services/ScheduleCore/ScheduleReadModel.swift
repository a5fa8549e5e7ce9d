import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SwiftProtobuf

/// schedule-svc's own read model, updated in each command's transaction: every schedule with its timing,
/// policies, frozen configuration and statistics, and its ledger (each slot and what became of it).
///
/// A registered model has at most one live (active or paused) schedule: the unique index makes a second one's
/// creation fail in its own transaction, so two concurrent requests cannot both win.
public struct ScheduleReadModel: Projection {
    public let name = "schedule"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "schedules and their ledger",
                [
                    """
                    CREATE TABLE schedules (id text PRIMARY KEY, model_name text NOT NULL, name text NOT NULL, description text NOT NULL,
                        schedule_type text NOT NULL, scheduled_datetime timestamptz, hour integer NOT NULL, minute integer NOT NULL,
                        day_of_week integer NOT NULL, day_of_month integer NOT NULL, timezone text NOT NULL, month_end text NOT NULL,
                        catchup_window_seconds bigint NOT NULL, overlap text NOT NULL, status text NOT NULL, next_run_at timestamptz,
                        last_run_at timestamptz, total_runs integer NOT NULL DEFAULT 0, successful_runs integer NOT NULL DEFAULT 0,
                        failed_runs integer NOT NULL DEFAULT 0, not_blessed_runs integer NOT NULL DEFAULT 0,
                        cancelled_runs integer NOT NULL DEFAULT 0, training_config jsonb NOT NULL, source_run_id text NOT NULL,
                        created_by text NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)
                    """,
                    "CREATE UNIQUE INDEX schedules_one_live_per_model ON schedules (model_name) WHERE status IN ('active', 'paused')",
                    "CREATE INDEX schedules_due ON schedules (next_run_at) WHERE status = 'active'",
                    """
                    CREATE TABLE schedule_ledger (event_id text PRIMARY KEY, schedule_id text NOT NULL, slot_time timestamptz NOT NULL,
                        outcome text NOT NULL, trigger text NOT NULL, run_id text NOT NULL, detail text NOT NULL, recorded_at timestamptz NOT NULL)
                    """,
                    "CREATE INDEX schedule_ledger_by_schedule ON schedule_ledger (schedule_id, slot_time DESC)",
                ])
        ]
    }

    public func apply(_ events: [Recorded<ScheduleEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        // The timer fires thousands of schedules at one minute: their starts are written together, in order with
        // everything else (a run of starts is flushed before any other event, and holds each schedule once).
        var starts = Starts()
        for recorded in events {
            if case .scheduleTriggered(let e) = recorded.event {
                if starts.scheduleIDs.contains(e.scheduleID) { try await starts.flush(on: connection, logger: logger) }
                starts.add(e, recorded)
                continue
            }
            try await starts.flush(on: connection, logger: logger)
            let at = recorded.occurredAt
            func query(_ sql: PostgresQuery) async throws { try await connection.query(sql, logger: logger) }
            func ledger(_ scheduleID: String, _ slot: Date, _ outcome: String, trigger: String, detail: String = "") async throws {
                try await query(
                    """
                    INSERT INTO schedule_ledger (event_id, schedule_id, slot_time, outcome, trigger, run_id, detail, recorded_at)
                    VALUES (\(recorded.eventID), \(scheduleID), \(slot), \(outcome), \(trigger), '', \(detail), \(at))
                    ON CONFLICT (event_id) DO NOTHING
                    """)
            }
            switch recorded.event {
            case .scheduleCreated(let e):
                let timing = e.timing
                let config = try ScheduleJSON.jsonText(try TrainingRunConfig(serializedBytes: e.trainingConfig))
                let next: Date? = e.hasNextRunAt ? e.nextRunAt.date : nil
                try await query(
                    """
                    INSERT INTO schedules (id, model_name, name, description, schedule_type, scheduled_datetime, hour, minute, day_of_week,
                        day_of_month, timezone, month_end, catchup_window_seconds, overlap, status, next_run_at, training_config, source_run_id,
                        created_by, created_at, updated_at)
                    VALUES (\(e.scheduleID), \(e.modelName), \(e.name), \(e.descriptionText), \(Self.typeName(timing.type)),
                        \(timing.hasOnceAt ? timing.onceAt.date : nil), \(Int(timing.hour)), \(Int(timing.minute)), \(Int(timing.dayOfWeek)),
                        \(Int(timing.dayOfMonth)), \(timing.timezone), \(timing.monthEnd == .lastDay ? "last_day" : "skip"),
                        \(e.policies.catchupWindowSeconds), \(TrainingScheduleDecider.overlapName(e.policies.overlap)), 'active', \(next),
                        \(config)::jsonb, \(e.sourceRunID), \(e.createdBy), \(at), \(at))
                    ON CONFLICT (id) DO NOTHING
                    """)
            case .scheduleUpdated(let e):
                let timing = e.timing
                let next: Date? = e.hasNextRunAt ? e.nextRunAt.date : nil
                try await query(
                    """
                    UPDATE schedules SET name = \(e.name), description = \(e.descriptionText), schedule_type = \(Self.typeName(timing.type)),
                        scheduled_datetime = \(timing.hasOnceAt ? timing.onceAt.date : nil), hour = \(Int(timing.hour)),
                        minute = \(Int(timing.minute)), day_of_week = \(Int(timing.dayOfWeek)), day_of_month = \(Int(timing.dayOfMonth)),
                        timezone = \(timing.timezone), month_end = \(timing.monthEnd == .lastDay ? "last_day" : "skip"),
                        catchup_window_seconds = \(e.policies.catchupWindowSeconds),
                        overlap = \(TrainingScheduleDecider.overlapName(e.policies.overlap)),
                        next_run_at = CASE WHEN status = 'active' THEN \(next) ELSE next_run_at END, updated_at = \(at)
                    WHERE id = \(e.scheduleID)
                    """)
            case .schedulePaused(let e):
                try await query("UPDATE schedules SET status = 'paused', updated_at = \(at) WHERE id = \(e.scheduleID)")
            case .scheduleResumed(let e):
                let next: Date? = e.hasNextRunAt ? e.nextRunAt.date : nil
                try await query("UPDATE schedules SET status = 'active', next_run_at = \(next), updated_at = \(at) WHERE id = \(e.scheduleID)")
            case .scheduleCancelled(let e):
                try await query("UPDATE schedules SET status = 'cancelled', next_run_at = NULL, updated_at = \(at) WHERE id = \(e.scheduleID)")
            case .scheduleCompleted(let e):
                try await query("UPDATE schedules SET status = 'completed', next_run_at = NULL, updated_at = \(at) WHERE id = \(e.scheduleID)")
            case .scheduleDeleted(let e):
                // Deleted for good (the spec's deletion left the schedule behind): the events keep its history.
                try await query("DELETE FROM schedules WHERE id = \(e.scheduleID)")
                try await query("DELETE FROM schedule_ledger WHERE schedule_id = \(e.scheduleID)")
            case .scheduleTriggered:
                continue  // written with the other starts
            case .scheduleWebhookSecretRotated:
                continue  // the secret's generation is the aggregate's; nothing of it is shown
            case .scheduleSlotSkipped(let e):
                let next: Date? = e.hasNextRunAt ? e.nextRunAt.date : nil
                try await query("UPDATE schedules SET next_run_at = \(next), updated_at = \(at) WHERE id = \(e.scheduleID) AND status = 'active'")
                try await ledger(
                    e.scheduleID, e.slotTime.date, "skipped_\(Self.reasonName(e.reason))", trigger: Self.triggerName(e.trigger), detail: e.detail)
            case .scheduleRunOutcomeRecorded(let e):
                let column: String =
                    switch e.outcome {
                    case .succeeded: "successful_runs"
                    case .notBlessed: "not_blessed_runs"
                    case .cancelled: "cancelled_runs"
                    case .failed, .unspecified, .UNRECOGNIZED: "failed_runs"
                    }
                try await query(
                    """
                    UPDATE schedules SET total_runs = total_runs + 1, \(unescaped: column) = \(unescaped: column) + 1, updated_at = \(at)
                    WHERE id = \(e.scheduleID)
                    """)
                try await query(
                    """
                    UPDATE schedule_ledger SET run_id = \(e.runID), detail = \(Self.outcomeName(e.outcome) + (e.error.isEmpty ? "" : ": \(e.error)"))
                    WHERE schedule_id = \(e.scheduleID) AND slot_time = \(e.slotTime.date) AND outcome LIKE 'started%'
                    """)
            }
        }
        try await starts.flush(on: connection, logger: logger)
    }

    /// Slots started (`ScheduleTriggered`), written in two statements however many there are. The run's id is
    /// training-svc's to give (`<model>-<n>`): the ledger learns it from the run's end, and the API shows it earlier
    /// from training-svc's events (`training_runs_seen`).
    struct Starts {
        var scheduleIDs: Set<String> = []
        var ids: [String] = [], eventIDs: [String] = [], slots: [Date] = [], fired: [Date] = [], at: [Date] = []
        /// PostgreSQL arrays bind without nulls: `hasNext` says which `next` are real.
        var next: [Date] = [], hasNext: [Bool] = [], outcomes: [String] = [], triggers: [String] = [], details: [String] = []

        mutating func add(_ e: ScheduleTriggered, _ recorded: Recorded<ScheduleEvent>) {
            scheduleIDs.insert(e.scheduleID)
            ids.append(e.scheduleID)
            eventIDs.append(recorded.eventID)
            slots.append(e.slotTime.date)
            fired.append(e.firedAt.date)
            at.append(recorded.occurredAt)
            next.append(e.hasNextRunAt ? e.nextRunAt.date : Date(timeIntervalSince1970: 0))
            hasNext.append(e.hasNextRunAt)
            outcomes.append(e.late ? "started_late" : "started")
            triggers.append(ScheduleReadModel.triggerName(e.trigger))
            details.append(e.triggeredBy.isEmpty ? "" : "by \(e.triggeredBy)")
        }

        mutating func flush(on connection: PostgresConnection, logger: Logger) async throws {
            guard !ids.isEmpty else { return }
            try await connection.query(
                """
                UPDATE schedules s SET last_run_at = v.fired, updated_at = v.at,
                    next_run_at = CASE WHEN v.has_next THEN v.next END
                FROM unnest(\(ids)::text[], \(fired)::timestamptz[], \(at)::timestamptz[], \(next)::timestamptz[], \(hasNext)::boolean[])
                    AS v(id, fired, at, next, has_next)
                WHERE s.id = v.id
                """, logger: logger)
            try await connection.query(
                """
                INSERT INTO schedule_ledger (event_id, schedule_id, slot_time, outcome, trigger, run_id, detail, recorded_at)
                SELECT v.event_id, v.id, v.slot, v.outcome, v.trigger, '', v.detail, v.at
                FROM unnest(\(eventIDs)::text[], \(ids)::text[], \(slots)::timestamptz[], \(outcomes)::text[], \(triggers)::text[],
                    \(details)::text[], \(at)::timestamptz[]) AS v(event_id, id, slot, outcome, trigger, detail, at)
                ON CONFLICT (event_id) DO NOTHING
                """, logger: logger)
            self = Starts()
        }
    }

    static func typeName(_ type: ScheduleType) -> String {
        switch type {
        case .once: "once"
        case .hourly: "hourly"
        case .weekly: "weekly"
        case .monthly: "monthly"
        case .daily, .unspecified, .UNRECOGNIZED: "daily"
        }
    }

    static func triggerName(_ trigger: ScheduleTriggerKind) -> String {
        switch trigger {
        case .manual: "manual"
        case .webhook: "webhook"
        case .timer, .unspecified, .UNRECOGNIZED: "timer"
        }
    }

    static func reasonName(_ reason: SlotSkipReason) -> String {
        switch reason {
        case .overlap: "overlap"
        case .catchup: "catchup"
        case .paused: "paused"
        case .unspecified, .UNRECOGNIZED: "other"
        }
    }

    static func outcomeName(_ outcome: ScheduleRunOutcome) -> String {
        switch outcome {
        case .succeeded: "succeeded"
        case .notBlessed: "not blessed"
        case .cancelled: "cancelled"
        case .failed, .unspecified, .UNRECOGNIZED: "failed"
        }
    }
}
