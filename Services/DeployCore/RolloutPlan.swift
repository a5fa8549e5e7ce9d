import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// A gradual rollout's steps. `10,50,100` over a duration gives three steps of equal length, each gated
/// on the new revision's health and — once the router has seen requests for it — its error rate and p99.
public enum RolloutPlan {
    public static let defaultMaxErrorRate = 0.01
    public static let defaultMaxP99Ms = 250.0

    public static func steps(
        percents: [Int32], stepSeconds: Int32, minRequests: Int64 = 0,
        maxErrorRate: Double = defaultMaxErrorRate, maxP99Ms: Double = defaultMaxP99Ms
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
        return percents.map { percent in
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
            return step
        }
    }

    /// What the router observed for a revision over the step's window.
    public struct Observation: Sendable, Equatable {
        public var healthy: Bool
        public var requests: Int64
        public var errorRate: Double
        public var p99Ms: Double
        public init(healthy: Bool, requests: Int64, errorRate: Double, p99Ms: Double) {
            self.healthy = healthy
            self.requests = requests
            self.errorRate = errorRate
            self.p99Ms = p99Ms
        }
    }

    public enum Verdict: Sendable, Equatable {
        case pass(observed: [String: Double])
        case fail(gate: RolloutGateKind, threshold: Double, observed: Double, reason: String)
    }

    /// The first failing gate, or a pass with what was observed. Metric gates apply only once the
    /// revision has had requests (no traffic yet is not a failure); gates this target cannot observe
    /// (endpoint tests, alerts) pass, and the note says so.
    public static func evaluate(_ step: RolloutStep, _ observation: Observation) -> Verdict {
        var observed: [String: Double] = ["requests": Double(observation.requests)]
        for gate in step.gates {
            switch gate.kind {
            case .health:
                observed["health"] = observation.healthy ? 1 : 0
                if !observation.healthy { return .fail(gate: .health, threshold: 1, observed: 0, reason: "the new revision's health check failed") }
            case .errorRate where observation.requests > 0:
                observed["error_rate"] = observation.errorRate
                if observation.errorRate > gate.threshold {
                    return .fail(
                        gate: .errorRate, threshold: gate.threshold, observed: observation.errorRate,
                        reason: String(format: "error rate %.2f%% above %.2f%%", observation.errorRate * 100, gate.threshold * 100))
                }
            case .latencyP99 where observation.requests > 0:
                observed["p99_ms"] = observation.p99Ms
                if observation.p99Ms > gate.threshold {
                    return .fail(
                        gate: .latencyP99, threshold: gate.threshold, observed: observation.p99Ms,
                        reason: String(format: "p99 latency %.1f ms above %.1f ms", observation.p99Ms, gate.threshold))
                }
            default:
                break
            }
        }
        return .pass(observed: observed)
    }
}
