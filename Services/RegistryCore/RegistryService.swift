import SlipwayPlatform

/// registry-svc on the common service shell. Its aggregates, read model and routes arrive with the
/// registry domain issue; today it owns its database, event store, outbox relay and event feed.
public enum RegistryService {
    public static let definition = ServiceDefinition(name: "registry", defaultPort: ServiceDirectory.defaultPorts["registry"]!)
}
