import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// A gradual rollout's steps. `10,50,100` over a duration gives three steps of equal length, each gated
/// on the new revision's health and, once it has served the step's minimum of requests, its error rate and
/// p99 as metrics-svc counted them.
public enum RolloutPlan {
    public static let defaultMaxErrorRate = 0.01
    public static let defaultMaxP99Ms = 250.0
    /// Requests a step needs before its metric gates judge: below it the step is inconclusive and waits.
    public static let defaultMinRequests: Int64 = 20

    public static func steps(
        percents: [Int32], stepSeconds: Int32, minRequests: Int64 = defaultMinRequests,
        maxErrorRate: Double = defaultMaxErrorRate, maxP99Ms: Double = defaultMaxP99Ms, endpointTest: Bool = false
    ) throws -> [RolloutStep] {
        guard !percents.isEmpty, percents.count <= 10 else {
            throw CommandRejected(.invalid, field: "steps", "give 1 to 10 steps, e.g. [10, 50, 100]")
        }
        guard percents.allSatisfy({ (1...100).contains($0) }) else {
            throw CommandRejected(.invalid, field: "steps", "each step is a percentage from 1 to 100")
        }
        guard zip(percents, percents.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw CommandRejected(.invalid, field: "steps", "percentages must increase")
        }
        guard percents.last == 100 else { throw CommandRejected(.invalid, field: "steps", "the last step must be 100") }
        guard (0...86_400).contains(stepSeconds) else { throw CommandRejected(.invalid, field: "step_seconds", "must be 0 to 86400") }
        guard (0.0...1.0).contains(maxErrorRate) else { throw CommandRejected(.invalid, field: "max_error_rate", "must be between 0 and 1") }
        guard maxP99Ms > 0 else { throw CommandRejected(.invalid, field: "max_p99_ms", "must be positive") }
        guard (0...1_000_000).contains(minRequests) else { throw CommandRejected(.invalid, field: "min_requests", "must be 0 to 1000000") }
        return percents.enumerated().map { index, percent in
            var step = RolloutStep()
            step.trafficPercent = percent
            step.minDurationSeconds = stepSeconds
            step.minRequests = minRequests
            var health = RolloutGate()
            health.kind = .health
            var errors = RolloutGate()
            errors.kind = .errorRate
            errors.threshold = maxErrorRate
            var latency = RolloutGate()
            latency.kind = .latencyP99
            latency.threshold = maxP99Ms
            step.gates = [health, errors, latency]
            if endpointTest && index == 0 {
                // testing-svc's test of the new revision, judged before any step gives it more traffic.
                var test = RolloutGate()
                test.kind = .endpointTest
                step.gates.append(test)
            }
            return step
        }
    }

    /// What is known of the new revision during a step: its health check, and metrics-svc's figures for it since
    /// the step began (nil when metrics-svc did not answer).
    public struct Observation: Sendable, Equatable {
        public struct Figures: Sendable, Equatable {
            public var requests: Int64
            /// Server errors (5xx) per request.
            public var errorRate: Double
            public var p95Ms: Double?
            public var p99Ms: Double?
            /// The endpoint's alert rules firing now.
            public var firingAlerts: Int
            /// Alerts the endpoint fired since the rollout began.
            public var alertsFiredSinceStart: Int

            public init(
                requests: Int64, errorRate: Double, p95Ms: Double? = nil, p99Ms: Double?, firingAlerts: Int = 0, alertsFiredSinceStart: Int = 0
            ) {
                self.requests = requests
                self.errorRate = errorRate
                self.p95Ms = p95Ms
                self.p99Ms = p99Ms
                self.firingAlerts = firingAlerts
                self.alertsFiredSinceStart = alertsFiredSinceStart
            }
        }

        /// testing-svc's test of the new revision for this step, as far as it has come.
        public enum EndpointTest: Sendable, Equatable {
            case running
            case passed
            case failed(String)
        }

        public var healthy: Bool
        public var figures: Figures?
        /// nil while testing-svc has not started it (or could not be asked).
        public var endpointTest: EndpointTest?

