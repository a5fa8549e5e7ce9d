/// A bounded context of Slipway: the service that owns its events (named by the context's raw value,
/// which is also `EventEnvelope.sourceService`) and the Kafka topic they travel on — the one place topic
/// names are made.
public enum EventContext: String, CaseIterable, Sendable {
    case training
    case registry
    case schedule
    case deploy
    case testing
    case metrics
    /// Users and API tokens: who may use the API (the gateway owns them).
    case gateway
    /// serving-router's request logs (not event-sourced; high volume).
    case serving

    /// Kafka topic: `slipway.<context>.events`, or `slipway.serving.requests` for serving.
    public var topic: String {
        switch self {
        case .serving: "slipway.serving.requests"
        default: "slipway.\(rawValue).events"
        }
    }

    /// Partitions of the topic where Slipway creates it (the dev broker; compose and Kubernetes use the same):
    /// events are keyed by aggregate, so three keep one aggregate's order and spread the rest; request
    /// logs are the volume.
    public var partitions: Int32 { self == .serving ? 6 : 3 }

    /// Protobuf package of this context's messages, e.g. `slipway.training.v1`.
    public var protoPackage: String { "slipway.\(rawValue).v1" }
}
