import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// Which versions serve traffic on which endpoints, from deploy-svc's `TrafficShifted` events (each one
/// the complete split of an endpoint). A version with a row here shows as `deployed`.
public struct ServingVersionsProjection: Projection {
    public let name = "serving_versions"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "serving versions",
                [
                    "CREATE TABLE serving_versions (endpoint_name text NOT NULL, version_id text NOT NULL, PRIMARY KEY (endpoint_name, version_id))",
                    "CREATE INDEX serving_versions_version ON serving_versions (version_id)",
                ])
        ]
    }

    public func apply(_ events: [Recorded<DeployEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            switch recorded.event {
            case .trafficShifted(let shifted):
                try await connection.query("DELETE FROM serving_versions WHERE endpoint_name = \(shifted.endpointID)", logger: logger)
                let serving = Set(shifted.traffic.filter { $0.value > 0 }.compactMap { shifted.revisionVersions[$0.key] })
                for versionID in serving.sorted() {
                    try await connection.query(
                        "INSERT INTO serving_versions (endpoint_name, version_id) VALUES (\(shifted.endpointID), \(versionID))", logger: logger)
                }
            case .endpointCreated, .endpointUpdated, .endpointDeleted, .deploymentRequested, .revisionStarted, .revisionReady,
                .revisionScaled, .revisionFailed, .revisionStopped, .rolloutStepStarted, .rolloutStepPassed, .rolloutGateFailed, .rolloutStepHeld,
                .deploymentActivated,
                .deploymentFailed, .rolledBack, .undeployed, .apiKeyCreated, .apiKeyRevoked, .apiKeyUsed:
                break  // every change of what serves is a TrafficShifted with the complete split
            }
        }
    }
}
