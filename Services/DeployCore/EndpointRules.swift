import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// The deploy dialog's presets (spec: Development / Production / High Traffic) and field overrides.
public enum ServingPresets {
    public static func resources(for preset: EndpointPreset) -> ServingResources {
        var resources = ServingResources()
        resources.timeoutSeconds = 300
        switch preset {
        case .development: (resources.minInstances, resources.maxInstances, resources.memory, resources.cpu) = (0, 2, "2Gi", "1")
        case .highTraffic: (resources.minInstances, resources.maxInstances, resources.memory, resources.cpu) = (2, 50, "8Gi", "4")
        default: (resources.minInstances, resources.maxInstances, resources.memory, resources.cpu) = (1, 10, "4Gi", "2")
        }
        return resources
    }

    public static func preset(named name: String) -> EndpointPreset? {
        switch name.lowercased().replacingOccurrences(of: "_", with: "-") {
        case "development", "dev": .development
        case "production", "prod": .production
        case "high-traffic", "hightraffic": .highTraffic
        case "custom": .custom
        default: nil
        }
    }

    public static func name(of preset: EndpointPreset) -> String {
        switch preset {
        case .development: "development"
        case .highTraffic: "high_traffic"
        case .custom: "custom"
        default: "production"
        }
    }

    /// Overrides on top of a preset. Memory and cpu are Kubernetes quantities ("4Gi", "512Mi"; "2", "500m").
    public struct Overrides: Decodable, Sendable {
        public var minInstances: Int32?
        public var maxInstances: Int32?
        public var memory: String?
        public var cpu: String?
        public var timeoutSeconds: Int32?
        public var maxBatchSize: Int32?

        public init() {}

        public var isEmpty: Bool { [minInstances, maxInstances, timeoutSeconds, maxBatchSize].allSatisfy { $0 == nil } && memory == nil && cpu == nil }
    }

    /// The preset's resources with the overrides applied, checked; errors name the field.
    public static func resolve(preset: EndpointPreset, overrides: Overrides) throws -> ServingResources {
        try resolve(base: resources(for: preset), overrides: overrides)
    }

    /// `base` (a preset's or an endpoint's current resources) with the overrides applied, checked.
    public static func resolve(base: ServingResources, overrides: Overrides) throws -> ServingResources {
        var resources = base
        if let value = overrides.minInstances { resources.minInstances = value }
        if let value = overrides.maxInstances { resources.maxInstances = value }
        if let value = overrides.memory { resources.memory = value }
        if let value = overrides.cpu { resources.cpu = value }
        if let value = overrides.timeoutSeconds { resources.timeoutSeconds = value }
        if let value = overrides.maxBatchSize { resources.maxBatchSize = value }
        guard (0...1000).contains(resources.minInstances) else { throw CommandRejected(.invalid, field: "min_instances", "must be 0 to 1000") }
        guard (1...1000).contains(resources.maxInstances) else { throw CommandRejected(.invalid, field: "max_instances", "must be 1 to 1000") }
        guard resources.minInstances <= resources.maxInstances else {
            throw CommandRejected(.invalid, field: "min_instances", "must not exceed max_instances (\(resources.maxInstances))")
        }
        guard resources.memory.wholeMatch(of: /[1-9][0-9]*(Mi|Gi)/) != nil else {
            throw CommandRejected(.invalid, field: "memory", "must be a quantity such as 512Mi or 4Gi")
        }
        guard resources.cpu.wholeMatch(of: /([1-9][0-9]*m|[0-9]+(\.[0-9]+)?)/) != nil, resources.cpu != "0" else {
            throw CommandRejected(.invalid, field: "cpu", "must be a quantity such as 500m, 1 or 2")
        }
        guard (1...3600).contains(resources.timeoutSeconds) else { throw CommandRejected(.invalid, field: "timeout", "must be 1 to 3600 seconds") }
        guard (0...1000).contains(resources.maxBatchSize) else { throw CommandRejected(.invalid, field: "max_batch_size", "must be 0 to 1000") }
        return resources
    }
}

/// A gradual rollout's steps. `10,50,100` over a duration gives three steps of equal length, each gated
/// on the new revision's health and — once the router has seen requests for it — its error rate and p99.
public enum RolloutPlan {
    public static let defaultMaxErrorRate = 0.01
    public static let defaultMaxP99Ms = 250.0

    public static func steps(percents: [Int32], stepSeconds: Int32, minRequests: Int64 = 0,
                             maxErrorRate: Double = defaultMaxErrorRate, maxP99Ms: Double = defaultMaxP99Ms) throws -> [RolloutStep] {
        guard !percents.isEmpty, percents.count <= 10 else { throw CommandRejected(.invalid, field: "steps", "give 1 to 10 steps, e.g. [10, 50, 100]") }
        guard percents.allSatisfy({ (1...100).contains($0) }) else { throw CommandRejected(.invalid, field: "steps", "each step is a percentage from 1 to 100") }
        guard zip(percents, percents.dropFirst()).allSatisfy({ $0 < $1 }) else { throw CommandRejected(.invalid, field: "steps", "percentages must increase") }
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
                    return .fail(gate: .errorRate, threshold: gate.threshold, observed: observation.errorRate,
                                 reason: String(format: "error rate %.2f%% above %.2f%%", observation.errorRate * 100, gate.threshold * 100))
                }
            case .latencyP99 where observation.requests > 0:
                observed["p99_ms"] = observation.p99Ms
                if observation.p99Ms > gate.threshold {
                    return .fail(gate: .latencyP99, threshold: gate.threshold, observed: observation.p99Ms,
                                 reason: String(format: "p99 latency %.1f ms above %.1f ms", observation.p99Ms, gate.threshold))
                }
            default:
                break
            }
        }
        return .pass(observed: observed)
    }
}
