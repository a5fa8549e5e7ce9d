import Foundation
import Logging
import PostgresNIO
import SlipwayPlatform

/// Reads behind the registry's API. They join the service's own read model with its projections of
/// training (for pending / not_blessed), schedule (for has_schedule) and deploy events (for deployed),
/// which are separate components and so cannot share a view. A model is one statement; its versions one
/// more.
public struct RegistryQueries: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    // MARK: Models

    /// Every model, newest first, without its latest version (`latestVersion` nil): what the list's filters and
    /// KPIs read. The KPIs need every model, so filters are applied by the caller rather than in SQL; the page it
    /// shows is read whole with `models(named:)`. (With 1,000 models and 10,000 versions, reading every model whole
    /// took 45 ms, this 10.)
    public func modelSummaries() async throws -> [ModelJSON] {
        try await ModelRow.decode(
            try await client.query(
                "SELECT \(unescaped: ModelRow.summaryColumns) \(unescaped: ModelRow.summaryFrom) ORDER BY m.created_at DESC, m.name",
                logger: logger))
    }

    /// These models whole, in the order named (a name no model has is left out).
    public func models(named names: [String]) async throws -> [ModelJSON] {
        guard !names.isEmpty else { return [] }
        let found = try await ModelRow.decode(
            try await client.query(
                "SELECT \(unescaped: ModelRow.columns) \(unescaped: ModelRow.from) WHERE m.name = ANY(\(names))", logger: logger))
        let byName = Dictionary(found.map { ($0.modelName, $0) }, uniquingKeysWith: { first, _ in first })
        return names.compactMap { byName[$0] }
    }

    public func model(_ name: String) async throws -> ModelJSON? {
        try await ModelRow.decode(
            try await client.query(
                "SELECT \(unescaped: ModelRow.columns) \(unescaped: ModelRow.from) WHERE m.name = \(name)",
                logger: logger)
        ).first
    }

    public func modelExists(_ name: String) async throws -> Bool {
        let rows = try await client.query("SELECT count(*) FROM registered_models WHERE name = \(name)", logger: logger)
        for try await count in rows.decode(Int64.self) { return count > 0 }
        return false
    }

    /// What a model's answers are made of, as numbers that move whenever any of it changes: the model's
    /// aggregate version in this service's read model, and the checkpoints of the projections its answers
    /// read. nil when there is no such model. Equal numbers mean equal answers (`RenderedViews`). Every read
    /// of a model asks it, so it is a prepared statement.
    public func viewVersion(of name: String) async throws -> [Int64]? {
        for try await (version, checkpoints) in try await client.execute(ModelViewVersion(name: name), logger: logger) {
            return [version] + checkpoints
        }
        return nil
    }

    // MARK: Versions

    /// Newest first.
    public func versions(of name: String) async throws -> [VersionJSON] {
        let rows = try await client.query(
            """
            SELECT \(unescaped: VersionRow.columns) FROM model_versions v WHERE v.model_name = \(name) ORDER BY v.version_number DESC
            """, logger: logger)
        return try await VersionRow.decode(rows, aliases: try await aliases(of: name))
    }

    public func version(of name: String, number: Int32) async throws -> VersionJSON? {
        let rows = try await client.query(
            """
            SELECT \(unescaped: VersionRow.columns) FROM model_versions v WHERE v.model_name = \(name) AND v.version_number = \(number)
            """, logger: logger)
        return try await VersionRow.decode(rows, aliases: try await aliases(of: name)).first
    }

    public func version(fromRun runID: String) async throws -> VersionJSON? {
        let rows = try await client.query("SELECT model_name, version_number FROM model_versions WHERE source_run_id = \(runID)", logger: logger)
        for try await (name, number) in rows.decode((String, Int32).self) {
            return try await version(of: name, number: number)
        }
        return nil
    }

    /// alias → version number.
    private func aliases(of name: String) async throws -> [String: Int32] {
        let rows = try await client.query("SELECT alias, version_number FROM model_aliases WHERE model_name = \(name)", logger: logger)
        var result: [String: Int32] = [:]
        for try await (alias, version) in rows.decode((String, Int32).self) { result[alias] = version }
        return result
    }

    // MARK: Training runs

    public func trainingRun(_ runID: String) async throws -> TrainingRunRecord? {
        try await TrainingRunRecord.decode(try await client.query(TrainingRunRecord.select(runID: runID), logger: logger)).first
    }
}

struct ModelViewVersion: PostgresPreparedStatement {
    static let sql = """
        SELECT m.aggregate_version,
               coalesce((SELECT array_agg(position ORDER BY projection, source_service) FROM slipway.projection_checkpoints
                         WHERE projection IN ('training_runs', 'model_schedules', 'serving_versions')), '{}')
        FROM registered_models m WHERE m.name = $1
        """
    typealias Row = (Int64, [Int64])

    var name: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(name)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// A model with everything its answer shows, in one row: its status inputs (the latest finished run's
/// outcome, its schedule, the highest version serving), its aliases and its latest version.
enum ModelRow {
    static let columns = summaryColumns + ",\n" + VersionRow.columns.replacingOccurrences(of: "v.", with: "lv.")
    static let from = summaryFrom + "\nLEFT JOIN model_versions lv ON lv.model_name = m.name AND lv.version_number = m.latest_version"

