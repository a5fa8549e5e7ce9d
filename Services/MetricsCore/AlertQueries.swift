import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SlipwayPlatform

/// An alert as the API shows it: the rule, its status and (on its own page) what it fired.
struct AlertJSON: ResponseEncodable, Decodable, Sendable {
    static let statuses = ["ok", "pending", "active", "acknowledged", "resolved"]

    /// One firing of the rule.
    struct Fired: Codable, Sendable {
        let id: String
        /// active, acknowledged or resolved.
        let status: String
        let observedValue: Double
        let threshold: Double
        let samples: Int64
        let message: String
        let windowStart: Date
        let windowEnd: Date
        let firedAt: Date
        @Nullable var acknowledgedAt: Date?
        @Nullable var acknowledgedBy: String?
        @Nullable var acknowledgeNote: String?
        @Nullable var resolvedAt: Date?
        @Nullable var resolvedBy: String?
        @Nullable var resolvedAutomatically: Bool?
        @Nullable var resolveNote: String?
        @Nullable var resolvedValue: Double?
    }

    struct Channel: Codable, Sendable {
        let kind: String
        let url: String
    }

    /// One notification of one transition to one webhook, with every attempt.
    struct Delivery: Codable, Sendable {
        struct Attempt: Codable, Sendable {
            let attempt: Int32
            let at: Date
            /// 0 when nothing answered.
            let statusCode: Int32
            let error: String
        }
        let id: String
        let alertId: String
        /// alert.fired, alert.acknowledged or alert.resolved.
        let event: String
        let url: String
        /// pending, delivered or failed (gave up).
        let status: String
        @Nullable var nextAttemptAt: Date?
        let createdAt: Date
        var attempts: [Attempt]
    }

    let id: String
    let endpointId: String
    let name: String
    let alertType: String
    let metric: String
    let condition: String
    let threshold: Double
    let resolveThreshold: Double
    let windowSeconds: Int32
    let forSeconds: Int32
    let minSamples: Int64
    let enabled: Bool
    /// Webhooks (their secrets are never shown).
    let notificationChannels: [Channel]
    /// ok (never breached, or cleared before firing the first time), pending, active, acknowledged, resolved.
    let status: String
    @Nullable var pendingSince: Date?
    /// The alert firing now (active or acknowledged).
    @Nullable var current: Fired?
    let createdBy: String
    let createdAt: Date
    let updatedAt: Date
    /// On the alert's own page: every firing, newest first (at most 100).
    var history: [Fired]?
    /// On the alert's own page: its webhook deliveries, newest first (at most 100).
    var deliveries: [Delivery]?
}

/// Reads of the alert tables.
struct AlertQueries: Sendable {
    let client: PostgresClient
    let logger: Logger

