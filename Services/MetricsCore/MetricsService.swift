import SlipwayPlatform

/// metrics-svc on the common service shell. Its aggregates, read model and routes arrive with the
/// metrics domain issue; today it owns its database, event store, outbox relay and event feed.
public enum MetricsService {
    public static let definition = ServiceDefinition(context: .metrics)
}