    /// Everything but the latest version's columns.
    static let summaryColumns = """
        m.name, m.model_type, m.description, m.tags::text, m.created_at, m.updated_at, m.total_versions,
        m.first_registered_at, m.latest_registered_at, m.blessed,
        (SELECT r.status FROM training_runs_seen r
          WHERE r.model_name = m.name AND r.status IN ('completed', 'not_blessed')
          ORDER BY r.completed_at DESC NULLS LAST, r.run_number DESC LIMIT 1),
        s.schedule_id, s.status, d.deployed, coalesce(a.aliases, '{}'), coalesce(a.versions, '{}')
        """

    static let summaryFrom = """
        FROM registered_models m
        LEFT JOIN LATERAL (
            SELECT schedule_id, status FROM model_schedules
            WHERE model_name = m.name AND status IN ('active', 'paused')
            ORDER BY created_at DESC LIMIT 1) s ON true
        LEFT JOIN LATERAL (
            SELECT array_agg(alias ORDER BY alias) AS aliases, array_agg(version_number ORDER BY alias) AS versions
            FROM model_aliases WHERE model_name = m.name) a ON true
        -- The highest version serving, for every model at once: a subquery per model cost 10 µs a model (10 ms for a
        -- list of 1,000) as soon as anything served.
        LEFT JOIN (
            SELECT v.model_name, max(v.version_number) AS deployed FROM serving_versions sv JOIN model_versions v ON v.version_id = sv.version_id
            GROUP BY v.model_name) d ON d.model_name = m.name
        """

    static func decode(_ rows: PostgresRowSequence) async throws -> [ModelJSON] {
        var models: [ModelJSON] = []
        for try await row in rows {
            let c = row.makeRandomAccess()
            let name = try c[0].decode(String.self)
            let totalVersions = try c[6].decode(Int32.self)
            let lastOutcome = try c[10].decode(String?.self)
            let deployedVersion = try c[13].decode(Int32?.self)
            let aliases = Dictionary(uniqueKeysWithValues: zip(try c[14].decode([String].self), try c[15].decode([Int32].self)))
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
            // The latest version's columns start at 16 (when read); NULL when the model has no version yet.
            let latest =
                try c.count <= 16 || c[16].decode(String?.self) == nil ? nil : try VersionRow.version(c, from: 16, modelName: name, aliases: aliases)
            let scheduleID = try c[11].decode(String?.self)
            models.append(
                ModelJSON(
                    id: name, modelName: name, modelType: try c[1].decode(String.self), description: try c[2].decode(String.self),
                    tags: try JSONText.decode([String: String].self, from: try c[3].decode(String.self)), status: status,
                    isRegistered: totalVersions > 0, blessed: try totalVersions > 0 && c[9].decode(Bool.self), totalVersions: totalVersions,
                    latestVersion: latest, aliases: aliases, hasSchedule: scheduleID != nil, scheduleID: scheduleID,
                    scheduleStatus: try c[12].decode(String?.self), isDeployed: deployedVersion != nil, deployedVersion: deployedVersion,
                    firstRegisteredAt: try c[7].decode(Date?.self), latestRegisteredAt: try c[8].decode(Date?.self),
                    createdAt: try c[4].decode(Date.self), updatedAt: try c[5].decode(Date.self)))
        }
        return models
    }
}

/// One version's columns, its status resolved against what serves.
enum VersionRow {
    static let columns = """
        v.version_id, v.version_number, v.source_run_id, v.run_number, v.artifact_uri, v.metrics::text, v.blessed,
        CASE WHEN EXISTS (SELECT 1 FROM serving_versions s WHERE s.version_id = v.version_id) THEN 'deployed' ELSE v.status END,
        v.registered_at, v.lineage::text, v.model_name
        """
    static func decode(_ rows: PostgresRowSequence, aliases: [String: Int32]) async throws -> [VersionJSON] {
        var versions: [VersionJSON] = []
        for try await row in rows {
            let c = row.makeRandomAccess()
            versions.append(try version(c, from: 0, modelName: try c[10].decode(String.self), aliases: aliases))
        }
        return versions
    }

    static func version(_ c: PostgresRandomAccessRow, from start: Int, modelName: String, aliases: [String: Int32]) throws -> VersionJSON {
        let number = try c[start + 1].decode(Int32.self)
        return VersionJSON(
            id: try c[start].decode(String.self), modelName: modelName, version: number, versionLabel: RegistryNames.versionLabel(number),
            sourceRunID: try c[start + 2].decode(String.self), runNumber: try c[start + 3].decode(Int32.self),
            artifactURI: try c[start + 4].decode(String.self),
            metrics: try JSONText.decode([String: Double].self, from: try c[start + 5].decode(String.self)),
            blessed: try c[start + 6].decode(Bool.self), status: try c[start + 7].decode(String.self),
            aliases: aliases.filter { $0.value == number }.map(\.key).sorted(), registeredAt: try c[start + 8].decode(Date.self),
            lineage: VersionJSON.Lineage(try JSONText.decode(LineageColumn.self, from: try c[start + 9].decode(String.self))))
    }
}
