import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// testing-svc's endpoint tests as metrics-svc needs them: each finished test of what an endpoint serves — scheduled
/// checks, smoke tests after activations, manual and API tests — passed or not. The `endpoint_test_pass_rate` alert
/// metric and the health score's `endpoint_test` part read it. A rollout gate's test of a revision that serves
/// nothing yet is left out: its failure already rolls the rollout back.
public struct EndpointTestsProjection: Projection {
    public let name = "endpoint_test_outcomes"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "endpoint test outcomes",
                [
                    """
                    CREATE TABLE endpoint_test_outcomes (test_id text PRIMARY KEY, endpoint_id text NOT NULL, triggered_by text NOT NULL,
                        model_version_id text NOT NULL, started_at timestamptz NOT NULL, completed_at timestamptz, passed boolean,
                        summary text NOT NULL DEFAULT '')
                    """,
                    "CREATE INDEX endpoint_test_outcomes_by_endpoint ON endpoint_test_outcomes (endpoint_id, completed_at DESC)",
                ])
        ]
    }

    public func apply(_ events: [Recorded<TestingEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            switch recorded.event {
            case .endpointTestStarted(let e) where e.rolloutStepIndex < 0:
                try await connection.query(
                    """
                    INSERT INTO endpoint_test_outcomes (test_id, endpoint_id, triggered_by, model_version_id, started_at)
                    VALUES (\(e.testID), \(e.endpointID), \(Self.triggerName(e.trigger)), \(e.modelVersionID), \(recorded.occurredAt))
                    ON CONFLICT (test_id) DO NOTHING
                    """, logger: logger)
            case .endpointTestCompleted(let e):
                // A test that could not run (no data, no key) did not pass either: an alert should say so.
                let summary = !e.error.isEmpty ? e.error : e.validationIssues.first ?? (e.passed ? "" : "failed")
                try await connection.query(
                    """
                    UPDATE endpoint_test_outcomes SET completed_at = \(recorded.occurredAt), passed = \(e.passed), summary = \(summary)
                    WHERE test_id = \(e.testID)
                    """, logger: logger)
            case .endpointTestStarted, .scheduledCheckConfigured, .scheduledCheckSkipped, .loadTestStarted, .loadTestCancelRequested,
                .loadTestFinished:
                break
            }
        }
    }

    static func triggerName(_ trigger: TestTrigger) -> String {
        switch trigger {
        case .manual: "manual"
        case .scheduled: "scheduled"
        case .deployment: "smoke"
        case .api, .unspecified, .UNRECOGNIZED: "api"
        }
    }
}

/// An endpoint's latest finished test, as health shows it.
public struct LastEndpointTest: Codable, Sendable {
    public let testId: String
    public let passed: Bool
    public let triggeredBy: String
    public let modelVersionId: String
    public let completedAt: Date
    public let summary: String
}

struct EndpointTestQueries {
    let client: PostgresClient
    let logger: Logger

    func last(endpointID: String) async throws -> LastEndpointTest? {
        let rows = try await client.query(
            """
            SELECT test_id, passed, triggered_by, model_version_id, completed_at, summary FROM endpoint_test_outcomes
            WHERE endpoint_id = \(endpointID) AND completed_at IS NOT NULL ORDER BY completed_at DESC LIMIT 1
            """, logger: logger)
        for try await (id, passed, trigger, version, at, summary) in rows.decode((String, Bool, String, String, Date, String).self) {
            return LastEndpointTest(testId: id, passed: passed, triggeredBy: trigger, modelVersionId: version, completedAt: at, summary: summary)
        }
        return nil
    }

    /// Share of the tests finished in the window that passed, and how many finished.
    func passRate(endpointID: String, start: Date, end: Date) async throws -> (rate: Double, count: Int64) {
        let rows = try await client.query(
            """
            SELECT count(*), count(*) FILTER (WHERE passed) FROM endpoint_test_outcomes
            WHERE endpoint_id = \(endpointID) AND completed_at >= \(start) AND completed_at < \(end)
            """, logger: logger)
        for try await (count, passed) in rows.decode((Int64, Int64).self) {
            return (count > 0 ? Double(passed) / Double(count) : 0, count)
        }
        return (0, 0)
    }
}
