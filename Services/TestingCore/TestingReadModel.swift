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
                ])
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
            case .scheduledCheckConfigured:
                continue  // scheduled checks arrive with their own issue
            }
        }
    }
}
