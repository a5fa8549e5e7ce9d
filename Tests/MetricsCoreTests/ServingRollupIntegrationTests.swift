import Foundation
import Logging
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayPlatform
import SlipwayStatistics
import SlipwayTestSupport
import SwiftProtobuf
import Testing

@testable import MetricsCore

/// The rollups against the real PostgreSQL and the dev broker: request logs published as serving-router
/// publishes them, ingested by a `StreamIngestor`, read back through the routes.
struct ServingRollupIntegrationTests {
    /// Query windows end here; the logs are received in the hour before it.
    static let now = Date(timeIntervalSince1970: 1_800_003_000)  // 08:50 UTC

    @Test func countsAreExactAndPercentilesWithinTheSketchErrorOverEveryWindow() async throws {
        let topic = TestInfrastructure.shared.uniqueTopic("serving")
        let endpoint = "ep-\(UUID().uuidString.prefix(8).lowercased())"
        // 3,000 requests over the last 50 minutes: latencies 1..3000 ms, every 10th a 503, every 25th a 400.
        var logs: [PredictionRequestLogged] = []
        for index in 0..<3000 {
            let status = index % 10 == 9 ? 503 : index % 25 == 24 ? 400 : 200
            logs.append(
                RequestLogs.log(
                    endpoint: endpoint, revision: index % 4 == 0 ? "canary" : "stable", status: status, latencyMicros: Int64(index + 1) * 1000,
                    at: Self.now.addingTimeInterval(-Double(index % 3000)), customer: "C\(index % 700)"))
        }
        let published = logs
        try await withTestService(MetricsService.definition(now: { Self.now })) { service in
            try await RequestLogs.publish(published, topic: topic)
            try await Self.ingest(service, topic: topic, group: "g1") { _ in try await service.total(endpoint) == 3000 }

            for path in [
                "/api/v1/monitoring/metrics/realtime/\(endpoint)?minutes=60",
                "/api/v1/monitoring/metrics/performance?endpoint_id=\(endpoint)&hours=1",
                "/api/v1/monitoring/metrics/performance?endpoint_id=\(endpoint)&hours=24",
                "/api/v1/monitoring/metrics/performance?endpoint_id=\(endpoint)&hours=168",
            ] {
                let answer = try await service.api.get(path, expect: .ok).json()
                let figures = path.contains("realtime") ? answer : try #require((answer["endpoints"] as? [[String: Any]])?.first)
                let summary = try #require(figures["summary"] as? [String: Any])
                let requests = try #require(summary["requests"] as? [String: Any])
                #expect(requests["total"] as? Int == 3000, "\(path)")
                #expect(requests["server_errors"] as? Int == 300, "\(path)")
                #expect(requests["client_errors"] as? Int == 60, "\(path)")  // index % 25 == 24 and not % 10 == 9
                #expect(requests["successful"] as? Int == 2640, "\(path)")
                let latency = try #require(summary["latency"] as? [String: Any])
                for (key, exact) in [("p50_ms", 1500.0), ("p95_ms", 2850.0), ("p99_ms", 2970.0)] {
                    let value = try #require(latency[key] as? Double)
                    // Within 1 % of the exact order statistic (allowing one neighbouring rank).
                    #expect(abs(value - exact) <= exact * 0.01 + 1, "\(path) \(key) \(value) vs \(exact)")
                }
                #expect(abs((summary["unique_customers"] as? Int ?? 0) - 700) <= 21, "\(path)")
                #expect(summary["complete"] as? Bool == true)
                let revisions = try #require(figures["by_revision"] as? [[String: Any]])
                #expect(revisions.map { $0["revision_id"] as? String } == ["stable", "canary"])
                let series = try #require(figures["series"] as? [[String: Any]])
                #expect(series.compactMap { $0["requests"] as? Int }.reduce(0, +) == 3000, "\(path)")
            }
            // One revision's figures since an instant, as deploy-svc's rollout gates read them.
            let since = ISO8601.millisecondString(Self.now.addingTimeInterval(-3000))
            let canary = try await service.api.get("/internal/revisions/canary/figures?since=\(since)&endpoint_id=\(endpoint)", expect: .ok).json()
            #expect(canary["requests"] as? Int == 750)
            #expect(canary["server_error_rate"] as? Double == 0)
            #expect(canary["error_rate"] as? Double == 0.04)  // 30 of its 750 were 400s
            #expect(canary["firing_alerts"] as? Int == 0)
            for (query, field) in [
                ("endpoint_id=\(endpoint)", "since"), ("since=yesterday&endpoint_id=\(endpoint)", "since"),
                ("since=\(ISO8601.millisecondString(Self.now.addingTimeInterval(60)))&endpoint_id=\(endpoint)", "since"),
                ("since=\(since)", "endpoint_id"),
            ] {
                let answer = try await service.api.get("/internal/revisions/canary/figures?\(query)")
                #expect(answer.status == .badRequest && answer.text.contains(field), "\(query): \(answer.text)")
            }
            // A deployment's view and the dashboard's "today".
            let deployment = try await service.api.get("/api/deployments/dep-\(endpoint)/metrics/?hours=2", expect: .ok).json()
            #expect((deployment["today"] as? [String: Any])?["predictions"] as? Int == 3000)
            #expect((deployment["today"] as? [String: Any])?["errors"] as? Int == 360)
            #expect(deployment["endpoint_id"] as? String == endpoint)
        }
    }

