import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayPlatform

/// Reads of testing-svc's tables: endpoints as deploy-svc's events left them, and stored tests.
struct TestingQueries {
    let client: PostgresClient
    let logger: Logger

    enum EndpointLookup {
        case missing, deleted, notServing(model: String), serving(TestedEndpoint)
    }

    func endpoint(_ name: String) async throws -> EndpointLookup {
        let rows = try await client.query(
            """
            SELECT e.name, e.endpoint_id, e.model_name, e.deleted, d.deployment_id, d.model_version_id, d.version_number, d.artifact_uri
            FROM tested_endpoints e LEFT JOIN tested_deployments d ON d.deployment_id = e.serving_deployment_id
            WHERE e.name = \(name)
            """, logger: logger)
        for try await (name, id, model, deleted, deployment, version, number, artifact) in rows.decode(
            (String, String, String, Bool, String?, String?, Int?, String?).self)
        {
            if deleted { return .deleted }
            guard let deployment, let version, let number, let artifact else { return .notServing(model: model) }
            return .serving(
                TestedEndpoint(
                    name: name, endpointID: id, modelName: model, deploymentID: deployment, modelVersionID: version, versionNumber: number,
                    artifactURI: artifact))
        }
        return .missing
    }

    func report(_ id: String) async throws -> [UInt8]? {
        let rows = try await client.query("SELECT report::text FROM endpoint_tests WHERE id = \(id)", logger: logger)
        for try await text in rows.decode(String.self) { return Array(text.utf8) }
        return nil
    }

    func loadTest(_ id: String) async throws -> (report: String, status: String, endpoint: String)? {
        let rows = try await client.query("SELECT report::text, status, endpoint_name FROM load_tests WHERE id = \(id)", logger: logger)
        for try await row in rows.decode((String, String, String).self) { return row }
        return nil
    }

    /// An endpoint's load tests, newest first.
    func loadTests(endpoint: String, limit: Int) async throws -> [String] {
        let rows = try await client.query(
            "SELECT report::text FROM load_tests WHERE endpoint_name = \(endpoint) ORDER BY started_at DESC, id DESC LIMIT \(limit)", logger: logger)
        var reports: [String] = []
        for try await report in rows.decode(String.self) { reports.append(report) }
        return reports
    }

    /// Newest first.
    func history(endpoint: String, before: Date? = nil, limit: Int, offset: Int) async throws -> (reports: [String], total: Int) {
        let rows = try await client.query(
            """
            SELECT report::text, count(*) OVER () FROM endpoint_tests
            WHERE endpoint_name = \(endpoint) AND (\(before == nil) OR started_at < \(before ?? .distantFuture))
            ORDER BY started_at DESC, id DESC LIMIT \(limit) OFFSET \(offset)
            """, logger: logger)
        var reports: [String] = []
        var total = 0
        for try await (report, count) in rows.decode((String, Int).self) {
            reports.append(report)
            total = count
        }
        if reports.isEmpty, offset > 0 {
            let counted = try await client.query(
                """
                SELECT count(*) FROM endpoint_tests
                WHERE endpoint_name = \(endpoint) AND (\(before == nil) OR started_at < \(before ?? .distantFuture))
                """, logger: logger)
            for try await count in counted.decode(Int.self) { total = count }
        }
        return (reports, total)
    }

    /// A scheduled check as the API shows it.
    struct CheckJSON: ResponseEncodable, Decodable, Sendable {
        var endpoint: String
        var enabled: Bool
        var intervalSeconds: Int
        var intervalMinutes: Int
        var sampleCount: Int
        @Nullable var nextRunAt: Date?
        @Nullable var lastTestId: String?
        @Nullable var lastRunAt: Date?
        @Nullable var lastStatus: String?
        var skipped: Int
        @Nullable var lastSkippedAt: Date?
        var configuredBy: String
        var configuredAt: Date
    }

    func check(_ endpoint: String) async throws -> CheckJSON? {
        let rows = try await client.query(
            """
            SELECT endpoint_name, enabled, interval_seconds, sample_count, next_run_at, last_test_id, last_run_at, last_status, skipped,
                last_skipped_at, configured_by, configured_at
            FROM scheduled_checks WHERE check_id = \(endpoint)
            """, logger: logger)
        for try await (name, enabled, interval, samples, next, lastTest, lastRun, lastStatus, skipped, lastSkipped, by, at) in rows.decode(
            (String, Bool, Int, Int, Date?, String?, Date?, String?, Int, Date?, String, Date).self)
        {
            return CheckJSON(
                endpoint: name, enabled: enabled, intervalSeconds: interval, intervalMinutes: interval / 60, sampleCount: samples, nextRunAt: next,
                lastTestId: lastTest, lastRunAt: lastRun, lastStatus: lastStatus, skipped: skipped, lastSkippedAt: lastSkipped, configuredBy: by,
                configuredAt: at)
        }
        return nil
    }

