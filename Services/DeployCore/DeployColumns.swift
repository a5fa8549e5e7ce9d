import Foundation
import SlipwayContracts
import SlipwayPlatform

/// How deploy-svc's enums and nested messages are stored in its read model (`resources`, `steps` and
/// `metrics` are JSON text), and read back as the answers show them. The stored text is written as it always
/// was — Foundation's serialization, keys in its sorted order — so a replay rebuilds rows written before
/// byte for byte.
enum DeployColumns {
    static func name(of target: DeployTarget) -> String { target == .kubernetes ? "kubernetes" : "local" }

    static func name(of cause: RevisionScaleCause) -> String {
        switch cause {
        case .minInstances: "min_instances"
        case .load: "load"
        case .idle: "idle"
        case .wake: "wake"
        case .maxInstances: "max_instances"
        case .restart: "restart"
        case .unspecified, .UNRECOGNIZED: "unspecified"
        }
    }

    static func resources(_ resources: ServingResources) throws -> String {
        try jsonString([
            "min_instances": Int(resources.minInstances), "max_instances": Int(resources.maxInstances), "memory": resources.memory,
            "cpu": resources.cpu, "timeout_seconds": Int(resources.timeoutSeconds), "max_batch_size": Int(resources.maxBatchSize),
        ])
    }

    static func steps(_ steps: [RolloutStep]) throws -> String {
        try jsonString(
            steps.map { step in
                [
                    "traffic_percent": Int(step.trafficPercent), "min_duration_seconds": Int(step.minDurationSeconds),
                    "min_requests": Int(step.minRequests),
                    "gates": step.gates.map { ["kind": gateName($0.kind), "threshold": $0.threshold] as [String: Any] },
                ] as [String: Any]
            })
    }

    static func metrics(_ metrics: [String: Double]) throws -> String { try jsonString(metrics) }

    static func gateName(_ kind: RolloutGateKind) -> String {
        switch kind {
        case .health: "health"
        case .errorRate: "error_rate"
        case .latencyP95: "latency_p95"
        case .latencyP99: "latency_p99"
        case .endpointTest: "endpoint_test"
        case .noAlerts: "no_alerts"
        default: "unspecified"
        }
    }

    private static func jsonString(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
    }

    // MARK: Reading

    static func decodeResources(_ text: String) throws -> ResourcesColumn {
        try PlatformJSON.decoder.decode(ResourcesColumn.self, from: Data(text.utf8))
    }
    static func decodeSteps(_ text: String) throws -> [StepColumn] { try PlatformJSON.decoder.decode([StepColumn].self, from: Data(text.utf8)) }
    /// Metric names are user data: read without any key conversion.
    static func decodeMetrics(_ text: String) throws -> [String: Double] { try JSONDecoder().decode([String: Double].self, from: Data(text.utf8)) }
}

/// An endpoint's `resources` column, as its answers show it.
public struct ResourcesColumn: Codable, Sendable, Equatable {
    public var minInstances: Int32
    public var maxInstances: Int32
    public var memory: String
    public var cpu: String
    public var timeoutSeconds: Int32
    public var maxBatchSize: Int32

    /// As the events carry them.
    var servingResources: ServingResources {
        var resources = ServingResources()
        (resources.minInstances, resources.maxInstances, resources.memory, resources.cpu) = (minInstances, maxInstances, memory, cpu)
        (resources.timeoutSeconds, resources.maxBatchSize) = (timeoutSeconds, maxBatchSize)
        return resources
    }
}

/// One rollout step of a deployment's `steps` column, as its answers show it.
public struct StepColumn: Codable, Sendable, Equatable {
    public struct Gate: Codable, Sendable, Equatable {
        public var kind: String
        public var threshold: Double
    }

    public var trafficPercent: Int32
    public var minDurationSeconds: Int32
    public var minRequests: Int64
    public var gates: [Gate]
}
