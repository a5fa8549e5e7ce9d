import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// The endpoints and deployments metrics-svc reports on, from deploy-svc's events: names resolve to ids,
/// an endpoint with no traffic yet answers zeros instead of 404, and a deployment's figures know its endpoint.
public struct ServedEndpointsProjection: Projection {
    public let name = "served_endpoints"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "served endpoints and deployments",
                [
                    """
                    CREATE TABLE served_endpoints (endpoint_id text PRIMARY KEY, name text NOT NULL, registered_model_id text NOT NULL,
                        deleted boolean NOT NULL DEFAULT false, created_at timestamptz NOT NULL)
                    """,
                    "CREATE INDEX served_endpoints_by_name ON served_endpoints (name)",
                    """
                    CREATE TABLE served_deployments (deployment_id text PRIMARY KEY, endpoint_id text NOT NULL, model_version_id text NOT NULL,
                        version_number integer NOT NULL, requested_at timestamptz NOT NULL)
                    """,
                ]),
            // Where each version's bundle is: drift against its training data reads the baseline stored beside it.
            Migration(
                2, "deployed artifacts",
                [
                    "ALTER TABLE served_deployments ADD COLUMN artifact_uri text NOT NULL DEFAULT ''",
                    "CREATE INDEX served_deployments_by_version ON served_deployments (model_version_id, requested_at DESC)",
                ]),
        ]
    }

    public func apply(_ events: [Recorded<DeployEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            switch recorded.event {
            case .endpointCreated(let e):
                try await connection.query(
                    """
                    INSERT INTO served_endpoints (endpoint_id, name, registered_model_id, created_at)
                    VALUES (\(e.endpointID), \(e.name), \(e.registeredModelID), \(recorded.occurredAt))
                    ON CONFLICT (endpoint_id) DO NOTHING
                    """, logger: logger)
            case .endpointDeleted(let e):
                try await connection.query("UPDATE served_endpoints SET deleted = true WHERE endpoint_id = \(e.endpointID)", logger: logger)
            case .deploymentRequested(let e):
                try await connection.query(
                    """
                    INSERT INTO served_deployments (deployment_id, endpoint_id, model_version_id, version_number, requested_at, artifact_uri)
                    VALUES (\(e.deploymentID), \(e.endpointID), \(e.modelVersionID), \(e.versionNumber), \(recorded.occurredAt), \(e.artifactUri))
                    ON CONFLICT (deployment_id) DO NOTHING
                    """, logger: logger)
            case .endpointUpdated, .revisionStarted, .revisionReady, .revisionScaled, .revisionFailed, .revisionStopped, .trafficShifted,
                .rolloutStepStarted, .rolloutStepPassed, .rolloutGateFailed, .rolloutStepHeld, .deploymentActivated, .deploymentFailed, .rolledBack,
                .undeployed, .apiKeyCreated, .apiKeyRevoked, .apiKeyUsed:
                break  // figures are keyed by endpoint and deployment; their lifecycle is deploy-svc's to show
            }
        }
    }
}
