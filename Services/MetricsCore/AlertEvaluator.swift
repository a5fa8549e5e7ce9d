import Foundation
import Logging
import PostgresNIO
import SlipwayEventSourcing
import SlipwayPlatform

/// Measures every enabled rule's metric over its window from the rollups and hands the observation to the
/// rule's decider, which decides pending, firing and resolving. Runs every `interval`; `evaluateAll(at:)`
/// is also what tests call with their own clock.
public struct AlertEvaluator: Sendable {
    let environment: ServiceEnvironment
    let now: @Sendable () -> Date
    public static let interval: Duration = .seconds(10)

    public init(environment: ServiceEnvironment, now: @escaping @Sendable () -> Date) {
        self.environment = environment
        self.now = now
    }

    var worker: PollingWorker {
        PollingWorker("alert-evaluator", every: Self.interval, logger: environment.logger) { try await evaluateAll(at: now()) }
    }

    /// One evaluation of every enabled rule; a rule that fails to evaluate does not stop the others.
    public func evaluateAll(at instant: Date) async throws {
        let rows = try await environment.postgres.query(
            "SELECT id, endpoint_id, metric, window_seconds FROM alert_rules WHERE enabled AND NOT deleted ORDER BY id", logger: environment.logger)
        var rules: [(String, String, String, Int32)] = []
        for try await rule in rows.decode((String, String, String, Int32).self) { rules.append(rule) }
        for (id, endpointID, metricName, windowSeconds) in rules {
            guard let metric = AlertRuleDecider.Metric(rawValue: metricName) else { continue }
            do {
                let observation = try await observe(metric, endpointID: endpointID, windowSeconds: windowSeconds, at: instant)
                try await environment.execute(
                    AlertRuleDecider.self, aggregateID: id, command: .evaluate(observation),
                    metadata: CommandMetadata(causationID: "alert-evaluator", actor: "alert-evaluator")
                )
            } catch {
                environment.logger.warning("alert evaluation failed", metadata: [LogKey.aggregateID: "\(id)", LogKey.error: "\(error)"])
            }
        }
    }

    /// The metric over the whole minutes covering `windowSeconds` up to `instant` (the current minute included).
    func observe(_ metric: AlertRuleDecider.Metric, endpointID: String, windowSeconds: Int32, at instant: Date) async throws
        -> AlertRuleDecider.Observation
    {
        if metric == .driftScore { return try await observeDrift(endpointID: endpointID, windowSeconds: windowSeconds, at: instant) }
        if metric == .feedbackPositiveRate {
            let start = instant.addingTimeInterval(-Double(windowSeconds))
            let feedback = FeedbackQueries(client: environment.postgres, logger: environment.logger)
            let (rate, count) = try await feedback.positiveRate(endpointID: endpointID, start: start, end: instant)
            return AlertRuleDecider.Observation(value: count > 0 ? rate : nil, samples: count, windowStart: start, at: instant)
        }
        if metric == .endpointTestPassRate {
            let start = instant.addingTimeInterval(-Double(windowSeconds))
            let tests = EndpointTestQueries(client: environment.postgres, logger: environment.logger)
            let (rate, count) = try await tests.passRate(endpointID: endpointID, start: start, end: instant)
            return AlertRuleDecider.Observation(value: count > 0 ? rate : nil, samples: count, windowStart: start, at: instant)
        }
        let window = ServingWindow(lastMinutes: max(1, (Int(windowSeconds) + 59) / 60), now: instant)
        let figures = try await ServingRollupStore.figures(
            .endpoint(endpointID), window: window, client: environment.postgres, logger: environment.logger)
        let summary = figures.summary
        let value: Double?
        switch metric {
        case .latencyP50: value = summary.latency?.p50Ms
        case .latencyP95: value = summary.latency?.p95Ms
        case .latencyP99: value = summary.latency?.p99Ms
        case .errorRate: value = summary.requests.total > 0 ? summary.errorRate : nil
        case .serverErrorRate: value = summary.requests.total > 0 ? summary.serverErrorRate : nil
        case .driftScore, .feedbackPositiveRate, .endpointTestPassRate: value = nil  // answered above
        }
        return AlertRuleDecider.Observation(value: value, samples: summary.requests.total, windowStart: window.start, at: instant)
    }

    /// The newest scheduled drift report no older than the window: its score, with its comparison rows as the
    /// samples. None, or one without enough data: no value (no verdict).
    func observeDrift(endpointID: String, windowSeconds: Int32, at instant: Date) async throws -> AlertRuleDecider.Observation {
        let since = instant.addingTimeInterval(-Double(windowSeconds))
        let rows = try await environment.postgres.query(
            """
            SELECT status, drift_score, comparison_rows, comparison_start FROM drift_reports
            WHERE endpoint_id = \(endpointID) AND analyzed_at >= \(since) AND analyzed_at <= \(instant) ORDER BY analyzed_at DESC LIMIT 1
            """, logger: environment.logger)
        for try await (status, score, samples, start) in rows.decode((String, Double, Int64, Date).self) {
            return AlertRuleDecider.Observation(value: status == "ok" ? score : nil, samples: samples, windowStart: start, at: instant)
        }
        return AlertRuleDecider.Observation(value: nil, samples: 0, windowStart: since, at: instant)
    }
}
