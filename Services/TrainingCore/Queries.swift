import Foundation
import Logging
import PostgresNIO

/// One row of `training_runs`.
public struct RunRow: Sendable {
    public var id: String
    public var runNumber: Int
    public var name: String
    public var description: String
    public var modelType: String
    public var status: String
    public var currentStage: String?
    public var config: RunConfigView
    public var executor: String
    public var jobId: String?
    public var artifactUri: String?
    public var tokenSha256: String?
    public var metrics: [String: Double]?
    public var blessed: Bool?
    public var errorMessage: String?
    public var logTail: String?
    public var failedStage: String?
    public var rerunOf: String?
    public var createdBy: String
    public var epochsCompleted: Int
    public var createdAt: Date
    public var submittedAt: Date?
    public var startedAt: Date?
    public var completedAt: Date?
    public var durationMs: Int64?
    public var version: Int64

    var isTerminal: Bool { ["completed", "not_blessed", "failed", "cancelled", "deploying", "deployed", "deploy_failed"].contains(status) }
}

public struct StageView: Codable, Sendable {
    public var name: String
    public var status: String
    public var startedAt: Date?
    public var completedAt: Date?
    public var durationSeconds: Double?
    public var details: StageDetails?
    public var error: String?
}

public struct RegistrationView: Codable, Sendable {
    public var modelName: String
    public var version: Int
    public var versionId: String
    public var registeredAt: Date
}

/// A training run as the API shows it (the spec's fields, with Slipway's additions).
public struct RunView: Codable, Sendable {
    public var id: String
    public var runNumber: Int
    public var name: String
    public var displayName: String
    public var description: String
    public var modelType: String
    public var status: String
    public var currentStage: String?
    public var stages: [StageView]
    public var config: RunConfigView
    public var executor: String
    public var metrics: [String: Double]
    public var recallAt5: Double?
    public var recallAt10: Double?
    public var recallAt50: Double?
    public var recallAt100: Double?
    public var isBlessed: Bool?
    public var epochsCompleted: Int
    public var totalEpochs: Int
    public var artifactUri: String?
    public var errorMessage: String?
    public var logTail: String?
    public var failedStage: String?
    public var rerunOf: String?
    public var registeredModel: RegistrationView?
    public var deployEnabled: Bool
    /// From the `deploy` stage: pending, deploying, deployed, failed or skipped.
    public var deploymentStatus: String
    public var deploymentError: String?
    public var deployedEndpointUrl: String?
    public var deploymentStartedAt: Date?
    public var deploymentCompletedAt: Date?
    public var costUsd: Double
    public var createdBy: String
    public var createdAt: Date
    public var submittedAt: Date?
    public var startedAt: Date?
    public var completedAt: Date?
    public var durationSeconds: Double?
    public var version: Int64
}

struct TrainingQueries {
    let postgres: PostgresClient
    let logger: Logger

    static let runColumns = """
        id, run_number, name, description, model_type, status, current_stage, config::text, executor, job_id, artifact_uri, token_sha256,
        metrics::text, blessed, error_message, log_tail, failed_stage, rerun_of, created_by, epochs_completed, created_at, submitted_at,
        started_at, completed_at, duration_ms, version
        """

    func runRow(_ id: String) async throws -> RunRow? {
        try await runRows(PostgresQuery(unsafeSQL: "SELECT \(Self.runColumns) FROM training_runs WHERE id = $1", binds: binds(id))).first
    }

