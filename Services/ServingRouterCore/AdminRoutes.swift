import Foundation
import Hummingbird
import SlipwayPlatform

/// The admin port: `/health`, `/metrics` (plus the platform's `/healthz`, `/readyz`), `/internal/stats`
/// for deploy-svc's rollout gates and `/internal/routing` (the current table).
enum AdminRoutes {
    struct Health: Encodable {
        struct Logs: Encodable {
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

    struct Stats: Encodable {
        let windowSeconds: Int
        let revisions: [RevisionStats.Summary]
        enum CodingKeys: String, CodingKey { case windowSeconds = "window_seconds", revisions }
    }

    struct Routing: Encodable {
        let loaded: Bool
        let endpoints: [RoutingDocument.Endpoint]
        let apiKeys: [RoutingDocument.ApiKey]
        enum CodingKeys: String, CodingKey { case loaded, endpoints, apiKeys = "api_keys" }
    }

    static func router(_ parts: ServingRouter.Parts) -> Router<SlipwayRequestContext> {
        let router = platformRouter()
        InternalRoutes.addHealth(to: router, readiness: parts.readiness, postgres: nil, kafkaBrokers: nil)
        router.get("/health") { _, _ in
            let table = parts.store.current
            let health = Health(
                status: table.loaded ? "ok" : "loading", loaded: table.loaded, endpoints: table.endpointCount, apiKeys: table.activeKeyCount,
                streamAssigned: parts.sync.streamAssigned.load(ordering: .relaxed),
                snapshotsLoaded: parts.sync.snapshotsLoaded.load(ordering: .relaxed),
                eventsApplied: parts.sync.eventsApplied.load(ordering: .relaxed),
                requestLogs: .init(buffered: parts.logs.count, capacity: parts.logs.capacity, sent: parts.shipper.sent.load(ordering: .relaxed),
                                   failed: parts.shipper.failed.load(ordering: .relaxed), dropped: parts.logs.dropped.load(ordering: .relaxed)))
            return try snakeCaseJSONResponse(health, status: table.loaded ? .ok : .serviceUnavailable)
        }
        router.get("/internal/stats") { request, _ in
            let text = request.uri.queryParameters.get("window_seconds") ?? "60"
            guard let window = Int(text), (1...RevisionStats.ringSeconds).contains(window) else {
                throw APIError.badRequest("window_seconds must be a whole number in 1...\(RevisionStats.ringSeconds)", field: "window_seconds")
            }
            return try jsonResponse(Stats(windowSeconds: window, revisions: parts.stats.summaries(windowSeconds: window)))
        }
        router.get("/internal/routing") { _, _ in
            let table = parts.store.current
            return try jsonResponse(Routing(loaded: table.loaded, endpoints: table.document.endpoints, apiKeys: table.document.apiKeys))
        }
        return router
    }
}
