import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// registry-svc's own read model, updated inline in every command's transaction. Every column
/// derives from the events alone (timestamps are the envelope's occurred-at), so a replay rebuilds
/// identical rows. Statuses that depend on other services' events (pending / not_blessed from
/// training, deployed from deploy) are derived at query time, not stored here.
public struct RegistryReadModel: Projection {
    public let name = "registry"

    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "registered models, versions, aliases",
                [
                    """
                    CREATE TABLE registered_models (
                        name text PRIMARY KEY,
                        model_type text NOT NULL,
                        description text NOT NULL DEFAULT '',
                        tags jsonb NOT NULL DEFAULT '{}',
                        created_by text NOT NULL DEFAULT '',
                        created_at timestamptz NOT NULL,
                        updated_at timestamptz NOT NULL,
                        latest_version integer NOT NULL DEFAULT 0,
                        total_versions integer NOT NULL DEFAULT 0,
                        first_registered_at timestamptz,
                        latest_registered_at timestamptz,
                        blessed boolean NOT NULL DEFAULT false,
                        aggregate_version bigint NOT NULL)
                    """,
                    // `status` is the seam for deploy-svc's events: 'idle' until a deploy projection moves it.
                    """
                    CREATE TABLE model_versions (
                        version_id text PRIMARY KEY,
                        model_name text NOT NULL REFERENCES registered_models (name),
                        version_number integer NOT NULL,
                        source_run_id text NOT NULL UNIQUE,
                        run_number integer NOT NULL,
                        model_type text NOT NULL,
                        artifact_uri text NOT NULL,
                        metrics jsonb NOT NULL DEFAULT '{}',
                        blessed boolean NOT NULL,
                        registered_at timestamptz NOT NULL,
                        lineage jsonb NOT NULL DEFAULT '{}',
                        status text NOT NULL DEFAULT 'idle',
                        UNIQUE (model_name, version_number))
                    """,
                    """
                    CREATE TABLE model_aliases (
                        model_name text NOT NULL REFERENCES registered_models (name),
                        alias text NOT NULL,
                        version_number integer NOT NULL,
                        version_id text NOT NULL REFERENCES model_versions (version_id),
                        set_at timestamptz NOT NULL,
                        PRIMARY KEY (model_name, alias))
                    """,
                ])
        ]
    }

    public func apply(_ events: [Recorded<RegistryEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            let at = recorded.occurredAt
            let name = recorded.aggregateID
            let version = recorded.version
            switch recorded.event {
            case .registeredModelCreated(let created):
                try await connection.query(
                    """
                    INSERT INTO registered_models (name, model_type, description, tags, created_by, created_at, updated_at, aggregate_version)
                    VALUES (\(name), \(created.modelType.apiName), \(created.descriptionText), \(try JSONText.object(created.tags))::jsonb,
                            \(created.createdBy), \(at), \(at), \(version))
                    """, logger: logger)

            case .registeredModelUpdated(let updated):
                let setDescription = updated.updatedFields.contains("description")
                let setTags = updated.updatedFields.contains("tags")
                try await connection.query(
                    """
                    UPDATE registered_models SET
                        description = CASE WHEN \(setDescription) THEN \(updated.descriptionText) ELSE description END,
                        tags = CASE WHEN \(setTags) THEN \(try JSONText.object(updated.tags))::jsonb ELSE tags END,
                        updated_at = \(at), aggregate_version = \(version)
                    WHERE name = \(name)
                    """, logger: logger)

            case .modelVersionRegistered(let registered):
                try await connection.query(
                    """
                    INSERT INTO model_versions (version_id, model_name, version_number, source_run_id, run_number, model_type,
                                                artifact_uri, metrics, blessed, registered_at, lineage, status)
                    VALUES (\(registered.versionID), \(name), \(Int(registered.versionNumber)), \(registered.sourceRunID),
                            \(Int(registered.lineage.runNumber)), \(registered.modelType.apiName), \(registered.artifactUri),
                            \(try JSONText.metrics(registered.metrics))::jsonb, \(registered.blessed), \(at),
                            \(try JSONText.lineage(registered.lineage))::jsonb, \(registered.blessed ? "idle" : "not_blessed"))
                    """, logger: logger)
                try await connection.query(
                    """
                    UPDATE registered_models SET
                        latest_version = \(Int(registered.versionNumber)), total_versions = total_versions + 1,
                        first_registered_at = COALESCE(first_registered_at, \(at)), latest_registered_at = \(at),
                        blessed = \(registered.blessed), updated_at = \(at), aggregate_version = \(version)
                    WHERE name = \(name)
                    """, logger: logger)

            case .modelAliasSet(let set):
                try await connection.query(
                    """
                    WITH alias AS (
                        INSERT INTO model_aliases (model_name, alias, version_number, version_id, set_at)
                        VALUES (\(name), \(set.alias), \(Int(set.versionNumber)), \(set.versionID), \(at))
                        ON CONFLICT (model_name, alias) DO UPDATE
                        SET version_number = EXCLUDED.version_number, version_id = EXCLUDED.version_id, set_at = EXCLUDED.set_at)
                    UPDATE registered_models SET updated_at = \(at), aggregate_version = \(version) WHERE name = \(name)
                    """, logger: logger)

            case .modelAliasDeleted(let deleted):
                try await connection.query(
                    """
                    DELETE FROM model_aliases WHERE model_name = \(name) AND alias = \(deleted.alias)
                    """, logger: logger)
                try await touch(name, at: at, version: version, on: connection, logger: logger)

            case .modelVersionStatusChanged, .registeredModelDeleted:
                // Not emitted yet: serving status is derived from deploy-svc's events at query time, and
                // models are not deleted. The aggregate's version still moves.
                try await touch(name, at: at, version: version, on: connection, logger: logger)
            }
        }
    }

    private func touch(_ name: String, at: Date, version: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            UPDATE registered_models SET updated_at = \(at), aggregate_version = \(version) WHERE name = \(name)
            """, logger: logger)
    }
}

/// JSON text for jsonb columns, in the API's JSON style (snake_case keys, sorted).
enum JSONText {
    static func object(_ value: [String: String]) throws -> String {
        try encode(value)
    }

    /// jsonb has no NaN or infinity: such a metric cannot be stored and is left out of the column
    /// (it stays in the event, which is the record).
    static func metrics(_ metrics: [String: Double]) throws -> String {
        try encode(metrics.filter { $0.value.isFinite })
    }

    static func lineage(_ lineage: ModelLineage) throws -> String {
        try encode(LineageColumn(lineage))
    }

    static func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try PlatformJSON.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try PlatformJSON.decoder.decode(type, from: Data(text.utf8))
    }
}

/// The `lineage` column: where a version came from. The training config itself stays in the event
/// (bytes of another context's message); the column keeps what the API shows and filters on.
struct LineageColumn: Codable, Equatable {
    var runId: String
    var runNumber: Int32
    var datasetId: String
    var featureConfigId: String
    var modelConfigId: String
    var scheduleId: String
    var parentVersionId: String
    var artifacts: [String: String]

    init(_ lineage: ModelLineage) {
        runId = lineage.runID
        runNumber = lineage.runNumber
        datasetId = lineage.datasetID
        featureConfigId = lineage.featureConfigID
        modelConfigId = lineage.modelConfigID
        scheduleId = lineage.scheduleID
        parentVersionId = lineage.parentVersionID
        artifacts = lineage.artifacts
    }
}