    func runRows(_ query: PostgresQuery) async throws -> [RunRow] {
        var result: [RunRow] = []
        let rows = try await postgres.query(query, logger: logger)
        for try await row in rows {
            let c = row.makeRandomAccess()
            let metrics = try c[12].decode(String?.self).map { try decodeColumn([String: Double].self, $0) }
            result.append(RunRow(
                id: try c[0].decode(String.self), runNumber: try c[1].decode(Int.self), name: try c[2].decode(String.self),
                description: try c[3].decode(String.self), modelType: try c[4].decode(String.self), status: try c[5].decode(String.self),
                currentStage: try c[6].decode(String?.self), config: try decodeColumn(RunConfigView.self, try c[7].decode(String.self)),
                executor: try c[8].decode(String.self), jobId: try c[9].decode(String?.self), artifactUri: try c[10].decode(String?.self),
                tokenSha256: try c[11].decode(String?.self), metrics: metrics, blessed: try c[13].decode(Bool?.self),
                errorMessage: try c[14].decode(String?.self), logTail: try c[15].decode(String?.self), failedStage: try c[16].decode(String?.self),
                rerunOf: try c[17].decode(String?.self), createdBy: try c[18].decode(String.self), epochsCompleted: try c[19].decode(Int.self),
                createdAt: try c[20].decode(Date.self), submittedAt: try c[21].decode(Date?.self), startedAt: try c[22].decode(Date?.self),
                completedAt: try c[23].decode(Date?.self), durationMs: try c[24].decode(Int64?.self), version: try c[25].decode(Int64.self)))
        }
        return result
    }

    func listRuns(name: String?, status: String?, limit: Int, offset: Int) async throws -> (runs: [RunRow], total: Int) {
        var conditions: [String] = []
        var values = PostgresBindings()
        if let name { values.append(name); conditions.append("name = $\(values.count)") }
        if let status { values.append(status); conditions.append("status = $\(values.count)") }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let total = try await postgres.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM training_runs \(whereClause)", binds: values), logger: logger)
        var count = 0
        for try await n in total.decode(Int.self) { count = n }
        let runs = try await runRows(PostgresQuery(
            unsafeSQL: "SELECT \(Self.runColumns) FROM training_runs \(whereClause) ORDER BY created_at DESC, id DESC LIMIT \(limit) OFFSET \(offset)",
            binds: values))
        return (runs, count)
    }

    func stages(_ runID: String) async throws -> [StageView] {
        let rows = try await postgres.query("""
            SELECT stage, status, started_at, completed_at, duration_ms, details::text, error FROM training_run_stages WHERE run_id = \(runID) ORDER BY position
            """, logger: logger)
        var stages: [StageView] = []
        for try await (stage, status, startedAt, completedAt, durationMs, details, error) in rows.decode((String, String, Date?, Date?, Int64?, String?, String?).self) {
            stages.append(StageView(name: stage, status: status, startedAt: startedAt, completedAt: completedAt,
                                    durationSeconds: durationMs.map { Double($0) / 1000 },
                                    details: try details.map { try decodeColumn(StageDetails.self, $0) }, error: error))
        }
        return stages
    }

    func registration(_ runID: String) async throws -> RegistrationView? {
        let rows = try await postgres.query("""
            SELECT model_name, version_number, version_id, registered_at FROM run_registrations WHERE run_id = \(runID)
            """, logger: logger)
        for try await (model, version, versionID, at) in rows.decode((String, Int, String, Date).self) {
            return RegistrationView(modelName: model, version: version, versionId: versionID, registeredAt: at)
        }
        return nil
    }

    static func deploymentStatus(_ stage: StageView?) -> String {
        switch stage?.status {
        case "running": "deploying"
        case "completed": "deployed"
        case "failed": "failed"
        case "skipped": "skipped"
        default: "pending"
        }
    }

