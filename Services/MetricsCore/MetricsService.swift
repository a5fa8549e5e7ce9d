import Foundation
import SlipwayContracts
import SlipwayPlatform

/// metrics-svc: serving figures rolled up from serving-router's request log, read by endpoint, revision,
/// API key and deployment over any window; drift of the request features against a past window; alert
/// rules evaluated on the rollups, their transitions posted to signed webhooks; a health score from all of
/// these; feedback on predictions, its figures and quality alerts, and feedback sent to training datasets; and
/// testing-svc's endpoint tests, which quality alerts and the health score watch too.
public enum MetricsService {
    public static let definition = definition(now: { Date() })

    /// `now` is where query windows end and when alerts are evaluated; tests pass their own clock.
    public static func definition(now: @escaping @Sendable () -> Date) -> ServiceDefinition {
        ServiceDefinition(context: .metrics, readModel: MetricsReadModel()) { environment in
            let analyses = DriftAnalyses(client: environment.postgres, logger: environment.logger)
            return ServiceComponents(
                projections: [
                    ProjectionSubscription(ServedEndpointsProjection(), from: [.deploy]),
                    ProjectionSubscription(TrainingDatasetsProjection(), from: [.training]),
                    ProjectionSubscription(EndpointTestsProjection(), from: [.testing]),
                ],
                ingestions: [ServingRollupIngestion()],
                routes: [
                    ServingMetricsRoutes(environment: environment, now: now).collection,
                    DriftRoutes(environment: environment, now: now, analyses: analyses).collection,
                    AlertRoutes(environment: environment, now: now).collection,
                    HealthRoutes(environment: environment, now: now, analyses: analyses).collection,
                    FeedbackRoutes(environment: environment, now: now).collection,
                ],
                workers: [
                    AlertEvaluator(environment: environment, now: now).worker,
                    LeaderOnly(
                        "metrics-webhook-deliverer", postgres: environment.postgres, logger: environment.logger,
                        WebhookDeliverer(environment: environment, now: now).worker),
                    LeaderOnly(
                        "metrics-drift-monitor", postgres: environment.postgres, logger: environment.logger,
                        DriftMonitor(environment: environment, now: now).worker),
                ])
        }
    }
}
