import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SlipwayPlatform

/// Serving figures from the rollups: the spec's performance and realtime views and a deployment's metrics.
/// Every figure is merged from stored buckets at query time, so any window answers from the same data.
struct ServingMetricsRoutes: Sendable {
    let environment: ServiceEnvironment
    /// The clock the windows end at (tests move it).
    let now: @Sendable () -> Date

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.get(
            "/api/v1/monitoring/metrics/performance",
            RouteDoc(
                "Serving figures of every endpoint, or of one",
                details: "Busiest endpoints first; traffic to an endpoint id deploy-svc never announced is listed too.",
                query: [
                    .string("endpoint_id", "Only this endpoint (its id or name)"),
                    .integer("hours", "The window: this many hours until now", in: 1...168, default: 24),
                ]),
            use: performance)
        routes.get(
            "/api/v1/monitoring/metrics/realtime/:endpoint_id",
            RouteDoc(
                "An endpoint's serving figures of the last minutes, per minute", details: "`endpoint_id` takes an endpoint's id or name.",
                query: [.integer("minutes", "The current minute and the ones before it", in: 1...60, default: 5)]),
            use: realtime)
        routes.get(
            "/api/deployments/:deployment_id/metrics",
            RouteDoc(
                "A deployment's serving figures, and today's since midnight UTC",
                query: [.integer("hours", "The window: this many hours until now", in: 1...168, default: 24)]),
            use: deploymentMetrics)
        routes.get("/internal/revisions/:revision_id/figures", use: revisionFigures)
        return routes
    }

    struct WindowJSON: Codable, Sendable {
        let start: Date
        let end: Date
        /// `minute` or `hour`: the size of a series point.
        let step: String

        init(_ window: ServingWindow) {
            start = window.start
            end = window.end
            step = window.step == .minute ? "minute" : "hour"
        }
    }

    struct EndpointFiguresJSON: ResponseEncodable, Decodable, Sendable {
        let endpointId: String
        @Nullable var endpointName: String?
        let window: WindowJSON
        let summary: ServingSummary
        let byRevision: [RevisionFigures]
        let byApiKey: [ApiKeyFigures]
        let series: [ServingPoint]

        init(endpoint: ServedEndpoint, figures: ServingFiguresBuilder) {
            endpointId = endpoint.id
            endpointName = endpoint.name
            window = WindowJSON(figures.window)
            summary = figures.summary
            byRevision = figures.byRevision
            byApiKey = figures.byApiKey
            series = figures.series
        }
    }

    struct PerformanceJSON: ResponseEncodable, Decodable, Sendable {
        let window: WindowJSON
        let endpoints: [EndpointFiguresJSON]
    }

    /// `?endpoint_id=` (id or name; all endpoints without it) `&hours=` (1–168, default 24).
    @Sendable func performance(_ request: Request, context: SlipwayRequestContext) async throws -> PerformanceJSON {
        let parameters = request.uri.queryParameters
        let hours = try parameters.integer("hours", default: 24, in: 1...168)
        let window = ServingWindow(lastHours: hours, now: now())
        if let reference = parameters.nonEmpty("endpoint_id") {
            let endpoint = try await queries.requireEndpoint(reference, field: "endpoint_id")
            let figures = try await figures(.endpoint(endpoint.id), window: window)
            return PerformanceJSON(window: WindowJSON(window), endpoints: [EndpointFiguresJSON(endpoint: endpoint, figures: figures)])
        }
        var byEndpoint: [String: ServingFiguresBuilder] = [:]
        for (key, cell) in try await ServingRollupStore.cells(.all, window: window, client: environment.postgres, logger: environment.logger) {
            byEndpoint[key.endpointID, default: ServingFiguresBuilder(window: window)].add(key, cell)
        }
        var endpoints = try await queries.endpoints()
        let known = Set(endpoints.map(\.id))
        // Traffic for an id deploy-svc never announced (a mistyped endpoint in a URL) is shown too: it is load.
        endpoints += byEndpoint.keys.filter { !known.contains($0) }.map { ServedEndpoint(id: $0, name: nil) }
        let answers = endpoints.map { EndpointFiguresJSON(endpoint: $0, figures: byEndpoint[$0.id] ?? ServingFiguresBuilder(window: window)) }
            .sorted { ($0.summary.requests.total, $0.endpointId) > ($1.summary.requests.total, $1.endpointId) }
        return PerformanceJSON(window: WindowJSON(window), endpoints: answers)
    }

    /// `?minutes=` (1–60, default 5): the current minute and the ones before it, per-minute points.
    @Sendable func realtime(_ request: Request, context: SlipwayRequestContext) async throws -> EndpointFiguresJSON {
        let minutes = try request.uri.queryParameters.integer("minutes", default: 5, in: 1...60)
        let endpoint = try await queries.requireEndpoint(try context.parameters.require("endpoint_id"), field: "endpoint_id")
        let window = ServingWindow(lastMinutes: minutes, now: now())
        return EndpointFiguresJSON(endpoint: endpoint, figures: try await figures(.endpoint(endpoint.id), window: window))
    }

    struct TodayJSON: Codable, Sendable {
        let predictions: Int64
        @Nullable var avgLatencyMs: Double?
        let errors: Int64
    }

    struct DeploymentMetricsJSON: ResponseEncodable, Decodable, Sendable {
        let deploymentId: String
        let endpointId: String
        let window: WindowJSON
        /// The dashboard's line: since midnight UTC.
        let today: TodayJSON
        let summary: ServingSummary
        let byRevision: [RevisionFigures]
        let series: [ServingPoint]
    }

    /// `?hours=` (1–168, default 24).
    @Sendable func deploymentMetrics(_ request: Request, context: SlipwayRequestContext) async throws -> DeploymentMetricsJSON {
        let hours = try request.uri.queryParameters.integer("hours", default: 24, in: 1...168)
        let deploymentID = try context.parameters.require("deployment_id")
        guard let endpointID = try await queries.endpointID(ofDeployment: deploymentID) else {
            throw APIError.notFound("no deployment '\(deploymentID)'")
        }
        let now = now()
        let window = ServingWindow(lastHours: hours, now: now)
        let served = try await figures(.deployment(deploymentID), window: window)
        let today = try await figures(.deployment(deploymentID), window: ServingWindow(since: Calendar.utc.startOfDay(for: now), now: now)).summary
        return DeploymentMetricsJSON(
            deploymentId: deploymentID, endpointId: endpointID, window: WindowJSON(window),
            today: TodayJSON(predictions: today.requests.total, avgLatencyMs: today.latency?.avgMs, errors: today.requests.failed),
            summary: served.summary, byRevision: served.byRevision, series: served.series)
    }

    struct RevisionFiguresJSON: ResponseEncodable, Sendable {
        let revisionId: String
        let since: Date
        let requests: Int64
        let errorRate: Double
        let serverErrorRate: Double
        @Nullable var p95Ms: Double?
        @Nullable var p99Ms: Double?
        /// The endpoint's alert rules firing now (active or acknowledged).
        let firingAlerts: Int
        /// Alerts the endpoint's rules fired at or after `alerts_since` (whatever their status now).
        let alertsFiredSince: Int
    }

    /// deploy-svc's rollout gates: one revision's figures since a step began (`?since=` ISO-8601, rounded down to
    /// its minute: buckets are per minute), the endpoint's firing alerts (`?endpoint_id=`) and the alerts it fired
    /// since the rollout began (`?alerts_since=`, default `since`).
    @Sendable func revisionFigures(_ request: Request, context: SlipwayRequestContext) async throws -> RevisionFiguresJSON {
        let revisionID = try context.parameters.require("revision_id")
        let parameters = request.uri.queryParameters
        guard let text = parameters.nonEmpty("since"), let since = ISO8601.date(text) else {
            throw APIError.badRequest("since must be an ISO-8601 instant", field: "since")
        }
        guard let endpointID = parameters.nonEmpty("endpoint_id") else { throw APIError.badRequest("endpoint_id is required", field: "endpoint_id") }
        let instant = now()
        guard since <= instant else { throw APIError.badRequest("since must not be in the future", field: "since") }
        let summary = try await figures(.revision(revisionID), window: ServingWindow(since: since, now: instant)).summary
        var alertsSince = since
        if let text = parameters.nonEmpty("alerts_since") {
            guard let date = ISO8601.date(text) else { throw APIError.badRequest("alerts_since must be an ISO-8601 instant", field: "alerts_since") }
            alertsSince = date
        }
        let alerts = AlertQueries(client: environment.postgres, logger: environment.logger)
        let (active, acknowledged) = try await alerts.firing(endpointID: endpointID)
        return RevisionFiguresJSON(
            revisionId: revisionID, since: since, requests: summary.requests.total, errorRate: summary.errorRate,
            serverErrorRate: summary.serverErrorRate, p95Ms: summary.latency?.p95Ms, p99Ms: summary.latency?.p99Ms,
            firingAlerts: active + acknowledged, alertsFiredSince: try await alerts.fired(endpointID: endpointID, since: alertsSince))
    }

    var queries: MetricsQueries { MetricsQueries(client: environment.postgres, logger: environment.logger) }

    func figures(_ scope: ServingRollupStore.Scope, window: ServingWindow) async throws -> ServingFiguresBuilder {
        try await ServingRollupStore.figures(scope, window: window, client: environment.postgres, logger: environment.logger)
    }
}

extension Calendar {
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
}