    func view(_ row: RunRow) async throws -> RunView {
        var stages = try await stages(row.id)
        let registration = try await registration(row.id)
        // The registry's version arrives as its own event; until then `register` shows running.
        if let registration, let i = stages.firstIndex(where: { $0.name == "register" }), stages[i].status == "running" {
            stages[i].status = "completed"
            stages[i].completedAt = registration.registeredAt
            stages[i].durationSeconds = stages[i].startedAt.map { registration.registeredAt.timeIntervalSince($0) }
        }
        let deployStage = stages.first { $0.name == "deploy" }
        let metrics = row.metrics ?? [:]
        let duration: Double? = row.durationMs.map { Double($0) / 1000 }
            ?? row.startedAt.map { (row.completedAt ?? Date()).timeIntervalSince($0) }
        return RunView(
            id: row.id, runNumber: row.runNumber, name: row.name, displayName: "\(row.name) #\(row.runNumber)", description: row.description,
            modelType: row.modelType, status: row.status, currentStage: row.currentStage, stages: stages, config: row.config,
            executor: row.executor, metrics: metrics, recallAt5: metrics["recall_at_5"], recallAt10: metrics["recall_at_10"],
            recallAt50: metrics["recall_at_50"], recallAt100: metrics["recall_at_100"], isBlessed: row.blessed,
            epochsCompleted: row.epochsCompleted, totalEpochs: row.config.trainingParams.epochs ?? 0, artifactUri: row.artifactUri,
            errorMessage: row.errorMessage, logTail: row.logTail, failedStage: row.failedStage, rerunOf: row.rerunOf,
            registeredModel: registration, deployEnabled: row.config.deploymentConfig.enabled ?? false,
            deploymentStatus: Self.deploymentStatus(deployStage), deploymentError: deployStage?.status == "failed" ? deployStage?.error : nil,
            deployedEndpointUrl: deployStage?.details?.artifacts["endpoint"], deploymentStartedAt: deployStage?.startedAt,
            deploymentCompletedAt: deployStage?.completedAt,
            costUsd: 0, createdBy: row.createdBy, createdAt: row.createdAt, submittedAt: row.submittedAt, startedAt: row.startedAt,
            completedAt: row.completedAt, durationSeconds: duration, version: row.version)
    }

    struct EpochView: Codable {
        var epoch: Int
        var totalEpochs: Int
        var loss: Double
        var valLoss: Double
        var metrics: [String: Double]
        var durationSeconds: Double
        var recordedAt: Date
    }

    func epochs(_ runID: String) async throws -> [EpochView] {
        let rows = try await postgres.query("""
            SELECT epoch, total_epochs, loss, val_loss, metrics::text, duration_ms, recorded_at FROM training_run_epochs WHERE run_id = \(runID) ORDER BY epoch
            """, logger: logger)
        var result: [EpochView] = []
        for try await (epoch, total, loss, valLoss, metrics, ms, at) in rows.decode((Int, Int, Double, Double, String, Int64, Date).self) {
            result.append(EpochView(epoch: epoch, totalEpochs: total, loss: loss, valLoss: valLoss, metrics: try decodeColumn([String: Double].self, metrics),
                                    durationSeconds: Double(ms) / 1000, recordedAt: at))
        }
        return result
    }

    func nextRunNumber(_ name: String) async throws -> Int {
        let rows = try await postgres.query("SELECT COALESCE(max(run_number), 0) + 1 FROM training_runs WHERE name = \(name)", logger: logger)
        for try await n in rows.decode(Int.self) { return n }
        return 1
    }

    // MARK: datasets and configs (stored as their API view)

    func dataset(_ id: String) async throws -> DatasetView? { try await item(DatasetView.self, table: "datasets", id: id) }
    func featureConfig(_ id: String) async throws -> FeatureConfigView? { try await item(FeatureConfigView.self, table: "feature_configs", id: id) }
    func modelConfig(_ id: String) async throws -> ModelConfigView? { try await item(ModelConfigView.self, table: "model_configs", id: id) }

    func item<T: Decodable>(_ type: T.Type, table: String, id: String) async throws -> T? {
        let rows = try await postgres.query(PostgresQuery(unsafeSQL: "SELECT body::text FROM \(table) WHERE id = $1", binds: binds(id)), logger: logger)
        for try await body in rows.decode(String.self) { return try decodeColumn(T.self, body) }
        return nil
    }

    func items<T: Decodable>(_ type: T.Type, table: String) async throws -> [T] {
        let rows = try await postgres.query(PostgresQuery(unsafeSQL: "SELECT body::text FROM \(table) ORDER BY created_at DESC, id"), logger: logger)
        var result: [T] = []
        for try await body in rows.decode(String.self) { result.append(try decodeColumn(T.self, body)) }
        return result
    }

    private func binds(_ values: String...) -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in values { bindings.append(value) }
        return bindings
    }
}
