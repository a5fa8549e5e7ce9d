import SlipwayPlatform

/// deploy-svc on the common service shell. Its aggregates, read model and routes arrive with the
/// deploy domain issue; today it owns its database, event store, outbox relay and event feed.
public enum DeployService {
    public static let definition = ServiceDefinition(name: "deploy", defaultPort: ServiceDirectory.defaultPorts["deploy"]!)
}
