import Foundation
import Logging
import PostgresNIO

/// Reads behind the registry's API. They join the service's own read model with its projections of
/// training (for pending / not_blessed) and schedule events (for has_schedule), which are separate
/// components and so cannot share a view.
public struct RegistryQueries: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    // MARK: Models

    /// Every model (or the one named), newest first. The list is small (one row per model name), and
    /// the KPIs need all of it anyway, so filters are applied by the caller rather than in SQL.
    public func models(named name: String? = nil) async throws -> [ModelJSON] {
        let rows = try await client.query("""
            SELECT m.name, m.model_type, m.description, m.tags::text, m.created_at, m.updated_at, m.total_versions,
                   m.first_registered_at, m.latest_registered_at, m.blessed,
                   (SELECT r.status FROM training_runs_seen r
                     WHERE r.model_name = m.name AND r.status IN ('completed', 'not_blessed')
                     ORDER BY r.completed_at DESC NULLS LAST, r.run_number DESC LIMIT 1),
                   s.schedule_id, s.status,
                   (SELECT max(v.version_number) FROM model_versions v WHERE v.model_name = m.name
                     AND EXISTS (SELECT 1 FROM serving_versions s WHERE s.version_id = v.version_id))
            FROM registered_models m
            LEFT JOIN LATERAL (
                SELECT schedule_id, status FROM model_schedules
                WHERE model_name = m.name AND status IN ('active', 'paused')
                ORDER BY created_at DESC LIMIT 1) s ON true
            WHERE \(name == nil) OR m.name = \(name ?? "")
            ORDER BY m.created_at DESC, m.name
            """, logger: logger)
        var models: [ModelJSON] = []
        for try await (modelName, modelType, description, tags, createdAt, updatedAt, totalVersions, firstRegisteredAt, latestRegisteredAt,
                       blessed, lastOutcome, scheduleID, scheduleStatus, deployedVersion)
            in rows.decode((String, String, String, String, Date, Date, Int32, Date?, Date?, Bool, String?, String?, String?, Int32?).self)
        {
            let status: ModelJSON.Status
            if deployedVersion != nil {
                status = .deployed
            } else if totalVersions > 0 {
                status = .idle
            } else if lastOutcome == TrainingRunRecord.Status.notBlessed.rawValue {
                status = .notBlessed
            } else {
                status = .pending
            }
            models.append(ModelJSON(
                id: modelName, modelName: modelName, modelType: modelType, description: description,
                tags: try JSONText.decode([String: String].self, from: tags), status: status, isRegistered: totalVersions > 0,
                blessed: totalVersions > 0 && blessed, totalVersions: totalVersions, latestVersion: nil, aliases: [:],
                hasSchedule: scheduleID != nil, scheduleID: scheduleID, scheduleStatus: scheduleStatus,
                isDeployed: deployedVersion != nil, deployedVersion: deployedVersion, firstRegisteredAt: firstRegisteredAt,
                latestRegisteredAt: latestRegisteredAt, createdAt: createdAt, updatedAt: updatedAt))
        }
        guard !models.isEmpty else { return [] }

        let aliases = try await aliasesByModel(name)
        var latest: [String: VersionJSON] = [:]
        let latestRows = try await client.query("""
            SELECT \(unescaped: Self.versionColumns) FROM model_versions v
            JOIN registered_models m ON m.name = v.model_name AND m.latest_version = v.version_number
            WHERE \(name == nil) OR m.name = \(name ?? "")
            """, logger: logger)
        for version in try await decodeVersions(latestRows, aliases: aliases) { latest[version.modelName] = version }

        for index in models.indices {
            let name = models[index].modelName
            models[index].latestVersion = latest[name]
            models[index].aliases = Dictionary(uniqueKeysWithValues: (aliases[name] ?? []).map { ($0.alias, $0.version) })
        }
        return models
    }

    public func model(_ name: String) async throws -> ModelJSON? {
        try await models(named: name).first
    }

    public func modelExists(_ name: String) async throws -> Bool {
        let rows = try await client.query("SELECT count(*) FROM registered_models WHERE name = \(name)", logger: logger)
        for try await count in rows.decode(Int64.self) { return count > 0 }
        return false
    }

    // MARK: Versions

    /// Newest first.
    public func versions(of name: String) async throws -> [VersionJSON] {
        let rows = try await client.query("""
            SELECT \(unescaped: Self.versionColumns) FROM model_versions v WHERE v.model_name = \(name) ORDER BY v.version_number DESC
            """, logger: logger)
        return try await decodeVersions(rows, aliases: try await aliasesByModel(name))
    }

    public func version(of name: String, number: Int32) async throws -> VersionJSON? {
        let rows = try await client.query("""
            SELECT \(unescaped: Self.versionColumns) FROM model_versions v
            WHERE v.model_name = \(name) AND v.version_number = \(number)
            """, logger: logger)
        return try await decodeVersions(rows, aliases: try await aliasesByModel(name)).first
    }

    public func version(fromRun runID: String) async throws -> VersionJSON? {
        let rows = try await client.query("""
            SELECT model_name, version_number FROM model_versions WHERE source_run_id = \(runID)
            """, logger: logger)
        for try await (name, number) in rows.decode((String, Int32).self) {
            return try await version(of: name, number: number)
        }
        return nil
    }

    // MARK: Training runs

    public func trainingRun(_ runID: String) async throws -> TrainingRunRecord? {
        try await TrainingRunRecord.decode(try await client.query(TrainingRunRecord.select(runID: runID), logger: logger)).first
    }

    // MARK: Rows

    static let versionColumns = """
        v.version_id, v.model_name, v.version_number, v.source_run_id, v.run_number, v.artifact_uri, v.metrics::text, v.blessed,
        CASE WHEN EXISTS (SELECT 1 FROM serving_versions s WHERE s.version_id = v.version_id) THEN 'deployed' ELSE v.status END,
        v.registered_at, v.lineage::text
        """

    private func decodeVersions(_ rows: PostgresRowSequence, aliases: [String: [(alias: String, version: Int32)]]) async throws -> [VersionJSON] {
        var versions: [VersionJSON] = []
        for try await (id, modelName, number, sourceRunID, runNumber, artifactURI, metrics, blessed, status, registeredAt, lineage)
            in rows.decode((String, String, Int32, String, Int32, String, String, Bool, String, Date, String).self)
        {
            versions.append(VersionJSON(
                id: id, modelName: modelName, version: number, versionLabel: RegistryNames.versionLabel(number),
                sourceRunID: sourceRunID, runNumber: runNumber, artifactURI: artifactURI,
                metrics: try JSONText.decode([String: Double].self, from: metrics), blessed: blessed, status: status,
                aliases: (aliases[modelName] ?? []).filter { $0.version == number }.map(\.alias).sorted(),
                registeredAt: registeredAt, lineage: VersionJSON.Lineage(try JSONText.decode(LineageColumn.self, from: lineage))))
        }
        return versions
    }

    private func aliasesByModel(_ name: String?) async throws -> [String: [(alias: String, version: Int32)]] {
        let rows = try await client.query("""
            SELECT model_name, alias, version_number FROM model_aliases
            WHERE \(name == nil) OR model_name = \(name ?? "") ORDER BY model_name, alias
            """, logger: logger)
        var result: [String: [(alias: String, version: Int32)]] = [:]
        for try await (model, alias, version) in rows.decode((String, String, Int32).self) {
            result[model, default: []].append((alias, version))
        }
        return result
    }
}