    /// Redelivery after a crash must not count twice: a second ingestor with a fresh consumer group reads the
    /// whole topic again from offset 0, and an ingestor stopped mid-stream leaves its transaction undone.
    @Test func redeliveredAndReplayedLogsAreNeverCountedTwice() async throws {
        let topic = TestInfrastructure.shared.uniqueTopic("serving")
        let endpoint = "ep-\(UUID().uuidString.prefix(8).lowercased())"
        let logs = (0..<5000).map { index in
            RequestLogs.log(
                endpoint: endpoint, revision: "r1", status: 200, latencyMicros: 1000, at: Self.now.addingTimeInterval(-Double(index % 600)))
        }
        try await withTestService(MetricsService.definition(now: { Self.now })) { service in
            try await RequestLogs.publish(Array(logs[..<2500]), topic: topic)
            // Stopped as soon as anything is in: the rest of the first half waits for the next ingestor.
            try await Self.ingest(service, topic: topic, group: "first") { _ in try await service.total(endpoint) > 0 }
            try await RequestLogs.publish(Array(logs[2500...]), topic: topic)
            try await Self.ingest(service, topic: topic, group: "first") { _ in try await service.total(endpoint) == 5000 }
            // Everything again, from the beginning of the topic: all of it seen, none of it counted.
            try await Self.ingest(service, topic: topic, group: "replay") { ingestor in ingestor.messagesSeen >= 5000 }
            #expect(try await service.total(endpoint) == 5000)
            // Logs of the 10 minutes before 08:50:00 and that minute: 11 minute buckets and their hour.
            #expect(try await service.scalar("SELECT count(*) FROM serving_rollups WHERE endpoint_id = '\(endpoint)'") == 12)
        }
    }

    @Test func droppedLogsMarkTheWindowIncomplete() async throws {
        let topic = TestInfrastructure.shared.uniqueTopic("serving")
        let endpoint = "ep-\(UUID().uuidString.prefix(8).lowercased())"
        var dropped = RequestLogsDropped()
        dropped.endpointID = endpoint
        dropped.deploymentID = "dep-\(endpoint)"
        dropped.revisionID = "r1"
        dropped.minute = Google_Protobuf_Timestamp(date: RollupGranularity.minute.bucket(of: Self.now))
        dropped.count = 12
        dropped.reason = "buffer_full"
        let report = dropped
        try await withTestService(MetricsService.definition(now: { Self.now })) { service in
            var envelopes = [
                try RequestLogs.envelope(RequestLogs.log(endpoint: endpoint, revision: "r1", status: 200, latencyMicros: 900, at: Self.now))
            ]
            envelopes.append(try RequestLogs.envelope(report, endpoint: endpoint))
            try await RequestLogs.publish(envelopes: envelopes, topic: topic)
            try await Self.ingest(service, topic: topic, group: "g") { _ in try await service.storedOffsets(topic) == 2 }
            let figures = try await service.api.get("/api/v1/monitoring/metrics/realtime/\(endpoint)?minutes=1", expect: .ok).json()
            let summary = try #require(figures["summary"] as? [String: Any])
            #expect(summary["logs_dropped"] as? Int == 12)
            #expect(summary["complete"] as? Bool == false)
            #expect((summary["requests"] as? [String: Any])?["total"] as? Int == 1)
        }
    }

