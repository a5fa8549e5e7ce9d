import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// registry-svc's versions as training-svc sees them: the `register` stage of a run is done when
/// the registry has registered it.
public struct RunRegistrations: Projection {
    public let name = "run_registrations"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "run registrations",
                [
                    """
                    CREATE TABLE run_registrations (run_id text PRIMARY KEY, model_name text NOT NULL, version_number integer NOT NULL,
                        version_id text NOT NULL, registered_at timestamptz NOT NULL)
                    """
                ])
        ]
    }

    public func apply(_ events: [Recorded<RegistryEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            switch recorded.event {
            case .modelVersionRegistered(let e):
                guard !e.sourceRunID.isEmpty else { continue }
                try await connection.query(
                    """
                    INSERT INTO run_registrations (run_id, model_name, version_number, version_id, registered_at)
                    VALUES (\(e.sourceRunID), \(e.modelName), \(Int(e.versionNumber)), \(e.versionID), \(recorded.occurredAt))
                    ON CONFLICT (run_id) DO NOTHING
                    """, logger: logger)
            case .registeredModelCreated, .registeredModelUpdated, .modelAliasSet, .modelAliasDeleted, .modelVersionStatusChanged,
                .registeredModelDeleted:
                break  // only a registered version finishes a run's register stage
            }
        }
    }
}
