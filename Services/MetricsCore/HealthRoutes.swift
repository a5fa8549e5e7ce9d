import Foundation
import Hummingbird
import SlipwayPlatform
import SlipwayStatistics

/// The spec's `GET /api/v1/monitoring/health/{endpoint_id}`: a score 0–100 and a status from the endpoint's
/// recent errors and latency, its alerts and its drift, with the parts that made it (`HealthScore`).
struct HealthRoutes: Sendable {
    let environment: ServiceEnvironment
    let now: @Sendable () -> Date
    /// Shared with the drift route: a page asking for both at once reads the samples once.
    let analyses: DriftAnalyses

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.get(
            "/api/v1/monitoring/health/:endpoint_id",
            RouteDoc(
                "An endpoint's health score and what made it",
                details: """
                    `endpoint_id` takes an endpoint's id or name. A score 0–100 and a status (healthy, degraded, warning or \
                    critical) from the last `minutes` of errors and latency, the firing alerts, drift (the last 24 hours \
                    against the 7 days before: the newest hourly analysis when it is at most two hours old, else one now; \
                    `drift.analyzed_at` says which) and the latest endpoint test.
                    """,
                query: [
                    .integer("minutes", "How many minutes of traffic are judged", in: 1...60, default: 15),
                    .integer("latency_objective_ms", "The p95 latency the endpoint is meant to keep, in ms", in: 1...60_000, default: 100),
                ]),
            use: health)
        return routes
    }

    struct HealthJSON: ResponseEncodable, Decodable, Sendable {
        struct DriftJSON: Codable, Sendable {
            let status: String
            let severity: String
            let driftScore: Double
            let affectedFeatures: [String]
            /// The instant the analysis is as of: the newest hourly analysis, or now when there is none that fresh.
            let analyzedAt: Date
        }
        let endpointId: String
        @Nullable var endpointName: String?
        let score: Int
        /// healthy, degraded, warning or critical.
        let status: String
        let parts: [HealthScore.Part]
        /// The serving figures of the last `minutes`.
        let minutes: Int
        let summary: ServingSummary
        let activeAlerts: Int
        let acknowledgedAlerts: Int
        let drift: DriftJSON
        /// The latest finished endpoint test of what the endpoint serves (testing-svc's scheduled check, smoke test or
        /// a manual one).
        @Nullable var lastEndpointTest: LastEndpointTest?
    }

    /// `?minutes=` (1–60, default 15) of traffic judged, `&latency_objective_ms=` (default 100): the p95 the endpoint
    /// is meant to keep. Drift is the last 24 hours against the 7 days before.
    @Sendable func health(_ request: Request, context: SlipwayRequestContext) async throws -> HealthJSON {
        let parameters = request.uri.queryParameters
        let minutes = try parameters.integer("minutes", default: 15, in: 1...60)
        let objective = try parameters.integer("latency_objective_ms", default: 100, in: 1...60_000)
        let queries = MetricsQueries(client: environment.postgres, logger: environment.logger)
        let endpoint = try await queries.requireEndpoint(try context.parameters.require("endpoint_id"), field: "endpoint_id")
        let instant = now()
        let window = ServingWindow(lastMinutes: minutes, now: instant)
        let figures = try await ServingRollupStore.figures(
            .endpoint(endpoint.id), window: window, client: environment.postgres, logger: environment.logger)
        let summary = figures.summary
        let (active, acknowledged) = try await AlertQueries(client: environment.postgres, logger: environment.logger).firing(endpointID: endpoint.id)
        let drift = try await drift(endpointID: endpoint.id, at: instant)
        let lastTest = try await EndpointTestQueries(client: environment.postgres, logger: environment.logger).last(endpointID: endpoint.id)
        let score = HealthScore(
            .init(
                requests: summary.requests.total, serverErrorRate: summary.serverErrorRate, p95Ms: summary.latency?.p95Ms,
                latencyObjectiveMs: Double(objective), activeAlerts: active, acknowledgedAlerts: acknowledged,
                driftSeverity: drift.status == "ok" ? DriftSeverity(rawValue: drift.severity) : nil, lastTestPassed: lastTest?.passed))
        return HealthJSON(
            endpointId: endpoint.id, endpointName: endpoint.name, score: score.score, status: score.status, parts: score.parts, minutes: minutes,
            summary: summary, activeAlerts: active, acknowledgedAlerts: acknowledged,
            drift: drift, lastEndpointTest: lastTest)
    }

    /// The drift part: the newest scheduled analysis (the last 24 hours against the 7 days before, hourly) when it is
    /// at most two rounds old — what drift alerts read — else an analysis now. A week of samples takes tens of
    /// milliseconds to analyse; a page asks for an endpoint's health often.
    func drift(endpointID: String, at instant: Date) async throws -> HealthJSON.DriftJSON {
        let since = instant.addingTimeInterval(-Double(DriftMonitor.reportFreshnessSeconds))
        let rows = try await environment.postgres.query(
            """
            SELECT status, severity, drift_score, affected_features::text, analyzed_at FROM drift_reports
            WHERE endpoint_id = \(endpointID) AND analyzed_at >= \(since) AND analyzed_at <= \(instant) ORDER BY analyzed_at DESC LIMIT 1
            """, logger: environment.logger)
        for try await (status, severity, score, affected, analyzedAt) in rows.decode((String, String, Double, String, Date).self) {
            return .init(
                status: status, severity: severity, driftScore: score,
                affectedFeatures: (try? JSONDecoder().decode([String].self, from: Data(affected.utf8))) ?? [], analyzedAt: analyzedAt)
        }
        let summary = try await analyses.measure(
            endpointID: endpointID, baselineDays: DriftMonitor.baselineDays, comparisonHours: DriftMonitor.comparisonHours, end: instant
        ).summary
        return .init(
            status: summary.status.rawValue, severity: summary.severity.rawValue, driftScore: summary.driftScore,
            affectedFeatures: summary.affectedFeatures, analyzedAt: instant)
    }
}
