import Foundation
import SlipwayContracts
import SlipwayPlatform
import SlipwayTestSupport
import Testing

@testable import MetricsCore

/// Alerts through the API on rollups ingested from the dev broker, with a clock the test moves and the
/// evaluator run by hand at each instant.
struct AlertIntegrationTests {
    static let t0 = ServingRollupIntegrationTests.now  // a minute boundary

    @Test func pendingThenFiringThenAcknowledgedThenResolvedByItselfAndNothingBelowTheMinimumSamples() async throws {
        let topic = TestInfrastructure.shared.uniqueTopic("serving")
        let endpoint = "ep-\(UUID().uuidString.prefix(8).lowercased())"
        let clock = TestClock(start: Self.t0)
        // 50 slow requests half a minute before t0; later, 200 fast ones.
        let slow = (0..<50).map { _ in
            RequestLogs.log(endpoint: endpoint, revision: "r1", status: 200, latencyMicros: 200_000, at: Self.t0 - 30)
        }
        let fast = (0..<200).map { _ in
            RequestLogs.log(endpoint: endpoint, revision: "r1", status: 200, latencyMicros: 10_000, at: Self.t0 + 350)
        }
        try await withTestService(MetricsService.definition(now: { clock.now }), runWorkers: false) { service in
            try await RequestLogs.publish(slow, topic: topic)
            try await ServingRollupIntegrationTests.ingest(service, topic: topic, group: "g1") { _ in try await service.total(endpoint) == 50 }
            let evaluator = AlertEvaluator(environment: service.environment, now: { clock.now })

            let created = try await service.api.post(
                "/api/v1/monitoring/alerts",
                #"{"endpoint_id": "\#(endpoint)", "alert_type": "latency", "threshold": 100, "condition": "gt", "for_seconds": 60, "min_samples": 20, "resolve_threshold": 80}"#,
                expect: .created
            ).json()
            let id = try #require(created["id"] as? String)
            #expect(created["status"] as? String == "ok")
            #expect(created["metric"] as? String == "latency_p95_ms")
            // The same breach, but a rule that needs more requests than there were: never a verdict.
            let strict = try await service.api.post(
                "/api/v1/monitoring/alerts",
                #"{"endpoint_id": "\#(endpoint)", "alert_type": "latency", "threshold": 100, "for_seconds": 0, "min_samples": 100}"#,
                expect: .created
            ).json()
            let strictID = try #require(strict["id"] as? String)

            func status(_ alert: String = id) async throws -> String? {
                try await service.api.get("/api/v1/monitoring/alerts/\(alert)", expect: .ok).json()["status"] as? String
            }
            try await evaluator.evaluateAll(at: clock.now)
            #expect(try await status() == "pending")
            clock.set(30)
            try await evaluator.evaluateAll(at: clock.now)
            #expect(try await status() == "pending")
            clock.set(60)
            try await evaluator.evaluateAll(at: clock.now)
            let active = try await service.api.get("/api/v1/monitoring/alerts/\(id)", expect: .ok).json()
            #expect(active["status"] as? String == "active")
            let current = try #require(active["current"] as? [String: Any])
            #expect((current["observed_value"] as? Double ?? 0) >= 199)
            #expect(current["samples"] as? Int == 50)
            #expect(try await status(strictID) == "ok", "50 requests are fewer than its min_samples of 100")
            let listed = try await service.api.get("/api/v1/monitoring/alerts?status=active&endpoint_id=\(endpoint)", expect: .ok).json()
            #expect((listed["alerts"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [id])

            let acknowledged = try await service.api.post(
                "/api/v1/monitoring/alerts/\(id)/acknowledge", #"{"note": "on it"}"#, headers: .actor("alice"), expect: .ok
            ).json()
            #expect(acknowledged["status"] as? String == "acknowledged")
            #expect((acknowledged["current"] as? [String: Any])?["acknowledge_note"] as? String == "on it")
            try await service.api.post("/api/v1/monitoring/alerts/\(id)/acknowledge", expect: .conflict)

            try await RequestLogs.publish(fast, topic: topic)
            try await ServingRollupIntegrationTests.ingest(service, topic: topic, group: "g1") { _ in try await service.total(endpoint) == 250 }
            clock.set(400)
            try await evaluator.evaluateAll(at: clock.now)
            let resolved = try await service.api.get("/api/v1/monitoring/alerts/\(id)", expect: .ok).json()
            #expect(resolved["status"] as? String == "resolved")
            let history = try #require(resolved["history"] as? [[String: Any]])
            #expect(history.count == 1)
            #expect(history.first?["resolved_automatically"] as? Bool == true)
            #expect(history.first?["acknowledged_by"] as? String == "alice")
            try await service.api.post("/api/v1/monitoring/alerts/\(id)/resolve", expect: .conflict)

            try await service.api.delete("/api/v1/monitoring/alerts/\(strictID)", expect: .noContent)
            try await service.api.get("/api/v1/monitoring/alerts/\(strictID)", expect: .notFound)
            #expect(try await service.scalar("SELECT count(*) FROM alert_rules WHERE NOT deleted") == 1)
        }
    }

