import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SwiftProtobuf

/// testing-svc's own read model, updated in each command's transaction: every endpoint test with the columns
/// history is filtered and ordered by, and its report in the spec's response shape (`TestReport`), written from
/// the events alone.
public struct TestingReadModel: Projection {
    public let name = "testing"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "endpoint tests",
                [
                    """
                    CREATE TABLE endpoint_tests (id text PRIMARY KEY, endpoint_name text NOT NULL, endpoint_id text NOT NULL,
                        deployment_id text NOT NULL, model_version_id text NOT NULL, version_number integer NOT NULL, trigger text NOT NULL,
                        status text NOT NULL, success boolean, started_at timestamptz NOT NULL, completed_at timestamptz,
                        started jsonb NOT NULL, report jsonb NOT NULL, answers jsonb NOT NULL DEFAULT '[]')
                    """,
                    "CREATE INDEX endpoint_tests_by_endpoint ON endpoint_tests (endpoint_name, started_at DESC)",
                ]),
            Migration(
                2, "scheduled checks",
                [
                    """
                    CREATE TABLE scheduled_checks (check_id text PRIMARY KEY, endpoint_name text NOT NULL, enabled boolean NOT NULL,
                        interval_seconds integer NOT NULL, sample_count integer NOT NULL, next_run_at timestamptz, last_test_id text,
                        last_run_at timestamptz, last_status text, skipped integer NOT NULL DEFAULT 0, last_skipped_at timestamptz,
                        configured_by text NOT NULL, configured_at timestamptz NOT NULL)
                    """,
                    "CREATE INDEX scheduled_checks_due ON scheduled_checks (next_run_at) WHERE enabled",
                    "ALTER TABLE endpoint_tests ADD COLUMN check_id text",
                    "CREATE INDEX endpoint_tests_running_by_check ON endpoint_tests (check_id) WHERE status = 'running'",
                ]),
            Migration(
                3, "load tests",
                [
                    """
                    CREATE TABLE load_tests (id text PRIMARY KEY, endpoint_name text NOT NULL, status text NOT NULL,
                        cancel_requested boolean NOT NULL DEFAULT false, started_at timestamptz NOT NULL, finished_at timestamptz,
                        started jsonb NOT NULL, report jsonb NOT NULL)
                    """,
                    "CREATE INDEX load_tests_by_endpoint ON load_tests (endpoint_name, started_at DESC)",
                ]),
        ]
    }

    public func apply(_ events: [Recorded<TestingEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            switch recorded.event {
            case .endpointTestStarted(let e):
                let started = try TestReport.jsonText(e)
                let report = try TestReport.report(started: e, completed: nil, startedAt: recorded.occurredAt, completedAt: nil)
                try await connection.query(
                    """
                    INSERT INTO endpoint_tests (id, endpoint_name, endpoint_id, deployment_id, model_version_id, version_number, trigger, status,
                        started_at, started, report)
                    VALUES (\(e.testID), \(e.endpointName), \(e.endpointID), \(e.deploymentID), \(e.modelVersionID), \(Int(e.versionNumber)),
                        \(TestReport.triggerName(e.trigger)), 'running', \(recorded.occurredAt), \(started)::jsonb, \(report)::jsonb)
                    ON CONFLICT (id) DO NOTHING
                    """, logger: logger)
                if !e.scheduledCheckID.isEmpty {
                    // The check's next slot is one interval after this one.
                    try await connection.query("UPDATE endpoint_tests SET check_id = \(e.scheduledCheckID) WHERE id = \(e.testID)", logger: logger)
                    try await connection.query(
                        """
                        UPDATE scheduled_checks SET last_test_id = \(e.testID), last_run_at = \(e.checkSlot.date), last_status = 'running',
                            next_run_at = CASE WHEN enabled THEN \(e.checkSlot.date) + interval_seconds * interval '1 second' END
                        WHERE check_id = \(e.scheduledCheckID)
                        """, logger: logger)
                }
            case .endpointTestCompleted(let e):
                let rows = try await connection.query(
                    "SELECT started::text, started_at FROM endpoint_tests WHERE id = \(e.testID)", logger: logger)
                var found: (String, Date)?
                for try await row in rows.decode((String, Date).self) { found = row }
                guard let (startedText, startedAt) = found else { continue }
                let started = try EndpointTestStarted(jsonString: startedText, options: TestReport.decoding)
                let report = try TestReport.report(started: started, completed: e, startedAt: startedAt, completedAt: recorded.occurredAt)
                let answers = try TestReport.jsonList(e.answers)
                try await connection.query(
                    """
                    UPDATE endpoint_tests SET status = \(TestReport.status(e)), success = \(e.passed), completed_at = \(recorded.occurredAt),
                        report = \(report)::jsonb, answers = \(answers)::jsonb
                    WHERE id = \(e.testID)
                    """, logger: logger)
                try await connection.query(
                    "UPDATE scheduled_checks SET last_status = \(TestReport.status(e)) WHERE last_test_id = \(e.testID)", logger: logger)
            case .scheduledCheckConfigured(let e):
                let next: Date? = e.hasNextRunAt ? e.nextRunAt.date : nil
                try await connection.query(
                    """
                    INSERT INTO scheduled_checks (check_id, endpoint_name, enabled, interval_seconds, sample_count, next_run_at, configured_by,
                        configured_at)
                    VALUES (\(e.checkID), \(e.endpointID), \(e.enabled), \(Int(e.intervalSeconds)), \(Int(e.sampleCount)), \(next), \(e.configuredBy),
                        \(recorded.occurredAt))
                    ON CONFLICT (check_id) DO UPDATE SET enabled = EXCLUDED.enabled, interval_seconds = EXCLUDED.interval_seconds,
                        sample_count = EXCLUDED.sample_count, next_run_at = EXCLUDED.next_run_at, configured_by = EXCLUDED.configured_by,
                        configured_at = EXCLUDED.configured_at
                    """, logger: logger)
            case .loadTestStarted(let e):
                let report = try LoadTestReport.report(started: e, finished: nil, cancelRequested: false, finishedAt: nil)
                try await connection.query(
                    """
                    INSERT INTO load_tests (id, endpoint_name, status, started_at, started, report)
                    VALUES (\(e.loadTestID), \(e.endpointName), 'running', \(e.startedAt.date), \(try TestReport.jsonText(e))::jsonb, \(report)::jsonb)
                    ON CONFLICT (id) DO NOTHING
                    """, logger: logger)
            case .loadTestCancelRequested(let e):
                guard let started = try await loadTestStarted(e.loadTestID, on: connection, logger: logger) else { continue }
                let report = try LoadTestReport.report(started: started, finished: nil, cancelRequested: true, finishedAt: nil)
                try await connection.query(
                    "UPDATE load_tests SET cancel_requested = true, report = \(report)::jsonb WHERE id = \(e.loadTestID) AND status = 'running'",
                    logger: logger)
            case .loadTestFinished(let e):
                guard let started = try await loadTestStarted(e.loadTestID, on: connection, logger: logger) else { continue }
                let report = try LoadTestReport.report(
                    started: started, finished: e, cancelRequested: e.outcome == .cancelled, finishedAt: recorded.occurredAt)
                try await connection.query(
                    """
                    UPDATE load_tests SET status = \(LoadTestReport.status(e.outcome)), finished_at = \(recorded.occurredAt), report = \(report)::jsonb
                    WHERE id = \(e.loadTestID)
                    """, logger: logger)
            case .scheduledCheckSkipped(let e):
                try await connection.query(
                    """
                    UPDATE scheduled_checks SET skipped = skipped + 1, last_skipped_at = \(e.slotTime.date),
                        next_run_at = CASE WHEN enabled THEN \(e.nextRunAt.date) END
                    WHERE check_id = \(e.checkID)
                    """, logger: logger)
            }
        }
    }

    private func loadTestStarted(_ id: String, on connection: PostgresConnection, logger: Logger) async throws -> LoadTestStarted? {
        let rows = try await connection.query("SELECT started::text FROM load_tests WHERE id = \(id)", logger: logger)
        for try await text in rows.decode(String.self) { return try LoadTestStarted(jsonString: text, options: TestReport.decoding) }
        return nil
    }
}