    @Test func badQueriesAreRejectedNamingTheParameter() async throws {
        try await withTestService(MetricsService.definition(now: { Self.now })) { service in
            for (path, status, field) in [
                ("/api/v1/monitoring/metrics/performance?hours=0", 400, "hours"),
                ("/api/v1/monitoring/metrics/performance?hours=169", 400, "hours"),
                ("/api/v1/monitoring/metrics/performance?hours=abc", 400, "hours"),
                ("/api/v1/monitoring/metrics/realtime/any?minutes=61", 400, "minutes"),
                ("/api/v1/monitoring/metrics/realtime/nope-\(UUID().uuidString)", 404, "endpoint_id"),
                ("/api/v1/monitoring/metrics/performance?endpoint_id=nope", 404, "endpoint_id"),
                ("/api/deployments/nope/metrics/", 404, "deployment"),
                ("/api/deployments/nope/metrics/?hours=-1", 400, "hours"),
            ] {
                let answer = try await service.api.get(path)
                #expect(answer.status.code == status, "\(path): \(answer.text)")
                #expect(answer.text.contains(field), "\(path): \(answer.text)")
            }
            // Nothing was written by any of them.
            #expect(try await service.scalar("SELECT count(*) FROM serving_rollups") == 0)
        }
    }

    @Test func anAnnouncedEndpointWithoutTrafficAnswersZerosByIdAndName() async throws {
        try await withTestService(MetricsService.definition(now: { Self.now })) { service in
            var created = EndpointCreated()
            created.endpointID = "ep-quiet"
            created.name = "quiet"
            created.registeredModelID = "m"
            var builder = EnvelopeBuilder(service: "deploy")
            try await service.project([try builder.envelope(created, aggregateType: "Endpoint", aggregateID: "ep-quiet")], into: "served_endpoints")
            for reference in ["ep-quiet", "quiet"] {
                let figures = try await service.api.get("/api/v1/monitoring/metrics/realtime/\(reference)", expect: .ok).json()
                #expect(figures["endpoint_id"] as? String == "ep-quiet")
                #expect(figures["endpoint_name"] as? String == "quiet")
                let summary = try #require(figures["summary"] as? [String: Any])
                #expect((summary["requests"] as? [String: Any])?["total"] as? Int == 0)
                #expect(summary["latency"] is NSNull)
                #expect((figures["series"] as? [Any])?.count == 5)
            }
            let all = try await service.api.get("/api/v1/monitoring/metrics/performance", expect: .ok).json()
            #expect((all["endpoints"] as? [[String: Any]])?.contains { $0["endpoint_id"] as? String == "ep-quiet" } == true)
        }
    }

    // MARK: - Helpers

    /// Runs an ingestor of `topic` in consumer group `group` until `condition` holds, then cancels it (as a crash
    /// would: a transaction in flight is rolled back, offsets not yet committed to Kafka are lost).
    static func ingest(
        _ service: TestService, topic: String, group: String, until condition: @escaping @Sendable (StreamIngestor) async throws -> Bool
    ) async throws {
        var kafka = KafkaConsumerConfiguration(
            bootstrapServers: TestInfrastructure.shared.kafkaBrokers, groupId: "\(topic).\(group)", topics: [], autoOffsetReset: "earliest")
        kafka.sessionTimeoutMs = 3000
        let ingestor = StreamIngestor(
            ingestion: ServingRollupIngestion(topics: [topic]), client: service.postgres, configuration: .init(kafka: kafka),
            logger: TestInfrastructure.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await ingestor.run() }
            try await eventually(timeout: .seconds(40), "the ingestor caught up") { try await condition(ingestor) }
            group.cancelAll()
            try? await group.waitForAll()
        }
    }
}

extension TestService {
    /// Requests counted for `endpoint` in minute buckets (each is also in an hour bucket).
    func total(_ endpoint: String) async throws -> Int64 {
        try await scalar("SELECT coalesce(sum(requests), 0)::bigint FROM serving_rollups WHERE endpoint_id = '\(endpoint)' AND granularity_s = 60")
    }

    /// Messages of `topic` the ingestion has stored offsets past, over all partitions.
    func storedOffsets(_ topic: String) async throws -> Int64 {
        try await scalar("SELECT coalesce(sum(next_offset), 0)::bigint FROM slipway.stream_offsets WHERE topic = '\(topic)'")
    }
}