    /// A test still "running" this long after it started was abandoned (its process died): it blocks no check. A test
    /// takes at most its 300 s timeout plus the time to read its data.
    static let abandonedAfterSeconds: TimeInterval = 600

    /// Enabled checks whose slot has come, with the test of theirs still running, if one is.
    func dueChecks(at instant: Date) async throws -> [(endpoint: String, slot: Date, sampleCount: Int, runningTestID: String?)] {
        let rows = try await client.query(
            """
            SELECT c.check_id, c.next_run_at, c.sample_count,
                (SELECT t.id FROM endpoint_tests t WHERE t.check_id = c.check_id AND t.status = 'running'
                    AND t.started_at > \(instant.addingTimeInterval(-Self.abandonedAfterSeconds)) LIMIT 1)
            FROM scheduled_checks c WHERE c.enabled AND c.next_run_at <= \(instant) ORDER BY c.next_run_at LIMIT 500
            """, logger: logger)
        var due: [(endpoint: String, slot: Date, sampleCount: Int, runningTestID: String?)] = []
        for try await (id, slot, samples, running) in rows.decode((String, Date, Int, String?).self) {
            due.append((id, slot, samples, running))
        }
        return due
    }

    /// A rollout test's verdict as deploy-svc's gate reads it.
    struct Verdict: ResponseEncodable, Sendable {
        var testId: String
        /// `running`, `passed`, `failed` or `error`.
        var status: String
        /// The first issue, or why the test could not run.
        var summary: String
    }

    func verdict(_ id: String) async throws -> Verdict? {
        let rows = try await client.query(
            """
            SELECT status, coalesce(nullif(report->>'error', ''), report->'validation'->'issues'->>0,
                report->'health_check'->>'message', '')
            FROM endpoint_tests WHERE id = \(id)
            """, logger: logger)
        for try await (status, summary) in rows.decode((String, String).self) { return Verdict(testId: id, status: status, summary: summary) }
        return nil
    }

    /// A deployment as a test of it sees it (whether or not it serves yet).
    func deployment(_ id: String) async throws -> TestedEndpoint? {
        try await client.withConnection { try await TestedEndpointsProjection.deployment(id, on: $0, logger: logger) }
    }

    /// Tests started but not finished that a runner should run: rollout gates' (the API's and checks' run where they start).
    func unfinishedRolloutTests() async throws -> [String] {
        let rows = try await client.query(
            "SELECT id FROM endpoint_tests WHERE status = 'running' AND trigger = 'rollout' ORDER BY started_at LIMIT 100", logger: logger)
        var ids: [String] = []
        for try await id in rows.decode(String.self) { ids.append(id) }
        return ids
    }

    struct PreviousAnswers {
        var testID: String
        var modelVersionID: String
        var versionNumber: Int
        var answers: [SampleAnswer]
    }

    /// The newest finished test of the endpoint on another version, with its answers: what a new version is compared with.
    func previousAnswers(endpoint: String, otherThan version: String) async throws -> PreviousAnswers? {
        let rows = try await client.query(
            """
            SELECT id, model_version_id, version_number, answers::text FROM endpoint_tests
            WHERE endpoint_name = \(endpoint) AND model_version_id <> \(version) AND completed_at IS NOT NULL AND answers <> '[]'::jsonb
            ORDER BY started_at DESC LIMIT 1
            """, logger: logger)
        for try await (id, versionID, number, answers) in rows.decode((String, String, Int, String).self) {
            let list = (try? JSONSerialization.jsonObject(with: Data(answers.utf8))) as? [Any] ?? []
            let decoded = try list.map { item in
                try SampleAnswer(jsonUTF8Data: try JSONSerialization.data(withJSONObject: item), options: TestReport.decoding)
            }
            return PreviousAnswers(testID: id, modelVersionID: versionID, versionNumber: number, answers: decoded)
        }
        return nil
    }
}
