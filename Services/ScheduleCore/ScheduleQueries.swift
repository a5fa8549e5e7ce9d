import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import SlipwayContracts
import SlipwayPlatform
import SwiftProtobuf

/// A schedule as the API shows it; on its own page, with its ledger and next fire times.
struct ScheduleJSON: ResponseEncodable, Decodable, Sendable {
    /// One slot to come, in the schedule's zone and in UTC, with how DST moved it (`gap`, `repeated`).
    struct Upcoming: Codable, Sendable {
        let at: Date
        let local: String
        @Nullable var dst: String?
    }

    /// One slot that came, and what became of it.
    struct LedgerEntry: Codable, Sendable {
        let slotTime: Date
        /// started, started_late, skipped_overlap, skipped_catchup, skipped_paused.
        let outcome: String
        /// timer, manual or webhook.
        let trigger: String
        let runId: String
        let detail: String
        let recordedAt: Date
    }

    let id: String
    let modelName: String
    let name: String
    let description: String
    let scheduleType: String
    @Nullable var scheduledDatetime: Date?
    /// `HH:MM` (hourly: `00:MM`); null for once.
    @Nullable var scheduleTime: String?
    @Nullable var scheduleDayOfWeek: Int?
    @Nullable var scheduleDayOfMonth: Int?
    let scheduleTimezone: String
    let monthEnd: String
    let catchupWindowSeconds: Int64
    let overlap: String
    let status: String
    let isActive: Bool
    let isRecurring: Bool
    @Nullable var nextRunAt: Date?
    @Nullable var lastRunAt: Date?
    let totalRuns: Int
    let successfulRuns: Int
    let failedRuns: Int
    let notBlessedRuns: Int
    let cancelledRuns: Int
    /// Percent of ended runs that succeeded; null before the first.
    @Nullable var successRate: Double?
    /// The training configuration frozen when the schedule was made (training-svc's proto JSON).
    let trainingConfig: EmbeddedJSON
    let sourceRunId: String
    let createdBy: String
    let createdAt: Date
    let updatedAt: Date
    var upcoming: [Upcoming]?
    var ledger: [LedgerEntry]?

    /// A training configuration as the API spells it (proto JSON, snake_case): stored so, and shown so.
    static func jsonText(_ config: TrainingRunConfig) throws -> String {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        return try config.jsonString(options: options)
    }

    static func json(_ config: TrainingRunConfig) throws -> EmbeddedJSON {
        EmbeddedJSON(text: try jsonText(config)) ?? EmbeddedJSON(text: "{}")!
    }

    static func upcoming(_ rule: ScheduleRule, after: Date, count: Int) -> [Upcoming] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = rule.timeZone
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ssxxx"
        return ScheduleCalendar.slots(after: after, count: count, rule).map {
            Upcoming(at: $0.at, local: formatter.string(from: $0.at), dst: $0.dst)
        }
    }
}

/// A training run schedule-svc has seen: what a schedule made from it freezes.
struct SeenRun: Sendable {
    let id: String
    let modelName: String
    let number: Int
    let config: TrainingRunConfig
}

/// Reads of schedule-svc's read models.
struct ScheduleQueries: Sendable {
    let client: PostgresClient
    let logger: Logger

    static let columns = """
        id, model_name, name, description, schedule_type, scheduled_datetime, hour, minute, day_of_week, day_of_month, timezone, month_end,
        catchup_window_seconds, overlap, status, next_run_at, last_run_at, total_runs, successful_runs, failed_runs, not_blessed_runs,
        cancelled_runs, training_config::text, source_run_id, created_by, created_at, updated_at
        """

    static func schedule(_ row: PostgresRow) throws -> (ScheduleJSON, ScheduleRule) {
        let c = row.makeRandomAccess()
        let type = try c[4].decode(String.self)
        let kind = ScheduleRule.Kind(rawValue: type) ?? .daily
        let hour = try c[6].decode(Int.self), minute = try c[7].decode(Int.self)
        let zone = try c[10].decode(String.self)
        let total = try c[17].decode(Int.self), successful = try c[18].decode(Int.self)
        let rule = ScheduleRule(
            kind: kind, onceAt: try c[5].decode(Date?.self), hour: hour, minute: minute, dayOfWeek: try c[8].decode(Int.self),
            dayOfMonth: try c[9].decode(Int.self), timeZone: TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!,
            monthEnd: ScheduleRule.MonthEnd(rawValue: try c[11].decode(String.self)) ?? .skip)
        let status = try c[14].decode(String.self)
        let json = ScheduleJSON(
            id: try c[0].decode(String.self), modelName: try c[1].decode(String.self), name: try c[2].decode(String.self),
            description: try c[3].decode(String.self), scheduleType: type, scheduledDatetime: rule.onceAt,
            scheduleTime: kind == .once ? nil : String(format: "%02d:%02d", hour, minute),
            scheduleDayOfWeek: kind == .weekly ? rule.dayOfWeek : nil, scheduleDayOfMonth: kind == .monthly ? rule.dayOfMonth : nil,
            scheduleTimezone: zone, monthEnd: rule.monthEnd.rawValue, catchupWindowSeconds: try c[12].decode(Int64.self),
            overlap: try c[13].decode(String.self), status: status, isActive: status == "active", isRecurring: kind != .once,
            nextRunAt: try c[15].decode(Date?.self), lastRunAt: try c[16].decode(Date?.self), totalRuns: total, successfulRuns: successful,
            failedRuns: try c[19].decode(Int.self), notBlessedRuns: try c[20].decode(Int.self), cancelledRuns: try c[21].decode(Int.self),
            successRate: total > 0 ? 100 * Double(successful) / Double(total) : nil,
            trainingConfig: EmbeddedJSON(text: try c[22].decode(String.self)) ?? EmbeddedJSON(text: "{}")!,
            sourceRunId: try c[23].decode(String.self), createdBy: try c[24].decode(String.self), createdAt: try c[25].decode(Date.self),
            updatedAt: try c[26].decode(Date.self))
        return (json, rule)
    }

