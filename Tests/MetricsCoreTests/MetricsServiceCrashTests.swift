import Foundation
import PostgresNIO
import SlipwayContracts
import SlipwayKafka
import SlipwayLocalRuntime
import SlipwayTestSupport
import Testing

/// The metrics-svc executable as `slipway up` runs it (its own dev broker and database), killed with SIGKILL in
/// the middle of ingesting the request log and started again: every request is counted exactly once, and its
/// read models still rebuild from the events into the same rows.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct MetricsServiceCrashTests {
    let infrastructure = TestInfrastructure.shared

    @Test func killedMidIngestAndRestartedItCountsEveryRequestExactlyOnce() async throws {
        let work = URL(fileURLWithPath: infrastructure.workDirectory).appendingPathComponent("metrics-crash-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let broker = try await infrastructure.ownBroker(in: work)
        defer { withExtendedLifetime(broker.process) {} }
        let database = try await infrastructure.freshDatabase("metrics_crash")
        let endpoint = "ep-crash-\(UUID().uuidString.prefix(8).lowercased())"

        // 48,000 requests of the last two minutes (5 % client errors, 1 % server errors), half before metrics-svc starts
        // and half while it is down. Keyed by request id, over the topic's six partitions: the dev broker keeps only
        // the newest ~5 MiB of each partition.
        let total = 48_000
        let now = Date()
        @Sendable func publish(_ range: Range<Int>) async throws {
            let producer = try KafkaProducer(
                configuration: KafkaProducerConfiguration(bootstrapServers: broker.address, clientId: "metrics-crash-test"),
                logger: TestInfrastructure.logger)
            let messages = try range.map { index in
                let status = index % 100 == 0 ? 503 : index % 20 == 1 ? 400 : 200
                let log = RequestLogs.log(
                    endpoint: endpoint, revision: "r1", status: status, latencyMicros: Int64(1_000 + index % 5_000),
                    at: now.addingTimeInterval(-Double(index % 120)), customer: "C\(index % 500)")
                let envelope = try RequestLogs.envelope(log, endpoint: endpoint)
                return KafkaOutgoingMessage(topic: EventContext.serving.topic, key: Array(log.requestID.utf8), value: try envelope.serializedBytes())
            }
            _ = try await producer.send(messages)
            await producer.shutdown()
        }
        try await publish(0..<(total / 2))

        let port = try freeTCPPort()
        @Sendable func start(_ run: Int) throws -> Launched {
            try Launched(
                infrastructure.executable("metrics-svc"),
                [
                    "--host", "127.0.0.1", "--port", "\(port)", "--database-url", "\(database)", "--kafka-brokers", broker.address,
                    "--log-level", "warning",
                ] + TestInfrastructure.isolatedPeerArguments, log: work.appendingPathComponent("metrics-\(run).log"))
        }
        try await withPostgres(database) { client in
            @Sendable func counted() async throws -> (requests: Int64, clientErrors: Int64, serverErrors: Int64) {
                let rows = try await client.query(
                    """
                    SELECT coalesce(sum(requests), 0)::bigint, coalesce(sum(client_errors), 0)::bigint, coalesce(sum(server_errors), 0)::bigint
                    FROM serving_rollups WHERE endpoint_id = \(endpoint) AND granularity_s = 60
                    """, logger: TestInfrastructure.logger)
                for try await row in rows.decode((Int64, Int64, Int64).self) { return row }
                return (0, 0, 0)
            }
            let first = try start(1)
            // Polled every 2 ms, not waitUntil's 50: metrics-svc once took in all 24,000 between two 50 ms polls.
            let deadline = ContinuousClock.now + .seconds(60)
            while (try? await counted().requests) ?? 0 == 0 {
                guard first.process.isRunning, ContinuousClock.now < deadline else {
                    throw TimedOut(description: "metrics-svc ingesting: \(first.logTail)")
                }
                try await Task.sleep(for: .milliseconds(2))
            }
            kill(first.process.processIdentifier, SIGKILL)
            first.process.waitUntilExit()
            let atKill = try await counted().requests
            #expect(atKill < Int64(total / 2), "the kill came after the whole stream was in: nothing was interrupted")
            print("metrics-svc killed with \(atKill) of \(total) requests counted")
            try await publish((total / 2)..<total)

            let second = try start(2)
            let api = APITestClient(baseURL: "http://127.0.0.1:\(port)")
            do {
                try await second.waitUntil("metrics-svc counted the whole stream") { try await counted().requests >= Int64(total) }
            } catch {
                Issue.record("\(error); counted \(try await counted().requests); log: \(second.logTail)")
                throw error
            }
            try await Task.sleep(for: .seconds(1))  // anything counted twice would show by now
            let final = try await counted()
            #expect(final.requests == Int64(total) && final.clientErrors == Int64(total / 20) && final.serverErrors == Int64(total / 100))
            let summary = try await api.get("/api/v1/monitoring/metrics/realtime/\(endpoint)?minutes=5", expect: .ok).json()["summary"]
            #expect(((summary as? [String: Any])?["requests"] as? [String: Any])?["total"] as? Int == total)

            let replay = try await api.post("/internal/replay?verify=true&keep=false", expect: .ok).json()
            let reports = replay["reports"] as? [[String: Any]] ?? []
            #expect(!reports.isEmpty && reports.allSatisfy { $0["verified"] as? Bool == true }, "\(reports)")
            let elapsed = try await second.terminate(underLoad: {})
            #expect(second.exitStatus == 0, "metrics-svc: \(second.logTail) after \(elapsed)")
        }
    }
}
