import Foundation
import SlipwayContracts
import SlipwayPlatform

/// metrics-svc: serving figures rolled up from serving-router's request log, read by endpoint, revision,
/// API key and deployment over any window, and drift of the request features against a past window.
/// Alerts, health, feedback and drift against the training data arrive with the rest of the monitoring issue.
public enum MetricsService {
    public static let definition = definition(now: { Date() })

    /// `now` is where query windows end; tests pass a fixed clock.
    public static func definition(now: @escaping @Sendable () -> Date) -> ServiceDefinition {
        ServiceDefinition(context: .metrics) { environment in
            ServiceComponents(
                projections: [ProjectionSubscription(ServedEndpointsProjection(), from: [.deploy])],
                ingestions: [ServingRollupIngestion()],
                routes: [
                    ServingMetricsRoutes(environment: environment, now: now).collection, DriftRoutes(environment: environment, now: now).collection,
                ])
        }
    }
}
