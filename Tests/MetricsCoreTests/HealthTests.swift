import Foundation
import SlipwayStatistics
import SlipwayTestSupport
import Testing

@testable import MetricsCore

/// The health score's table, then the route on ingested traffic with an alert firing.
struct HealthTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let inputs: HealthScore.Inputs
        let score: Int
        let status: String
        var testDescription: String { name }
    }

    static func inputs(
        requests: Int64 = 1000, errors: Double = 0, p95: Double? = 50, active: Int = 0, acknowledged: Int = 0,
        drift: DriftSeverity? = DriftSeverity.none, lastTestPassed: Bool? = nil
    ) -> HealthScore.Inputs {
        HealthScore.Inputs(
            requests: requests, serverErrorRate: errors, p95Ms: p95, latencyObjectiveMs: 100, activeAlerts: active, acknowledgedAlerts: acknowledged,
            driftSeverity: drift, lastTestPassed: lastTestPassed)
    }

    static let cases: [Case] = [
        Case(name: "all well", inputs: inputs(), score: 100, status: "healthy"),
        Case(name: "10 % server errors", inputs: inputs(errors: 0.1), score: 60, status: "warning"),
        Case(name: "1 % server errors", inputs: inputs(errors: 0.01), score: 96, status: "healthy"),
        Case(name: "p95 twice the objective", inputs: inputs(p95: 200), score: 75, status: "degraded"),
        Case(name: "two active alerts and critical drift", inputs: inputs(active: 2, drift: .critical), score: 50, status: "warning"),
        Case(name: "one acknowledged alert", inputs: inputs(acknowledged: 1), score: 95, status: "healthy"),
        Case(name: "everything wrong", inputs: inputs(errors: 0.5, p95: 1000, active: 3, drift: .critical), score: 0, status: "critical"),
        Case(name: "no traffic, nothing firing", inputs: inputs(requests: 0, p95: nil, drift: nil), score: 100, status: "healthy"),
        Case(name: "the latest endpoint test failed", inputs: inputs(lastTestPassed: false), score: 80, status: "degraded"),
        Case(name: "the latest endpoint test passed", inputs: inputs(lastTestPassed: true), score: 100, status: "healthy"),
    ]

    @Test(arguments: cases)
    func scoresAndStatuses(_ example: Case) {
        let health = HealthScore(example.inputs)
        #expect(health.score == example.score)
        #expect(health.status == example.status)
        #expect(health.parts.map(\.name) == ["errors", "latency", "alerts", "drift", "endpoint_test"])
    }

    @Test func theRouteCombinesTrafficAlertsAndDrift() async throws {
        let topic = TestInfrastructure.shared.uniqueTopic("serving")
        let endpoint = "ep-\(UUID().uuidString.prefix(8).lowercased())"
        let t0 = AlertIntegrationTests.t0
        let logs = (0..<100).map { index in
            RequestLogs.log(
                endpoint: endpoint, revision: "r1", status: index % 10 == 0 ? 503 : 200, latencyMicros: 5_000, at: t0 - 30)
        }
        try await withTestService(MetricsService.definition(now: { t0 }), runWorkers: false) { service in
            try await RequestLogs.publish(logs, topic: topic)
            try await ServingRollupIntegrationTests.ingest(service, topic: topic, group: "g") { _ in try await service.total(endpoint) == 100 }
            let healthy = try await service.api.get("/api/v1/monitoring/health/\(endpoint)?latency_objective_ms=50", expect: .ok).json()
            #expect(healthy["score"] as? Int == 60, "10 % 5xx costs 40: \(healthy)")
            #expect(healthy["status"] as? String == "warning")
            try await service.api.post(
                "/api/v1/monitoring/alerts", #"{"endpoint_id": "\#(endpoint)", "alert_type": "error_rate", "threshold": 0.05, "for_seconds": 0}"#,
                expect: .created)
            try await AlertEvaluator(environment: service.environment, now: { t0 }).evaluateAll(at: t0)
            let alerting = try await service.api.get("/api/v1/monitoring/health/\(endpoint)", expect: .ok).json()
            #expect(alerting["score"] as? Int == 45)
            #expect(alerting["status"] as? String == "critical")
            #expect(alerting["active_alerts"] as? Int == 1)
            #expect((alerting["drift"] as? [String: Any])?["status"] as? String == "insufficient_data")
            let parts = try #require(alerting["parts"] as? [[String: Any]])
            #expect(parts.compactMap { $0["name"] as? String } == ["errors", "latency", "alerts", "drift", "endpoint_test"])

            for (path, status, field) in [
                ("/api/v1/monitoring/health/\(endpoint)?minutes=0", 400, "minutes"),
                ("/api/v1/monitoring/health/\(endpoint)?latency_objective_ms=0", 400, "latency_objective_ms"),
                ("/api/v1/monitoring/health/nowhere-\(endpoint)", 404, "endpoint_id"),
            ] {
                let answer = try await service.api.get(path)
                #expect(answer.status.code == status && answer.text.contains(field), "\(path): \(answer.text)")
            }
        }
    }
}