    @Test func badAlertsAreRefusedNamingTheFieldAndNothingIsWritten() async throws {
        try await withTestService(MetricsService.definition(now: { Self.t0 }), runWorkers: false) { service in
            var created = EndpointCreated()
            created.endpointID = "ep-known"
            created.name = "known"
            var builder = EnvelopeBuilder(service: "deploy")
            try await service.project([try builder.envelope(created, aggregateType: "Endpoint", aggregateID: "ep-known")], into: "served_endpoints")
            for (body, status, field) in [
                (#"{"alert_type": "latency", "threshold": 1}"#, 400, "endpoint_id"),
                (#"{"endpoint_id": "known", "alert_type": "latency"}"#, 400, "threshold"),
                (#"{"endpoint_id": "known", "alert_type": "latency", "threshold": "high"}"#, 400, "threshold"),
                (#"{"endpoint_id": "known", "alert_type": "quality", "threshold": 1.5}"#, 422, "threshold"),
                (#"{"endpoint_id": "known", "alert_type": "drift", "threshold": 2}"#, 422, "threshold"),
                (#"{"endpoint_id": "known", "alert_type": "speed", "threshold": 0.1}"#, 422, "alert_type"),
                (#"{"endpoint_id": "known", "alert_type": "latency", "threshold": 1, "metric": "error_rate"}"#, 422, "metric"),
                (#"{"endpoint_id": "known", "alert_type": "latency", "threshold": 1, "condition": "gte"}"#, 422, "condition"),
                (#"{"endpoint_id": "known", "alert_type": "error_rate", "threshold": 1.5}"#, 422, "threshold"),
                (#"{"endpoint_id": "known", "alert_type": "latency", "threshold": 1, "window_seconds": 5}"#, 422, "window_seconds"),
                (
                    #"{"endpoint_id": "known", "alert_type": "latency", "threshold": 1, "notification_channels": ["https://hooks.example/x"]}"#, 422,
                    "notification_channels"
                ),
                (#"{"endpoint_id": "nowhere", "alert_type": "latency", "threshold": 1}"#, 404, "endpoint_id"),
            ] {
                let answer = try await service.api.post("/api/v1/monitoring/alerts", body)
                #expect(answer.status.code == status, "\(body): \(answer.text)")
                #expect(answer.text.contains(field), "\(body): \(answer.text)")
            }
            for (path, field) in [("/api/v1/monitoring/alerts?status=burning", "status"), ("/api/v1/monitoring/alerts?alert_type=x", "alert_type")] {
                let answer = try await service.api.get(path)
                #expect(answer.status.code == 400 && answer.text.contains(field), "\(path): \(answer.text)")
            }
            try await service.api.post("/api/v1/monitoring/alerts/nope/acknowledge", expect: .notFound)
            try await service.api.post("/api/v1/monitoring/alerts/nope/resolve", expect: .notFound)
            try await service.api.delete("/api/v1/monitoring/alerts/nope", expect: .notFound)
            try await service.api.get("/api/v1/monitoring/alerts/nope", expect: .notFound)
            try await service.api.patch("/api/v1/monitoring/alerts/nope", #"{"threshold": 3}"#, expect: .notFound)
            #expect(try await service.scalar("SELECT count(*) FROM alert_rules") == 0)
            #expect(try await service.scalar("SELECT count(*) FROM slipway.events") == 0)

            // A good one by name, then a change of threshold through PATCH.
            let alert = try await service.api.post(
                "/api/v1/monitoring/alerts", #"{"endpoint_id": "known", "alert_type": "error_rate", "threshold": 0.05}"#, expect: .created
            ).json()
            #expect(alert["endpoint_id"] as? String == "ep-known")
            let id = try #require(alert["id"] as? String)
            let patched = try await service.api.patch("/api/v1/monitoring/alerts/\(id)", #"{"threshold": 0.1, "enabled": false}"#, expect: .ok).json()
            #expect(patched["threshold"] as? Double == 0.1 && patched["resolve_threshold"] as? Double == 0.1 && patched["enabled"] as? Bool == false)
            try await service.api.patch("/api/v1/monitoring/alerts/\(id)", #"{"threshold": 7}"#, expect: .unprocessableContent)
        }
    }
}