        public init(healthy: Bool, figures: Figures?, endpointTest: EndpointTest? = nil) {
            self.healthy = healthy
            self.figures = figures
            self.endpointTest = endpointTest
        }
    }

    public enum Verdict: Sendable, Equatable {
        case pass(observed: [String: Double])
        case fail(gate: RolloutGateKind, threshold: Double, observed: Double, reason: String)
        /// Not enough to judge yet (too few requests, no figures, a gate with no source): the step waits, and past
        /// its deadline the rollout fails rather than passing on nothing.
        case inconclusive(gate: RolloutGateKind, reason: String)
    }

    /// The first failing gate, else the first inconclusive one, else a pass with what was observed. A metric gate
    /// needs the step's `min_requests` (0 means the rollout asked for no traffic: the metric gates then judge what
    /// there is, possibly nothing); a gate that has no source yet (endpoint tests) is inconclusive, never passed.
    public static func evaluate(_ step: RolloutStep, _ observation: Observation) -> Verdict {
        var observed: [String: Double] = [:]
        var inconclusive: Verdict?
        func wait(_ gate: RolloutGateKind, _ reason: String) { if inconclusive == nil { inconclusive = .inconclusive(gate: gate, reason: reason) } }
        if let figures = observation.figures { observed["requests"] = Double(figures.requests) }
        for gate in step.gates {
            switch gate.kind {
            case .health:
                observed["health"] = observation.healthy ? 1 : 0
                if !observation.healthy { return .fail(gate: .health, threshold: 1, observed: 0, reason: "the new revision's health check failed") }
            case .errorRate, .latencyP95, .latencyP99:
                guard let figures = observation.figures else {
                    // A rollout that asked for no traffic does not wait for figures either.
                    if step.minRequests > 0 { wait(gate.kind, "metrics-svc has no figures for the new revision yet") }
                    continue
                }
                guard figures.requests >= step.minRequests else {
                    wait(gate.kind, "\(figures.requests) of the step's \(step.minRequests) requests so far")
                    continue
                }
                if gate.kind == .errorRate {
                    observed["error_rate"] = figures.errorRate
                    if figures.errorRate > gate.threshold {
                        return .fail(
                            gate: .errorRate, threshold: gate.threshold, observed: figures.errorRate,
                            reason: String(format: "error rate %.2f%% above %.2f%%", figures.errorRate * 100, gate.threshold * 100))
                    }
                } else {
                    let name = gate.kind == .latencyP95 ? "p95" : "p99"
                    guard let latency = gate.kind == .latencyP95 ? figures.p95Ms : figures.p99Ms else { continue }  // no request reached it
                    observed["\(name)_ms"] = latency
                    if latency > gate.threshold {
                        return .fail(
                            gate: gate.kind, threshold: gate.threshold, observed: latency,
                            reason: String(format: "%@ latency %.1f ms above %.1f ms", name, latency, gate.threshold))
                    }
                }
            case .noAlerts:
                guard let figures = observation.figures else {
                    wait(.noAlerts, "metrics-svc did not say whether alerts are firing")
                    continue
                }
                observed["firing_alerts"] = Double(figures.firingAlerts)
                if figures.firingAlerts > 0 {
                    return .fail(
                        gate: .noAlerts, threshold: 0, observed: Double(figures.firingAlerts),
                        reason: "\(figures.firingAlerts) alert(s) firing on the endpoint")
                }
            case .endpointTest:
                switch observation.endpointTest {
                case .passed: observed["endpoint_test"] = 1
                case .failed(let summary):
                    return .fail(gate: .endpointTest, threshold: 1, observed: 0, reason: "the endpoint test of the new revision failed: \(summary)")
                case .running: wait(.endpointTest, "testing-svc's endpoint test of the new revision is still running")
                case nil: wait(.endpointTest, "testing-svc has not started the endpoint test of the new revision yet")
                }
            case .unspecified, .UNRECOGNIZED:
                wait(gate.kind, "a gate of unknown kind cannot be judged")
            }
        }
        return inconclusive ?? .pass(observed: observed)
    }
}
