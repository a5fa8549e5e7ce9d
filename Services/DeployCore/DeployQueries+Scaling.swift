import Foundation
import PostgresNIO

extension DeployQueries {
    /// An endpoint's instance changes, newest first (`revision_scalings`).
    func scalings(endpoint: String, limit: Int, before: Date?) async throws -> [RevisionRoutes.ScalingJSON.Change] {
        let rows = try await postgres.query(
            """
            SELECT revision_id, deployment_id, instances, previous_instances, cause, reason, startup_ms, at FROM revision_scalings
            WHERE endpoint_name = \(endpoint) AND at < \(before ?? .distantFuture) ORDER BY at DESC, position DESC LIMIT \(limit)
            """, logger: logger)
        var changes: [RevisionRoutes.ScalingJSON.Change] = []
        for try await (revision, deployment, instances, previous, cause, reason, startupMs, at) in rows.decode(
            (String, String, Int, Int, String, String, Int64, Date).self)
        {
            changes.append(
                .init(
                    revisionID: revision, deploymentID: deployment, instances: instances, previousInstances: previous, cause: cause, reason: reason,
                    startupMs: startupMs, at: at))
        }
        return changes
    }
}
