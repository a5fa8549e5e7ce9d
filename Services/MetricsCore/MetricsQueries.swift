import Foundation
import Logging
import PostgresNIO
import SlipwayPlatform

/// An endpoint as metrics-svc knows it: from deploy-svc's events, or only from traffic (then without a name).
struct ServedEndpoint: Sendable, Equatable {
    let id: String
    let name: String?
}

/// Lookups of metrics-svc's read models that the routes share.
struct MetricsQueries: Sendable {
    let client: PostgresClient
    let logger: Logger

    /// Endpoints deploy-svc announced and has not deleted.
    func endpoints() async throws -> [ServedEndpoint] {
        let rows = try await client.query("SELECT endpoint_id, name FROM served_endpoints WHERE NOT deleted ORDER BY name", logger: logger)
        var endpoints: [ServedEndpoint] = []
        for try await (id, name) in rows.decode((String, String).self) { endpoints.append(ServedEndpoint(id: id, name: name)) }
        return endpoints
    }

    /// By id (even deleted: its figures remain), else by the name of a live endpoint, else an id that only
    /// traffic knows. Nil when none of these.
    func endpoint(_ reference: String) async throws -> ServedEndpoint? {
        let rows = try await client.query(
            """
            SELECT endpoint_id, name FROM served_endpoints WHERE endpoint_id = \(reference) OR (name = \(reference) AND NOT deleted)
            ORDER BY (endpoint_id = \(reference)) DESC, created_at DESC LIMIT 1
            """, logger: logger)
        for try await (id, name) in rows.decode((String, String).self) { return ServedEndpoint(id: id, name: name) }
        let traffic = try await client.query("SELECT 1 FROM serving_rollups WHERE endpoint_id = \(reference) LIMIT 1", logger: logger)
        for try await _ in traffic.decode(Int32.self) { return ServedEndpoint(id: reference, name: nil) }
        return nil
    }

    /// `endpoint(_:)`, or a 404 naming the parameter that held the reference.
    func requireEndpoint(_ reference: String, field: String) async throws -> ServedEndpoint {
        guard let endpoint = try await endpoint(reference) else {
            throw APIError.notFound("no endpoint '\(reference)' (\(field) takes an endpoint's id or name)")
        }
        return endpoint
    }

    /// The endpoint a deployment belongs to, from deploy-svc's events or from its traffic.
    func endpointID(ofDeployment deploymentID: String) async throws -> String? {
        let rows = try await client.query(
            """
            SELECT endpoint_id FROM served_deployments WHERE deployment_id = \(deploymentID)
            UNION ALL (SELECT endpoint_id FROM serving_rollups WHERE deployment_id = \(deploymentID) LIMIT 1)
            LIMIT 1
            """, logger: logger)
        for try await id in rows.decode(String.self) { return id }
        return nil
    }
}
