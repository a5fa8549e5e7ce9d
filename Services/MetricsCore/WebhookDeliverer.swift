import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import SlipwayEventSourcing
import SlipwayPlatform

/// Posts due webhook deliveries (rows the alert transitions made in their own transactions), signed with the
/// channel's secret, and reports every attempt as an event on the rule, which schedules the retry with
/// backoff or gives up after `AlertRuleDecider.maxDeliveryAttempts`. It runs apart from the evaluator, and
/// each post has a timeout, so a slow or failing receiver never delays evaluation. Delivery is at least
/// once: a crash between the post and its report repeats the post (receivers dedupe on the delivery id).
public struct WebhookDeliverer: Sendable {
    let environment: ServiceEnvironment
    let now: @Sendable () -> Date
    static let interval: Duration = .seconds(1)
    static let timeout: TimeAmount = .seconds(5)
    /// Deliveries attempted per round, at once.
    static let batch = 32

    public init(environment: ServiceEnvironment, now: @escaping @Sendable () -> Date) {
        self.environment = environment
        self.now = now
    }

    var worker: PollingWorker {
        PollingWorker("webhook-deliverer", every: Self.interval, logger: environment.logger) { _ = try await deliverDue(at: now()) }
    }

    struct Due: Sendable {
        let id: String
        let ruleID: String
        let alertID: String
        let event: String
        let target: String
        let payload: String
        let attempts: Int32
    }

    /// Attempts every delivery due at `instant`; returns how many were attempted.
    @discardableResult
    public func deliverDue(at instant: Date) async throws -> Int {
        let rows = try await environment.postgres.query(
            """
            SELECT id, rule_id, alert_id, event, target, payload, attempts FROM webhook_deliveries
            WHERE status = 'pending' AND next_attempt_at <= \(instant) ORDER BY next_attempt_at, id LIMIT \(Self.batch)
            """, logger: environment.logger)
        var due: [Due] = []
        for try await (id, rule, alert, event, target, payload, attempts) in rows.decode((String, String, String, String, String, String, Int32).self)
        {
            due.append(Due(id: id, ruleID: rule, alertID: alert, event: event, target: target, payload: payload, attempts: attempts))
        }
        await withTaskGroup(of: Void.self) { group in
            for delivery in due { group.addTask { await attempt(delivery) } }
        }
        return due.count
    }

    func attempt(_ delivery: Due) async {
        do {
            let state = try await environment.store.state(AlertRuleDecider.self, aggregateID: delivery.ruleID)
            var attempt = delivery.attempts + 1
            var statusCode: Int32 = 0
            var error = ""
            if let channel = state.rule?.channels.first(where: { $0.url == delivery.target }) {
                (statusCode, error) = await post(delivery, secret: channel.secret)
            } else {
                // The rule no longer has this webhook: nothing to sign with, nowhere it is wanted.
                error = "the channel was removed from the rule"
                attempt = max(attempt, AlertRuleDecider.maxDeliveryAttempts)
            }
            let report = AlertRuleDecider.DeliveryAttempt(
                deliveryID: delivery.id, alertID: delivery.alertID, target: delivery.target, attempt: attempt, statusCode: statusCode, error: error,
                at: now())
            try await environment.execute(
                AlertRuleDecider.self, aggregateID: delivery.ruleID, command: .recordDelivery(report),
                metadata: CommandMetadata(causationID: "webhook-deliverer", actor: "webhook-deliverer"))
        } catch {
            // Not recorded: the row stays due and the next round tries again.
            environment.logger.warning(
                "webhook delivery not recorded", metadata: [LogKey.aggregateID: "\(delivery.ruleID)", LogKey.error: "\(error)"])
        }
    }

    /// The HTTP status (0 when nothing answered) and, unless 2xx, what went wrong.
    func post(_ delivery: Due, secret: String) async -> (Int32, String) {
        let body = Array(delivery.payload.utf8)
        var request = HTTPClientRequest(url: delivery.target)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "slipway-metrics")
        request.headers.add(name: "X-Slipway-Event", value: delivery.event)
        request.headers.add(name: "X-Slipway-Delivery", value: delivery.id)
        request.headers.add(name: "X-Slipway-Signature", value: "sha256=" + Self.signature(of: body, secret: secret))
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await environment.httpClient.execute(request, timeout: Self.timeout)
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let code = Int32(response.status.code)
            return (code, (200..<300).contains(code) ? "" : "HTTP \(code)")
        } catch {
            return (0, "\(error)")
        }
    }

    /// Hex HMAC-SHA256 of the body with the channel's secret: what a receiver recomputes to trust a delivery.
    static func signature(of body: [UInt8], secret: String) -> String {
        SecretMaterial.hex(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8))))
    }
}