    func schedule(_ id: String, details: Bool, now: Date) async throws -> ScheduleJSON? {
        let rows = try await client.query("SELECT \(unescaped: Self.columns) FROM schedules WHERE id = \(id)", logger: logger)
        for try await row in rows {
            var (schedule, rule) = try Self.schedule(row)
            if details {
                schedule.upcoming = schedule.status == "active" ? ScheduleJSON.upcoming(rule, after: now, count: 10) : []
                schedule.ledger = try await ledger(id, limit: 100)
            }
            return schedule
        }
        return nil
    }

    /// Newest first.
    /// The matching schedules, newest first: `limit` of them after `offset` (every one without a limit), and how many
    /// match.
    func schedules(model: String?, status: String?, limit: Int?, offset: Int) async throws -> (schedules: [ScheduleJSON], total: Int) {
        let model = model ?? "", status = status ?? ""
        var total = 0
        let counted = try await client.query(
            """
            SELECT count(*) FROM schedules WHERE (\(model) = '' OR model_name = \(model)) AND (\(status) = '' OR status = \(status))
            """, logger: logger)
        for try await count in counted.decode(Int64.self) { total = Int(count) }
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.columns) FROM schedules
            WHERE (\(model) = '' OR model_name = \(model)) AND (\(status) = '' OR status = \(status))
            ORDER BY created_at DESC, id LIMIT \(limit.map(Int64.init)) OFFSET \(Int64(offset))
            """, logger: logger)
        var schedules: [ScheduleJSON] = []
        for try await row in rows { schedules.append(try Self.schedule(row).0) }
        return (schedules, total)
    }

    /// Newest slot first.
    func ledger(_ id: String, limit: Int) async throws -> [ScheduleJSON.LedgerEntry] {
        let rows = try await client.query(
            """
            SELECT l.slot_time, l.outcome, l.trigger, COALESCE(NULLIF(l.run_id, ''), r.run_id, ''), l.detail, l.recorded_at
            FROM schedule_ledger l LEFT JOIN training_runs_seen r ON r.schedule_id = l.schedule_id AND r.schedule_slot = l.slot_time
            WHERE l.schedule_id = \(id)
            ORDER BY l.slot_time DESC, l.recorded_at DESC LIMIT \(limit)
            """, logger: logger)
        var entries: [ScheduleJSON.LedgerEntry] = []
        for try await (slot, outcome, trigger, run, detail, recorded) in rows.decode((Date, String, String, String, String, Date).self) {
            entries.append(.init(slotTime: slot, outcome: outcome, trigger: trigger, runId: run, detail: detail, recordedAt: recorded))
        }
        return entries
    }

    /// The model's active or paused schedule, if any.
    func liveSchedule(model: String) async throws -> String? {
        let rows = try await client.query(
            "SELECT id FROM schedules WHERE model_name = \(model) AND status IN ('active', 'paused')", logger: logger)
        for try await id in rows.decode(String.self) { return id }
        return nil
    }

    func run(_ id: String) async throws -> SeenRun? {
        let rows = try await client.query(
            "SELECT run_id, model_name, run_number, config FROM training_runs_seen WHERE run_id = \(id)", logger: logger)
        for try await (runID, model, number, config) in rows.decode((String, String, Int, ByteBuffer).self) {
            return SeenRun(id: runID, modelName: model, number: number, config: try TrainingRunConfig(serializedBytes: Array(buffer: config)))
        }
        return nil
    }

    /// Which of these schedules have a run going (training-svc's events), for their overlap policy.
    func runsGoing(among ids: [String]) async throws -> Set<String> {
        let rows = try await client.query(
            "SELECT DISTINCT schedule_id FROM training_runs_seen WHERE status = 'going' AND schedule_id = ANY(\(ids))", logger: logger)
        var going: Set<String> = []
        for try await id in rows.decode(String.self) { going.insert(id) }
        return going
    }

    /// Whether a run the schedule started has not ended yet (training-svc's events), for its overlap policy.
    func runGoing(scheduleID: String) async throws -> Bool {
        let rows = try await client.query(
            "SELECT 1 FROM training_runs_seen WHERE schedule_id = \(scheduleID) AND status = 'going' LIMIT 1", logger: logger)
        for try await _ in rows.decode(Int32.self) { return true }
        return false
    }

    func catalogHas(kind: String, id: String) async throws -> Bool {
        let rows = try await client.query("SELECT 1 FROM training_catalog WHERE kind = \(kind) AND id = \(id)", logger: logger)
        for try await _ in rows.decode(Int32.self) { return true }
        return false
    }
}
