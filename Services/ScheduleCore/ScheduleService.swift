import SlipwayPlatform

/// schedule-svc on the common service shell. Its aggregates, read model and routes arrive with the
/// schedule domain issue; today it owns its database, event store, outbox relay and event feed.
public enum ScheduleService {
    public static let definition = ServiceDefinition(context: .schedule)
}
