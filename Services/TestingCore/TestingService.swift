import SlipwayPlatform

/// testing-svc on the common service shell. Its aggregates, read model and routes arrive with the
/// testing domain issue; today it owns its database, event store, outbox relay and event feed.
public enum TestingService {
    public static let definition = ServiceDefinition(context: .testing)
}
