import Foundation
import SlipwayStatistics

/// An endpoint's health in one number: 100 minus a penalty per concern, each penalty capped so no single
/// part can hide the others. The parts are returned with the score, so a reader sees why.
///
/// | part | penalty |
/// |---|---|
/// | server errors (5xx share of requests) | 400 × rate, at most 40 (10 % of requests failing costs 40) |
/// | p95 latency over the objective | 25 × (p95 / objective − 1), at most 25 |
/// | alerts | 15 per active, 5 per acknowledged, at most 30 |
/// | drift | medium 5, high 10, critical 20 |
/// | endpoint test | 20 when the latest endpoint test (scheduled check, smoke test, manual) failed |
///
/// Status: ≥ 90 healthy, ≥ 70 degraded, ≥ 50 warning, else critical. Without traffic in the window the
/// error and latency parts are not judged (and say so).
public struct HealthScore: Sendable, Equatable {
    public struct Part: Codable, Sendable, Equatable {
        public let name: String
        public let penalty: Double
        public let detail: String
    }

    public struct Inputs: Sendable, Equatable {
        public var requests: Int64
        public var serverErrorRate: Double
        public var p95Ms: Double?
        public var latencyObjectiveMs: Double
        public var activeAlerts: Int
        public var acknowledgedAlerts: Int
        /// Nil when drift could not be judged (too little data).
        public var driftSeverity: DriftSeverity?
        /// Whether the latest endpoint test passed; nil when the endpoint has none.
        public var lastTestPassed: Bool?

        public init(
            requests: Int64, serverErrorRate: Double, p95Ms: Double?, latencyObjectiveMs: Double, activeAlerts: Int, acknowledgedAlerts: Int,
            driftSeverity: DriftSeverity?, lastTestPassed: Bool? = nil
        ) {
            self.lastTestPassed = lastTestPassed
            self.requests = requests
            self.serverErrorRate = serverErrorRate
            self.p95Ms = p95Ms
            self.latencyObjectiveMs = latencyObjectiveMs
            self.activeAlerts = activeAlerts
            self.acknowledgedAlerts = acknowledgedAlerts
            self.driftSeverity = driftSeverity
        }
    }

    public let score: Int
    public let status: String
    public let parts: [Part]

    public init(_ inputs: Inputs) {
        var parts: [Part] = []
        if inputs.requests > 0 {
            let errors = min(40, inputs.serverErrorRate * 400)
            parts.append(
                Part(
                    name: "errors", penalty: Self.rounded(errors),
                    detail: String(format: "%.2f%% of %d requests were 5xx", inputs.serverErrorRate * 100, inputs.requests)))
            if let p95 = inputs.p95Ms {
                let ratio = p95 / inputs.latencyObjectiveMs
                let latency = min(25, max(0, (ratio - 1) * 25))
                parts.append(
                    Part(
                        name: "latency", penalty: Self.rounded(latency),
                        detail: String(format: "p95 %.1f ms against an objective of %.0f ms", p95, inputs.latencyObjectiveMs)))
            }
        } else {
            parts.append(Part(name: "errors", penalty: 0, detail: "no requests in the window: not judged"))
            parts.append(Part(name: "latency", penalty: 0, detail: "no requests in the window: not judged"))
        }
        let alerts = min(30, Double(15 * inputs.activeAlerts + 5 * inputs.acknowledgedAlerts))
        parts.append(Part(name: "alerts", penalty: alerts, detail: "\(inputs.activeAlerts) active, \(inputs.acknowledgedAlerts) acknowledged"))
        let drift: Double
        switch inputs.driftSeverity {
        case .medium: drift = 5
        case .high: drift = 10
        case .critical: drift = 20
        case .none?, .low?, nil: drift = 0
        }
        parts.append(
            Part(name: "drift", penalty: drift, detail: inputs.driftSeverity.map { "severity \($0.rawValue)" } ?? "insufficient data: not judged"))
        parts.append(
            Part(
                name: "endpoint_test", penalty: inputs.lastTestPassed == false ? 20 : 0,
                detail: inputs.lastTestPassed.map { $0 ? "the latest endpoint test passed" : "the latest endpoint test failed" }
                    ?? "no endpoint test yet: not judged"))
        let score = Int(max(0, (100 - parts.map(\.penalty).reduce(0, +))).rounded())
        self.score = score
        self.status = score >= 90 ? "healthy" : score >= 70 ? "degraded" : score >= 50 ? "warning" : "critical"
        self.parts = parts
    }

    static func rounded(_ value: Double) -> Double { (value * 10).rounded() / 10 }
}
