import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayStatistics

/// metrics-svc's own read model, updated in each command's transaction: alert rules with their current
/// status, every alert they fired, and the webhook deliveries of each transition with their attempts;
/// drift reports; feedback and the training datasets it was sent to.
public struct MetricsReadModel: Projection {
    public let name = "metrics"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "alert rules, alerts and their webhook deliveries",
                [
                    """
                    CREATE TABLE alert_rules (id text PRIMARY KEY, endpoint_id text NOT NULL, name text NOT NULL, alert_type text NOT NULL,
                        metric text NOT NULL, condition text NOT NULL, threshold float8 NOT NULL, resolve_threshold float8 NOT NULL,
                        window_seconds integer NOT NULL, for_seconds integer NOT NULL, min_samples bigint NOT NULL, enabled boolean NOT NULL,
                        status text NOT NULL, current_alert_id text, pending_since timestamptz, channel_urls jsonb NOT NULL,
                        created_by text NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
                        deleted boolean NOT NULL DEFAULT false)
                    """,
                    "CREATE INDEX alert_rules_by_endpoint ON alert_rules (endpoint_id)",
                    """
                    CREATE TABLE alerts (id text PRIMARY KEY, rule_id text NOT NULL, endpoint_id text NOT NULL, status text NOT NULL,
                        metric text NOT NULL, threshold float8 NOT NULL, observed_value float8 NOT NULL, samples bigint NOT NULL,
                        message text NOT NULL, window_start timestamptz NOT NULL, window_end timestamptz NOT NULL, fired_at timestamptz NOT NULL,
                        acknowledged_at timestamptz, acknowledged_by text, acknowledge_note text, resolved_at timestamptz, resolved_by text,
                        resolved_automatically boolean, resolve_note text, resolved_value float8)
                    """,
                    "CREATE INDEX alerts_by_rule ON alerts (rule_id, fired_at DESC)",
                    // One row per alert transition and webhook, made in the transition's own transaction (so a
                    // restart never loses one); each attempt the deliverer reports as an event moves it on.
                    """
                    CREATE TABLE webhook_deliveries (id text PRIMARY KEY, rule_id text NOT NULL, alert_id text NOT NULL, event text NOT NULL,
                        target text NOT NULL, payload text NOT NULL, status text NOT NULL, attempts integer NOT NULL,
                        next_attempt_at timestamptz, last_status_code integer, last_error text, created_at timestamptz NOT NULL,
                        updated_at timestamptz NOT NULL)
                    """,
                    "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'",
                    "CREATE INDEX webhook_deliveries_by_rule ON webhook_deliveries (rule_id, created_at)",
                    """
                    CREATE TABLE webhook_attempts (delivery_id text NOT NULL, attempt integer NOT NULL, at timestamptz NOT NULL,
                        status_code integer NOT NULL, error text NOT NULL, PRIMARY KEY (delivery_id, attempt))
                    """,
                ]),
            Migration(
                2, "scheduled drift reports",
                [
                    """
                    CREATE TABLE drift_reports (id text PRIMARY KEY, endpoint_id text NOT NULL,
                        analyzed_at timestamptz NOT NULL,  -- the instant the analysis is as of (the comparison's end)
                        baseline_start timestamptz NOT NULL, comparison_start timestamptz NOT NULL, status text NOT NULL,
                        drift_detected boolean NOT NULL, drift_score float8 NOT NULL, severity text NOT NULL, affected_features jsonb NOT NULL,
                        baseline_rows bigint NOT NULL, comparison_rows bigint NOT NULL)
                    """,
                    "CREATE INDEX drift_reports_by_endpoint ON drift_reports (endpoint_id, analyzed_at DESC)",
                ]),
            Migration(
                3, "feedback and the datasets it was sent to",
                [
                    """
                    CREATE TABLE feedback_items (id text PRIMARY KEY, endpoint_id text NOT NULL, rating text NOT NULL, request_id text NOT NULL,
                        session_id text NOT NULL, customer_id text NOT NULL, product_id text NOT NULL, feedback_text text NOT NULL,
                        input_text text NOT NULL, output_text text NOT NULL, flagged boolean NOT NULL DEFAULT false, submitted_by text NOT NULL,
                        created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)
                    """,
                    "CREATE INDEX feedback_by_endpoint ON feedback_items (endpoint_id, created_at DESC)",
                    "CREATE INDEX feedback_by_time ON feedback_items (created_at DESC)",
                    """
                    CREATE TABLE feedback_training (feedback_id text NOT NULL, dataset_id text NOT NULL, sent_by text NOT NULL,
                        sent_at timestamptz NOT NULL, PRIMARY KEY (feedback_id, dataset_id))
                    """,
                ]),
            // Each feature's result, as the drift route answers it, so a page can show the hourly analysis instead of
            // measuring again (reports recorded before have none: readers measure then).
            Migration(
                4, "drift reports keep each feature's result", ["ALTER TABLE drift_reports ADD COLUMN features jsonb NOT NULL DEFAULT '[]'::jsonb"]),
        ]
    }

    public func apply(_ events: [Recorded<MetricsEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            let at = recorded.occurredAt
            func query(_ sql: PostgresQuery) async throws { try await connection.query(sql, logger: logger) }
            switch recorded.event {
            case .alertRuleCreated(let e):
                let condition = AlertRuleDecider.Condition(e.condition)?.rawValue ?? "gt"
                let type = AlertRuleDecider.Metric(rawValue: e.metric)?.typeName ?? "latency"
                try await query(
                    """
                    INSERT INTO alert_rules (id, endpoint_id, name, alert_type, metric, condition, threshold, resolve_threshold, window_seconds,
                        for_seconds, min_samples, enabled, status, channel_urls, created_by, created_at, updated_at)
                    VALUES (\(e.ruleID), \(e.endpointID), \(e.name), \(type), \(e.metric), \(condition), \(e.threshold), \(e.resolveThreshold),
                        \(e.windowSeconds), \(e.forSeconds), \(e.minSamples), \(e.enabled), 'ok', \(try Self.urls(e.channels))::jsonb, \(e.createdBy),
                        \(at), \(at))
                    ON CONFLICT (id) DO NOTHING
                    """)
            case .alertRuleUpdated(let e):
                let condition = AlertRuleDecider.Condition(e.condition)?.rawValue ?? "gt"
                try await query(
                    """
                    UPDATE alert_rules SET name = \(e.name), condition = \(condition), threshold = \(e.threshold),
                        resolve_threshold = \(e.resolveThreshold), window_seconds = \(e.windowSeconds), for_seconds = \(e.forSeconds),
                        min_samples = \(e.minSamples), enabled = \(e.enabled), channel_urls = \(try Self.urls(e.channels))::jsonb, updated_at = \(at)
                    WHERE id = \(e.ruleID)
                    """)
            case .alertRuleDeleted(let e):
                try await query("UPDATE alert_rules SET deleted = true, updated_at = \(at) WHERE id = \(e.ruleID)")
            case .alertPending(let e):
                try await query(
                    """
                    UPDATE alert_rules SET status = 'pending', current_alert_id = \(e.alertID), pending_since = \(e.since.date), updated_at = \(at)
                    WHERE id = \(e.ruleID)
                    """)
            case .alertPendingCleared(let e):
                // Back to what it was before the breach: resolved if it has fired before, else ok.
                try await query(
                    """
                    UPDATE alert_rules SET status = CASE WHEN EXISTS (SELECT 1 FROM alerts WHERE rule_id = \(e.ruleID)) THEN 'resolved' ELSE 'ok' END,
                        current_alert_id = NULL, pending_since = NULL, updated_at = \(at)
                    WHERE id = \(e.ruleID)
                    """)
            case .alertFired(let e):
                try await query(
                    """
                    INSERT INTO alerts (id, rule_id, endpoint_id, status, metric, threshold, observed_value, samples, message, window_start,
                        window_end, fired_at)
                    VALUES (\(e.alertID), \(e.ruleID), \(e.endpointID), 'active', \(e.metric), \(e.threshold), \(e.observedValue), \(e.samples),
                        \(e.message), \(e.windowStart.date), \(e.windowEnd.date), \(at))
                    ON CONFLICT (id) DO NOTHING
                    """)
                try await query(
                    """
                    UPDATE alert_rules SET status = 'active', current_alert_id = \(e.alertID), pending_since = NULL, updated_at = \(at)
                    WHERE id = \(e.ruleID)
                    """)
                var notification = AlertNotification(event: "alert.fired", occurredAt: at, alertId: e.alertID, ruleId: e.ruleID)
                notification.endpointId = e.endpointID
                notification.metric = e.metric
                notification.threshold = e.threshold
                notification.observedValue = e.observedValue
                notification.samples = e.samples
                notification.message = e.message
                try await queueDeliveries(notification, recorded, on: connection, logger: logger)
            case .alertAcknowledged(let e):
                try await query(
                    """
                    UPDATE alerts SET status = 'acknowledged', acknowledged_at = \(at), acknowledged_by = \(e.acknowledgedBy),
                        acknowledge_note = \(e.note)
                    WHERE id = \(e.alertID)
                    """)
                try await query("UPDATE alert_rules SET status = 'acknowledged', updated_at = \(at) WHERE id = \(e.ruleID)")
                var notification = AlertNotification(event: "alert.acknowledged", occurredAt: at, alertId: e.alertID, ruleId: e.ruleID)
                notification.by = e.acknowledgedBy
                notification.note = e.note
                try await queueDeliveries(notification, recorded, on: connection, logger: logger)
            case .alertResolved(let e):
                try await query(
                    """
                    UPDATE alerts SET status = 'resolved', resolved_at = \(at), resolved_by = \(e.resolvedBy),
                        resolved_automatically = \(e.automatic), resolve_note = \(e.note), resolved_value = \(e.observedValue)
                    WHERE id = \(e.alertID)
                    """)
                try await query(
                    "UPDATE alert_rules SET status = 'resolved', current_alert_id = NULL, updated_at = \(at) WHERE id = \(e.ruleID)")
                var notification = AlertNotification(event: "alert.resolved", occurredAt: at, alertId: e.alertID, ruleId: e.ruleID)
                notification.automatic = e.automatic
                notification.by = e.automatic ? nil : e.resolvedBy
                notification.note = e.note.isEmpty ? nil : e.note
                notification.observedValue = e.automatic ? e.observedValue : nil
                try await queueDeliveries(notification, recorded, on: connection, logger: logger)
            case .alertNotificationAttempted(let e):
                let status = e.delivered ? "delivered" : e.gaveUp ? "failed" : "pending"
                let next: Date? = e.hasNextAttemptAt ? e.nextAttemptAt.date : nil
                try await query(
                    """
                    UPDATE webhook_deliveries SET status = \(status), attempts = \(e.attempt), next_attempt_at = \(next),
                        last_status_code = \(e.statusCode), last_error = \(e.error), updated_at = \(at)
                    WHERE id = \(e.deliveryID)
                    """)
                try await query(
                    """
                    INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error)
                    VALUES (\(e.deliveryID), \(e.attempt), \(at), \(e.statusCode), \(e.error)) ON CONFLICT DO NOTHING
                    """)
            case .driftDetected(let e):
                let severity = Self.severityName(e.severity)
                let affected = String(decoding: try JSONEncoder().encode(e.features.filter(\.drifted).map(\.feature)), as: UTF8.self)
                let features = String(decoding: try PlatformJSON.encoder.encode(e.features.map(Self.featureResult)), as: UTF8.self)
                try await query(
                    """
                    INSERT INTO drift_reports (id, endpoint_id, analyzed_at, baseline_start, comparison_start, status, drift_detected, drift_score,
                        severity, affected_features, baseline_rows, comparison_rows, features)
                    VALUES (\(e.reportID), \(e.endpointID), \(e.comparisonEnd.date), \(e.baselineStart.date), \(e.comparisonStart.date),
                        \(e.insufficientData ? "insufficient_data" : "ok"), \(e.driftDetected), \(e.driftScore), \(severity), \(affected)::jsonb,
                        \(e.baselineRows), \(e.comparisonRows), \(features)::jsonb)
                    ON CONFLICT (id) DO NOTHING
                    """)
            case .feedbackRecorded(let e):
                let rating = e.rating == .negative ? "negative" : "positive"
                try await query(
                    """
                    INSERT INTO feedback_items (id, endpoint_id, rating, request_id, session_id, customer_id, product_id, feedback_text, input_text,
                        output_text, submitted_by, created_at, updated_at)
                    VALUES (\(e.feedbackID), \(e.endpointID), \(rating), \(e.requestID), \(e.sessionID), \(e.customerID), \(e.productID),
                        \(e.feedbackText), \(e.inputText), \(e.outputText), \(e.submittedBy), \(e.submittedAt.date), \(at))
                    ON CONFLICT (id) DO NOTHING
                    """)
            case .feedbackFlagChanged(let e):
                try await query("UPDATE feedback_items SET flagged = \(e.flagged), updated_at = \(at) WHERE id = \(e.feedbackID)")
            case .feedbackDeleted(let e):
                // Gone from every list and figure; the events keep what it was, as the log keeps everything.
                try await query("DELETE FROM feedback_items WHERE id = \(e.feedbackID)")
                try await query("DELETE FROM feedback_training WHERE feedback_id = \(e.feedbackID)")
            case .feedbackSentToTraining(let e):
                try await query(
                    """
                    INSERT INTO feedback_training (feedback_id, dataset_id, sent_by, sent_at) VALUES (\(e.feedbackID), \(e.datasetID), \(e.sentBy), \(at))
                    ON CONFLICT DO NOTHING
                    """)
                try await query("UPDATE feedback_items SET updated_at = \(at) WHERE id = \(e.feedbackID)")
            }
        }
    }

    /// One delivery row per webhook of the rule, due at once. Its id (the event's id and the channel's index) is
    /// the delivery id receivers see, the same in a replay.
    func queueDeliveries(_ notification: AlertNotification, _ recorded: Recorded<MetricsEvent>, on connection: PostgresConnection, logger: Logger)
        async throws
    {
        let payload = String(decoding: try PlatformJSON.encode(notification), as: UTF8.self)
        let at = recorded.occurredAt
        try await connection.query(
            """
            INSERT INTO webhook_deliveries (id, rule_id, alert_id, event, target, payload, status, attempts, next_attempt_at, created_at, updated_at)
            SELECT \(recorded.eventID) || '-' || (c.n - 1), r.id, \(notification.alertId), \(notification.event), c.url, \(payload), 'pending', 0,
                \(at), \(at), \(at)
            FROM alert_rules r, jsonb_array_elements_text(r.channel_urls) WITH ORDINALITY AS c(url, n)
            WHERE r.id = \(notification.ruleId)
            ON CONFLICT (id) DO NOTHING
            """, logger: logger)
    }

    /// A feature's result as `DriftDetected` carries it: the statistics its kind has, none when there was too little data.
    static func featureResult(_ event: FeatureDrift) -> FeatureDriftResult {
        let measured = !event.insufficientData
        return FeatureDriftResult(
            feature: event.feature, kind: event.numeric ? .numeric : .categorical, status: measured ? .ok : .insufficientData,
            psi: measured ? event.psi : nil, ksStatistic: measured && event.numeric ? event.ksStatistic : nil,
            ksPValue: measured && event.numeric ? event.ksPValue : nil, jensenShannon: measured && !event.numeric ? event.jensenShannon : nil,
            unseenShare: measured && !event.numeric ? event.unseenShare : nil,
            severity: SlipwayStatistics.DriftSeverity(rawValue: severityName(event.severity)) ?? .none,
            baselineCount: Int(event.baselineCount), comparisonCount: Int(event.comparisonCount))
    }

    static func severityName(_ severity: SlipwayContracts.DriftSeverity) -> String {
        switch severity {
        case .none, .unspecified, .UNRECOGNIZED: "none"
        case .low: "low"
        case .medium: "medium"
        case .high: "high"
        case .critical: "critical"
        }
    }

    /// The channels' URLs (never their secrets) as a JSON array.
    static func urls(_ channels: [NotificationChannel]) throws -> String {
        String(decoding: try JSONEncoder().encode(channels.map(\.target)), as: UTF8.self)
    }
}

/// The body of a webhook delivery, signed with the channel's secret: `X-Slipway-Signature: sha256=<hex HMAC-SHA256
/// of the body>`; `X-Slipway-Delivery` carries the delivery id (deliveries are at least once: dedupe on it).
struct AlertNotification: Encodable, Sendable {
    /// alert.fired, alert.acknowledged or alert.resolved.
    let event: String
    let occurredAt: Date
    let alertId: String
    let ruleId: String
    var endpointId: String?
    var metric: String?
    var threshold: Double?
    var observedValue: Double?
    var samples: Int64?
    var message: String?
    var automatic: Bool?
    var by: String?
    var note: String?
}

extension AlertRuleDecider.Metric {
    /// The spec's `alert_type` of a metric.
    var typeName: String {
        switch type {
        case .errorRate: "error_rate"
        case .drift: "drift"
        case .quality: "quality"
        default: "latency"
        }
    }
}