    func rules(endpointID: String?, status: String?, type: String?) async throws -> [AlertJSON] {
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.ruleColumns) FROM alert_rules
            WHERE NOT deleted AND (\(endpointID ?? "") = '' OR endpoint_id = \(endpointID ?? ""))
              AND (\(status ?? "") = '' OR status = \(status ?? "")) AND (\(type ?? "") = '' OR alert_type = \(type ?? ""))
            ORDER BY created_at DESC, id
            """, logger: logger)
        var rules: [(AlertJSON, String?)] = []
        for try await row in rows { rules.append(try Self.rule(row)) }
        var alerts: [AlertJSON] = []
        for (rule, currentID) in rules { alerts.append(try await withCurrent(rule, currentID)) }
        return alerts
    }

    /// Rules of an endpoint firing now: (active, acknowledged).
    func firing(endpointID: String) async throws -> (Int, Int) {
        let rows = try await client.query(
            """
            SELECT count(*) FILTER (WHERE status = 'active'), count(*) FILTER (WHERE status = 'acknowledged') FROM alert_rules
            WHERE endpoint_id = \(endpointID) AND NOT deleted AND enabled
            """, logger: logger)
        for try await (active, acknowledged) in rows.decode((Int64, Int64).self) { return (Int(active), Int(acknowledged)) }
        return (0, 0)
    }

    /// Alerts the endpoint's rules fired at or after `since`, whatever their status now.
    func fired(endpointID: String, since: Date) async throws -> Int {
        let rows = try await client.query(
            "SELECT count(*) FROM alerts WHERE endpoint_id = \(endpointID) AND fired_at >= \(since)", logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    func rule(_ id: String, history: Bool) async throws -> AlertJSON? {
        let rows = try await client.query(
            "SELECT \(unescaped: Self.ruleColumns) FROM alert_rules WHERE id = \(id) AND NOT deleted", logger: logger)
        for try await row in rows {
            let (rule, currentID) = try Self.rule(row)
            var alert = try await withCurrent(rule, currentID)
            if history {
                alert.history = try await fired(ruleID: id, limit: 100)
                alert.deliveries = try await deliveries(ruleID: id, limit: 100)
            }
            return alert
        }
        return nil
    }

    /// The rule with the alert it is firing now, if any (a pending one has not fired yet).
    private func withCurrent(_ rule: AlertJSON, _ currentID: String?) async throws -> AlertJSON {
        guard let currentID, rule.status == "active" || rule.status == "acknowledged" else { return rule }
        var rule = rule
        rule.current = try await fired(alertID: currentID)
        return rule
    }

    func fired(ruleID: String, limit: Int) async throws -> [AlertJSON.Fired] {
        let rows = try await client.query(
            "SELECT \(unescaped: Self.firedColumns) FROM alerts WHERE rule_id = \(ruleID) ORDER BY fired_at DESC, id DESC LIMIT \(limit)",
            logger: logger)
        var fired: [AlertJSON.Fired] = []
        for try await row in rows { fired.append(try Self.fired(row)) }
        return fired
    }

    func fired(alertID: String) async throws -> AlertJSON.Fired? {
        let rows = try await client.query("SELECT \(unescaped: Self.firedColumns) FROM alerts WHERE id = \(alertID)", logger: logger)
        for try await row in rows { return try Self.fired(row) }
        return nil
    }

    func deliveries(ruleID: String, limit: Int) async throws -> [AlertJSON.Delivery] {
        let rows = try await client.query(
            """
            SELECT id, alert_id, event, target, status, next_attempt_at, created_at FROM webhook_deliveries
            WHERE rule_id = \(ruleID) ORDER BY created_at DESC, id DESC LIMIT \(limit)
            """, logger: logger)
        var deliveries: [AlertJSON.Delivery] = []
        for try await (id, alert, event, url, status, next, created) in rows.decode((String, String, String, String, String, Date?, Date).self) {
            deliveries.append(
                AlertJSON.Delivery(
                    id: id, alertId: alert, event: event, url: url, status: status, nextAttemptAt: next, createdAt: created, attempts: []))
        }
        let attempts = try await client.query(
            """
            SELECT delivery_id, attempt, at, status_code, error FROM webhook_attempts WHERE delivery_id = ANY(\(deliveries.map(\.id)))
            ORDER BY delivery_id, attempt
            """, logger: logger)
        var byDelivery: [String: [AlertJSON.Delivery.Attempt]] = [:]
        for try await (id, attempt, at, code, error) in attempts.decode((String, Int32, Date, Int32, String).self) {
            byDelivery[id, default: []].append(AlertJSON.Delivery.Attempt(attempt: attempt, at: at, statusCode: code, error: error))
        }
        return deliveries.map { delivery in
            var delivery = delivery
            delivery.attempts = byDelivery[delivery.id] ?? []
            return delivery
        }
    }

    static let ruleColumns = """
        id, endpoint_id, name, alert_type, metric, condition, threshold, resolve_threshold, window_seconds, for_seconds, min_samples, \
        enabled, status, current_alert_id, pending_since, created_by, created_at, updated_at, channel_urls::text
        """

    static func rule(_ row: PostgresRow) throws -> (AlertJSON, String?) {
        let c = row.makeRandomAccess()
        let alert = AlertJSON(
            id: try c[0].decode(String.self), endpointId: try c[1].decode(String.self), name: try c[2].decode(String.self),
            alertType: try c[3].decode(String.self), metric: try c[4].decode(String.self), condition: try c[5].decode(String.self),
            threshold: try c[6].decode(Double.self), resolveThreshold: try c[7].decode(Double.self), windowSeconds: try c[8].decode(Int32.self),
            forSeconds: try c[9].decode(Int32.self), minSamples: try c[10].decode(Int64.self), enabled: try c[11].decode(Bool.self),
            notificationChannels: try JSONDecoder().decode([String].self, from: Data(try c[18].decode(String.self).utf8)).map {
                AlertJSON.Channel(kind: "webhook", url: $0)
            },
            status: try c[12].decode(String.self), pendingSince: try c[14].decode(Date?.self), current: nil, createdBy: try c[15].decode(String.self),
            createdAt: try c[16].decode(Date.self), updatedAt: try c[17].decode(Date.self), history: nil, deliveries: nil)
        return (alert, try c[13].decode(String?.self))
    }

    static let firedColumns = """
        id, status, observed_value, threshold, samples, message, window_start, window_end, fired_at, acknowledged_at, acknowledged_by, \
        acknowledge_note, resolved_at, resolved_by, resolved_automatically, resolve_note, resolved_value
        """

    static func fired(_ row: PostgresRow) throws -> AlertJSON.Fired {
        let c = row.makeRandomAccess()
        return AlertJSON.Fired(
            id: try c[0].decode(String.self), status: try c[1].decode(String.self), observedValue: try c[2].decode(Double.self),
            threshold: try c[3].decode(Double.self), samples: try c[4].decode(Int64.self), message: try c[5].decode(String.self),
            windowStart: try c[6].decode(Date.self), windowEnd: try c[7].decode(Date.self), firedAt: try c[8].decode(Date.self),
            acknowledgedAt: try c[9].decode(Date?.self), acknowledgedBy: try c[10].decode(String?.self),
            acknowledgeNote: try c[11].decode(String?.self),
            resolvedAt: try c[12].decode(Date?.self), resolvedBy: try c[13].decode(String?.self), resolvedAutomatically: try c[14].decode(Bool?.self),
            resolveNote: try c[15].decode(String?.self), resolvedValue: try c[16].decode(Double?.self))
    }
}
