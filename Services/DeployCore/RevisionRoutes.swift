import Foundation
import Hummingbird
import SlipwayContracts
import SlipwayPlatform

/// Revision instances: an endpoint's scaling history (`GET /api/endpoints/{name}/scaling`), and serving-router's wake
/// call for a revision scaled to zero (`POST /internal/revisions/{id}/wake`), answered once the revision's first instance
/// is up and recorded, or at once when it already runs or is being started.
struct RevisionRoutes: Sendable {
    let controller: DeploymentController
    let queries: DeployQueries

    init(controller: DeploymentController, environment: ServiceEnvironment) {
        self.controller = controller
        self.queries = DeployQueries(environment: environment)
    }

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.get(
            "/api/endpoints/:name/scaling",
            RouteDoc(
                "An endpoint's scaling history, newest first",
                details: """
                    Every change of its revisions' instances (`RevisionScaled`): the autoscaler adding one under load or removing \
                    one when quiet, scaling an idle revision with `min_instances` 0 to zero, a request waking it (`startup_ms` is \
                    its cold start), an instance restarted at another address.
                    """,
                query: [
                    .integer("limit", "How many changes", in: 1...500, default: 50),
                    .dateTime("before", "Only changes before this instant (the next page)"),
                ]),
            use: scaling)
        routes.post("/internal/revisions/:revision/wake", use: wake)
        return routes
    }

    struct ScalingJSON: ResponseEncodable, Sendable {
        struct Change: Encodable, Sendable {
            var revisionID: String
            var deploymentID: String
            var instances: Int
            var previousInstances: Int
            /// `load`, `idle`, `wake`, `min_instances`, `max_instances` or `restart`.
            var cause: String
            var reason: String
            var startupMs: Int64
            var at: Date
        }
        var endpoint: String
        var changes: [Change]
    }

    @Sendable func scaling(_ request: Request, context: SlipwayRequestContext) async throws -> ScalingJSON {
        let name = try context.parameters.require("name")
        let limit = try request.uri.queryParameters.integer("limit", default: 50, in: 1...500)
        let before = try request.uri.queryParameters.instant("before")
        try await queries.requireEndpoint(name)
        return ScalingJSON(endpoint: name, changes: try await queries.scalings(endpoint: name, limit: limit, before: before))
    }

    struct WakeJSON: ResponseEncodable, Sendable {
        var revisionID: String
        /// `woken`, `running` or `starting`.
        var outcome: String
        var startupMs: Int64
    }

    @Sendable func wake(_ request: Request, context: SlipwayRequestContext) async throws -> WakeJSON {
        let revisionID = try context.parameters.require("revision")
        let (outcome, startupMs) = try await controller.wake(revisionID)
        return WakeJSON(revisionID: revisionID, outcome: outcome.rawValue, startupMs: startupMs)
    }
}
