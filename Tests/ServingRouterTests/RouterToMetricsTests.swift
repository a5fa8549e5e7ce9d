import Foundation
import MetricsCore
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayTestSupport
import Synchronization
import Testing

@testable import ServingRouterCore

/// The whole serving-metrics path with real parts: requests through serving-router to a model-server process,
/// request logs through the dev broker, metrics-svc's ingestor into PostgreSQL, figures from its API.
struct RouterToMetricsTests {
    @Test func everyRequestThroughTheRouterIsCountedOnceByMetricsSvc() async throws {
        let server = try await ModelServerProcess.start(version: "1")
        defer { server.stop() }
        let key = TestKey()
        let name = uniqueName("metered")
        let endpoint = endpointDocument(name: name, routes: [("r1", server.address, 100)])
        try await withTestService(MetricsService.definition) { metrics in
            var kafka = KafkaConsumerConfiguration(
                bootstrapServers: TestInfrastructure.shared.kafkaBrokers, groupId: "metrics-e2e-\(UUID().uuidString)", topics: [])
            kafka.sessionTimeoutMs = 3000
            let ingestor = StreamIngestor(
                ingestion: ServingRollupIngestion(), client: metrics.postgres, configuration: .init(kafka: kafka),
                logger: RouterTestEnvironment.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await ingestor.run() }
                defer { group.cancelAll() }
                let shipped = Atomic<Int>(0)
                try await withRouter(RoutingDocument(endpoints: [endpoint], apiKeys: [key.document()])) { router in
                    for index in 0..<120 {
                        let answer = try await router.call("/\(name)/recommend", key: key, body: #"{"customer_id": "C\#(index % 40)", "top_k": 5}"#)
                        #expect(answer.status == 200)
                    }
                    for _ in 0..<20 { #expect(try await router.call("/\(name)/recommend", key: key, body: #"{"top_k": 0}"#).status == 400) }
                    for _ in 0..<10 { #expect(try await router.call("/\(name)/recommend", authorization: "Bearer no", body: "{}").status == 401) }
                    try await RouterHandle.waitUntil(timeout: .seconds(10)) { router.router.parts.shipper.sent.load(ordering: .relaxed) >= 150 }
                    shipped.store(router.router.parts.shipper.sent.load(ordering: .relaxed), ordering: .relaxed)
                }
                #expect(shipped.load(ordering: .relaxed) == 150, "the router's own count of shipped logs")
                let path = "/api/v1/monitoring/metrics/realtime/\(endpoint.endpointID)?minutes=5"
                try await eventually(timeout: .seconds(30), "metrics-svc counted every request") {
                    let answer = try await metrics.api.get(path)
                    guard answer.status == .ok else { return false }
                    return ((try answer.json()["summary"] as? [String: Any])?["requests"] as? [String: Any])?["total"] as? Int == 150
                }
                let figures = try await metrics.api.get(path, expect: .ok).json()
                let summary = try #require(figures["summary"] as? [String: Any])
                let requests = try #require(summary["requests"] as? [String: Any])
                #expect(requests["successful"] as? Int == 120)
                #expect(requests["client_errors"] as? Int == 30)
                #expect(requests["server_errors"] as? Int == 0)
                #expect(abs((summary["unique_customers"] as? Int ?? 0) - 40) <= 2, "a distinct-count estimate")
                #expect(summary["avg_top_k"] as? Double == 5)
                let latency = try #require(summary["latency"] as? [String: Any])
                #expect((latency["p50_ms"] as? Double ?? 0) > 0)
                #expect((latency["p99_ms"] as? Double ?? 0) >= (latency["p50_ms"] as? Double ?? 0))
                let revisions = try #require(figures["by_revision"] as? [[String: Any]])
                #expect(revisions.first?["revision_id"] as? String == "r1")
                #expect(((revisions.first?["summary"] as? [String: Any])?["requests"] as? [String: Any])?["total"] as? Int == 140)
                #expect((figures["by_api_key"] as? [[String: Any]])?.first?["requests"] as? Int == 140)
            }
        }
    }
}
