import Foundation
import SlipwayContracts
import SlipwayPlatform

/// schedule-svc: retraining schedules of registered models, fired by its own durable timer exactly once per slot,
/// with the outcome of every run they started (from training-svc's events).
public enum ScheduleService {
    public static let definition = definition(now: { Date() })

    /// `now` is when slots are due and where previews start; tests pass their own clock. `reader` gives the webhook
    /// key (`ScheduleWebhookAuth.load`).
    public static func definition(now: @escaping @Sendable () -> Date, reader: ConfigReader = ConfigReader()) -> ServiceDefinition {
        var definition = ServiceDefinition(context: .schedule, readModel: ScheduleReadModel()) { environment in
            let timer = ScheduleTimer(environment: environment, now: now)
            let routes = ScheduleRoutes(environment: environment, timer: timer, webhookAuth: try ScheduleWebhookAuth.load(reader: reader), now: now)
            return ServiceComponents(
                projections: [ProjectionSubscription(ScheduledRunsProjection(store: environment.store), from: [.training])],
                routes: [routes.collection],
                workers: [timer])
        }
        // What it learns from Kafka (runs' outcomes, the catalog) is not urgent: fetches every 100 ms, not 20, keep
        // an idle schedule-svc under 1 % of a core (the timer itself sleeps until a slot is due).
        definition.defaultFetchWaitMs = 100
        return definition
    }
}
