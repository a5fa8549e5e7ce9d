import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SlipwayContracts
import SlipwayPlatform
import SlipwayTestSupport
import Synchronization
import Testing

@testable import MetricsCore

/// A webhook receiver on loopback that answers 500 first: the alert's notification is signed, retried after the
/// backoff with the same delivery id, and its attempts are the alert's delivery history.
struct WebhookDeliveryTests {
    /// Records what it receives and answers with the queued statuses (then 200).
    final class Receiver: Sendable {
        struct Received: Sendable {
            let headers: HTTPFields
            let body: [UInt8]
        }
        let received = Mutex<[Received]>([])
        let statuses = Mutex<[Int]>([500])

        var router: Router<BasicRequestContext> {
            let router = Router()
            router.post("/hook") { [self] request, _ -> Response in
                let body = try await request.body.collect(upTo: 1 << 20)
                received.withLock { $0.append(Received(headers: request.headers, body: Array(buffer: body))) }
                let status = statuses.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
                return Response(status: .init(code: status))
            }
            return router
        }
    }

    @Test func aFiredAlertIsPostedSignedAndRetriedAfterA500() async throws {
        let topic = TestInfrastructure.shared.uniqueTopic("serving")
        let endpoint = "ep-\(UUID().uuidString.prefix(8).lowercased())"
        let clock = TestClock(start: AlertIntegrationTests.t0)
        let secret = "a-receiver-secret-\(UUID().uuidString.prefix(6))"
        let receiver = Receiver()
        let slow = (0..<30).map { _ in
            RequestLogs.log(
                endpoint: endpoint, revision: "r1", status: 503, latencyMicros: 5_000, at: AlertIntegrationTests.t0 - 20)
        }
        try await withStandInServer(receiver.router) { receiverBase in
            let hook = receiverBase + "/hook"
            try await withTestService(MetricsService.definition(now: { clock.now }), runWorkers: false) { service in
                try await RequestLogs.publish(slow, topic: topic)
                try await ServingRollupIntegrationTests.ingest(service, topic: topic, group: "g") { _ in try await service.total(endpoint) == 30 }
                let created = try await service.api.post(
                    "/api/v1/monitoring/alerts",
                    #"{"endpoint_id": "\#(endpoint)", "alert_type": "error_rate", "threshold": 0.5, "for_seconds": 0, "notification_channels": [{"kind": "webhook", "url": "\#(hook)", "secret": "\#(secret)"}]}"#,
                    expect: .created)
                #expect(!created.text.contains(secret), "a channel's secret is never shown")
                let id = try #require(try created.json()["id"] as? String)
                #expect((try created.json()["notification_channels"] as? [[String: Any]])?.first?["url"] as? String == hook)

                let deliverer = WebhookDeliverer(environment: service.environment, now: { clock.now })
                try await AlertEvaluator(environment: service.environment, now: { clock.now }).evaluateAll(at: clock.now)
                #expect(try await deliverer.deliverDue(at: clock.now) == 1)
                #expect(try await deliverer.deliverDue(at: clock.now) == 0, "the retry waits for its backoff")
                clock.set(1)
                #expect(try await deliverer.deliverDue(at: clock.now) == 1)
                #expect(try await deliverer.deliverDue(at: clock.now.addingTimeInterval(3600)) == 0, "delivered: nothing left")

                let received = receiver.received.withLock { $0 }
                #expect(received.count == 2)
                for delivery in received {
                    let expected = HMAC<SHA256>.authenticationCode(for: delivery.body, using: SymmetricKey(data: Array(secret.utf8)))
                        .map { String(format: "%02x", $0) }.joined()
                    #expect(delivery.headers[HTTPField.Name("X-Slipway-Signature")!] == "sha256=\(expected)")
                    #expect(delivery.headers[HTTPField.Name("X-Slipway-Event")!] == "alert.fired")
                    let body = try JSONSerialization.jsonObject(with: Data(delivery.body)) as? [String: Any]
                    #expect(body?["event"] as? String == "alert.fired")
                    #expect(body?["rule_id"] as? String == id)
                    #expect(body?["observed_value"] as? Double == 1)
                }
                #expect(Set(received.map { $0.headers[HTTPField.Name("X-Slipway-Delivery")!] ?? "" }).count == 1, "a retry keeps its delivery id")

                let alert = try await service.api.get("/api/v1/monitoring/alerts/\(id)", expect: .ok).json()
                let deliveries = try #require(alert["deliveries"] as? [[String: Any]])
                #expect(deliveries.count == 1)
                #expect(deliveries.first?["status"] as? String == "delivered")
                #expect((deliveries.first?["attempts"] as? [[String: Any]])?.compactMap { $0["status_code"] as? Int } == [500, 200])
            }
        }
    }
}
