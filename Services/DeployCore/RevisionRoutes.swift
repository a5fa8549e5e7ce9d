import Foundation
import Hummingbird
import SlipwayContracts
import SlipwayPlatform

/// serving-router's wake call for a revision scaled to zero (`POST /internal/revisions/{id}/wake`): answered once
/// the revision's first instance is up and recorded, or at once when it already runs or is being started.
struct RevisionRoutes: Sendable {
    let controller: DeploymentController

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.post("/internal/revisions/:revision/wake", use: wake)
        return routes
    }

    struct WakeJSON: ResponseEncodable, Decodable, Sendable {
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
