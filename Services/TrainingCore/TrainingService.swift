import SlipwayPlatform

/// training-svc on the common service shell. Its aggregates, read model and routes arrive with the
/// training domain issue; today it owns its database, event store, outbox relay and event feed.
public enum TrainingService {
    public static let definition = ServiceDefinition(name: "training", defaultPort: ServiceDirectory.defaultPorts["training"]!)
}
