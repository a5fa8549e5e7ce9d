import Foundation
import Hummingbird
import SlipwayContracts
import SlipwayPlatform

/// The admin port's own routes: `/health`, `/internal/stats` (this process's live per-revision figures; rollout
/// gates read metrics-svc's, which add up every router), `/internal/load` (each revision's requests in flight, which
/// deploy-svc's autoscaler reads) and `/internal/routing` (the current table). The platform adds `/healthz`, `/readyz`
/// and `/metrics`.
struct ServingRouterAdminRoutes: Sendable {
    let parts: ServingRouter.Parts

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.get("/health", use: health)
        routes.get("/internal/stats", use: stats)
        routes.get("/internal/routing", use: routing)
        routes.get("/internal/load", use: load)
        return routes
    }

    /// The admin router: the platform's middleware and health routes, then these.
    func router() -> Router<SlipwayRequestContext> {
        let router = platformRouter()
        InternalRoutes.addHealth(to: router, readiness: parts.readiness, postgres: nil, kafkaBrokers: nil)
        router.addRoutes(collection)
        return router
    }

    struct HealthJSON: ResponseEncodable, Sendable {
        struct Logs: Encodable, Sendable {
            let buffered: Int
            let capacity: Int
            let sent: Int
            let failed: Int
            let dropped: Int
        }
        let status: String
        let loaded: Bool
        let endpoints: Int
        let apiKeys: Int
        let streamAssigned: Bool
        let snapshotsLoaded: Int
        let eventsApplied: Int
        let requestLogs: Logs
    }

    struct StatsJSON: ResponseEncodable, Sendable {
        let windowSeconds: Int
        let revisions: [RevisionStats.Summary]
    }

    struct RoutingJSON: ResponseEncodable, Sendable {
        let loaded: Bool
        let endpoints: [RoutingDocument.Endpoint]
        let apiKeys: [RoutingDocument.ApiKey]
    }

    /// 503 until the first snapshot is loaded.
    @Sendable func health(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<HealthJSON> {
        let table = parts.store.current
        let health = HealthJSON(
            status: table.loaded ? "ok" : "loading", loaded: table.loaded, endpoints: table.endpointCount, apiKeys: table.activeKeyCount,
            streamAssigned: parts.sync.streamAssigned.load(ordering: .relaxed),
            snapshotsLoaded: parts.sync.snapshotsLoaded.load(ordering: .relaxed),
            eventsApplied: parts.sync.eventsApplied.load(ordering: .relaxed),
            requestLogs: .init(
                buffered: parts.logs.count, capacity: parts.logs.capacity, sent: parts.shipper.sent.load(ordering: .relaxed),
                failed: parts.shipper.failed.load(ordering: .relaxed), dropped: parts.logs.dropped.load(ordering: .relaxed)))
        return EditedResponse(status: table.loaded ? .ok : .serviceUnavailable, response: health)
    }

    @Sendable func stats(_ request: Request, context: SlipwayRequestContext) async throws -> StatsJSON {
        let window = try request.uri.queryParameters.integer("window_seconds", default: 60, in: 1...RevisionStats.ringSeconds)
        return StatsJSON(windowSeconds: window, revisions: parts.stats.summaries(windowSeconds: window))
    }

    @Sendable func load(_ request: Request, context: SlipwayRequestContext) async throws -> RouterLoadReport {
        RouterLoadReport(routerID: parts.routerID, revisions: parts.store.loads.report())
    }

    @Sendable func routing(_ request: Request, context: SlipwayRequestContext) async throws -> RoutingJSON {
        let table = parts.store.current
        return RoutingJSON(loaded: table.loaded, endpoints: table.document.endpoints, apiKeys: table.document.apiKeys)
    }
}

extension RouterLoadReport: ResponseEncodable {}
