import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// metrics-svc's own read model, updated in each command's transaction: alert rules with their current
/// status, and every alert they fired.
public struct MetricsReadModel: Projection {
    public let name = "metrics"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "alert rules and alerts",
                [
                    """
                    CREATE TABLE alert_rules (id text PRIMARY KEY, endpoint_id text NOT NULL, name text NOT NULL, alert_type text NOT NULL,
                        metric text NOT NULL, condition text NOT NULL, threshold float8 NOT NULL, resolve_threshold float8 NOT NULL,
                        window_seconds integer NOT NULL, for_seconds integer NOT NULL, min_samples bigint NOT NULL, enabled boolean NOT NULL,
                        status text NOT NULL, current_alert_id text, pending_since timestamptz, created_by text NOT NULL,
                        created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, deleted boolean NOT NULL DEFAULT false)
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
                ])
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
                        for_seconds, min_samples, enabled, status, created_by, created_at, updated_at)
                    VALUES (\(e.ruleID), \(e.endpointID), \(e.name), \(type), \(e.metric), \(condition), \(e.threshold), \(e.resolveThreshold),
                        \(e.windowSeconds), \(e.forSeconds), \(e.minSamples), \(e.enabled), 'ok', \(e.createdBy), \(at), \(at))
                    ON CONFLICT (id) DO NOTHING
                    """)
            case .alertRuleUpdated(let e):
                let condition = AlertRuleDecider.Condition(e.condition)?.rawValue ?? "gt"
                try await query(
                    """
                    UPDATE alert_rules SET name = \(e.name), condition = \(condition), threshold = \(e.threshold),
                        resolve_threshold = \(e.resolveThreshold), window_seconds = \(e.windowSeconds), for_seconds = \(e.forSeconds),
                        min_samples = \(e.minSamples), enabled = \(e.enabled), updated_at = \(at)
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
            case .alertAcknowledged(let e):
                try await query(
                    """
                    UPDATE alerts SET status = 'acknowledged', acknowledged_at = \(at), acknowledged_by = \(e.acknowledgedBy),
                        acknowledge_note = \(e.note)
                    WHERE id = \(e.alertID)
                    """)
                try await query("UPDATE alert_rules SET status = 'acknowledged', updated_at = \(at) WHERE id = \(e.ruleID)")
            case .alertResolved(let e):
                try await query(
                    """
                    UPDATE alerts SET status = 'resolved', resolved_at = \(at), resolved_by = \(e.resolvedBy),
                        resolved_automatically = \(e.automatic), resolve_note = \(e.note), resolved_value = \(e.observedValue)
                    WHERE id = \(e.alertID)
                    """)
                try await query(
                    "UPDATE alert_rules SET status = 'resolved', current_alert_id = NULL, updated_at = \(at) WHERE id = \(e.ruleID)")
            case .driftDetected, .feedbackRecorded, .feedbackFlagChanged, .feedbackDeleted, .feedbackSentToTraining:
                break  // not built yet: no command emits them
            }
        }
    }
}

extension AlertRuleDecider.Metric {
    /// The spec's `alert_type` of a metric.
    var typeName: String { type == .errorRate ? "error_rate" : "latency" }
}
