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
        [Migration(1, "serving versions", [
            "CREATE TABLE serving_versions (endpoint_name text NOT NULL, version_id text NOT NULL, PRIMARY KEY (endpoint_name, version_id))",
            "CREATE INDEX serving_versions_version ON serving_versions (version_id)",
        ])]
    }

    public func apply(_ events: [EventEnvelope], on connection: PostgresConnection, logger: Logger) async throws {
        for envelope in events where envelope.eventType == TrafficShifted.protoMessageName {
            let e = try envelope.payload(as: TrafficShifted.self)
            try await connection.query("DELETE FROM serving_versions WHERE endpoint_name = \(e.endpointID)", logger: logger)
            let serving = Set(e.traffic.filter { $0.value > 0 }.compactMap { e.revisionVersions[$0.key] })
            for versionID in serving.sorted() {
                try await connection.query("INSERT INTO serving_versions (endpoint_name, version_id) VALUES (\(e.endpointID), \(versionID))",
                                           logger: logger)
            }
        }
    }
}
