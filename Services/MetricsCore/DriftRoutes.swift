import Foundation
import Hummingbird
import SlipwayPlatform
import SlipwayStatistics

/// Drift of an endpoint's request features: the spec's `GET /api/v1/monitoring/drift/{endpoint_id}`. The baseline
/// is a past serving window (the `baseline_days` before the comparison window), read from the feature samples
/// metrics-svc keeps per endpoint-minute.
struct DriftRoutes: Sendable {
    let environment: ServiceEnvironment
    let now: @Sendable () -> Date

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.get("/api/v1/monitoring/drift/:endpoint_id", use: drift)
        routes.get("/api/v1/monitoring/drift/:endpoint_id/reports", use: reports)
        return routes
    }

    struct PeriodJSON: Encodable, Sendable {
        let start: Date
        let end: Date
        /// Sampled request instances compared.
        let rows: Int
    }

    struct DriftJSON: ResponseEncodable, Sendable {
        let endpointId: String
        @Nullable var endpointName: String?
        let baseline: PeriodJSON
        let comparison: PeriodJSON
        /// `ok`, or `insufficient_data` when no feature had enough rows on both sides for a verdict.
        let status: String
        let driftDetected: Bool
        let driftScore: Double
        let severity: String
        let affectedFeatures: [String]
        let features: [FeatureDriftResult]
    }

    /// `?baseline_days=` (1–30, default 7) `&comparison_hours=` (1–168, default 24).
    @Sendable func drift(_ request: Request, context: SlipwayRequestContext) async throws -> DriftJSON {
        let parameters = request.uri.queryParameters
        let baselineDays = try parameters.integer("baseline_days", default: 7, in: 1...30)
        let comparisonHours = try parameters.integer("comparison_hours", default: 24, in: 1...168)
        let queries = MetricsQueries(client: environment.postgres, logger: environment.logger)
        let endpoint = try await queries.requireEndpoint(try context.parameters.require("endpoint_id"), field: "endpoint_id")
        let end = now()
        let report = try await DriftReport.measure(
            endpointID: endpoint.id, baselineDays: baselineDays, comparisonHours: comparisonHours, end: end, client: environment.postgres,
            logger: environment.logger)
        let summary = report.summary
        return DriftJSON(
            endpointId: endpoint.id, endpointName: endpoint.name,
            baseline: PeriodJSON(start: report.baselineStart, end: report.comparisonStart, rows: report.baselineRows),
            comparison: PeriodJSON(start: report.comparisonStart, end: end, rows: report.comparisonRows), status: summary.status.rawValue,
            driftDetected: summary.driftDetected, driftScore: summary.driftScore, severity: summary.severity.rawValue,
            affectedFeatures: summary.affectedFeatures, features: summary.results)
    }

    struct ReportJSON: Encodable, Sendable {
        let id: String
        let analyzedAt: Date
        let baselineStart: Date
        let comparisonStart: Date
        let status: String
        let driftDetected: Bool
        let driftScore: Double
        let severity: String
        let affectedFeatures: [String]
        let baselineRows: Int64
        let comparisonRows: Int64
    }

    struct ReportsJSON: ResponseEncodable, Sendable {
        let endpointId: String
        let reports: [ReportJSON]
    }

    /// The scheduled analyses (hourly, `DriftDetected`), newest first: `?limit=` (1–500, default 24).
    @Sendable func reports(_ request: Request, context: SlipwayRequestContext) async throws -> ReportsJSON {
        let limit = try request.uri.queryParameters.integer("limit", default: 24, in: 1...500)
        let queries = MetricsQueries(client: environment.postgres, logger: environment.logger)
        let endpoint = try await queries.requireEndpoint(try context.parameters.require("endpoint_id"), field: "endpoint_id")
        let rows = try await environment.postgres.query(
            """
            SELECT id, analyzed_at, baseline_start, comparison_start, status, drift_detected, drift_score, severity, affected_features::text,
                baseline_rows, comparison_rows
            FROM drift_reports WHERE endpoint_id = \(endpoint.id) ORDER BY analyzed_at DESC, id DESC LIMIT \(limit)
            """, logger: environment.logger)
        var reports: [ReportJSON] = []
        for try await row in rows {
            let c = row.makeRandomAccess()
            reports.append(
                ReportJSON(
                    id: try c[0].decode(String.self), analyzedAt: try c[1].decode(Date.self), baselineStart: try c[2].decode(Date.self),
                    comparisonStart: try c[3].decode(Date.self), status: try c[4].decode(String.self), driftDetected: try c[5].decode(Bool.self),
                    driftScore: try c[6].decode(Double.self), severity: try c[7].decode(String.self),
                    affectedFeatures: try JSONDecoder().decode([String].self, from: Data(try c[8].decode(String.self).utf8)),
                    baselineRows: try c[9].decode(Int64.self), comparisonRows: try c[10].decode(Int64.self)))
        }
        return ReportsJSON(endpointId: endpoint.id, reports: reports)
    }
}
