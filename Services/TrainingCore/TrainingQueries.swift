import Foundation
import Logging
import PostgresNIO
import SlipwayContracts

/// Every read of training-svc's read model: typed, with bound parameters (SQL text never comes from a caller).
struct TrainingQueries: Sendable {
    let postgres: PostgresClient
    let logger: Logger

    // MARK: Runs

    static let runColumns = """
        id, run_number, name, description, model_type, status, current_stage, config::text, executor, job_id, artifact_uri, token_sha256,
        metrics::text, blessed, error_message, log_tail, failed_stage, rerun_of, created_by, epochs_completed, created_at, submitted_at,
        started_at, completed_at, duration_ms, version, schedule_id, schedule_slot
        """

    func run(_ id: String) async throws -> RunRow? {
        try await runs("SELECT \(unescaped: Self.runColumns) FROM training_runs WHERE id = \(id)").first
    }

    /// Newest first, optionally of one model and in one status; with the count of all that match.
    func runs(model: String?, status: String?, before: Date? = nil, limit: Int, offset: Int) async throws -> (runs: [RunRow], total: Int) {
        let total = try await postgres.query(
            """
            SELECT count(*) FROM training_runs
            WHERE (\(model == nil) OR name = \(model ?? "")) AND (\(status == nil) OR status = \(status ?? ""))
              AND (\(before == nil) OR created_at < \(before ?? .distantFuture))
            """, logger: logger)
        var count = 0
        for try await n in total.decode(Int.self) { count = n }
        // The page's ids first (from the index alone), then only their rows: sorting every run's whole row to skip to
        // the last page of 10,000 took 26 ms of PostgreSQL's time, this 2.
        let runs = try await runs(
            """
            SELECT \(unescaped: Self.runColumns) FROM training_runs WHERE id IN (
              SELECT id FROM training_runs
              WHERE (\(model == nil) OR name = \(model ?? "")) AND (\(status == nil) OR status = \(status ?? ""))
                AND (\(before == nil) OR created_at < \(before ?? .distantFuture))
              ORDER BY created_at DESC, id DESC LIMIT \(limit) OFFSET \(offset))
            ORDER BY created_at DESC, id DESC
            """)
        return (runs, count)
    }

    /// The number the model's next run gets: one past its highest. Fresh after every command of this
    /// service (its read model is updated in the command's transaction).
    /// The model's highest run number so far (0 before its first run).
    func highestRunNumber(_ model: String) async throws -> Int32 {
        let rows = try await postgres.query("SELECT COALESCE(max(run_number), 0) FROM training_runs WHERE name = \(model)", logger: logger)
        for try await n in rows.decode(Int32.self) { return n }
        return 0
    }

    private func runs(_ query: PostgresQuery) async throws -> [RunRow] {
        var result: [RunRow] = []
        let rows = try await postgres.query(query, logger: logger)
        for try await row in rows {
            let c = row.makeRandomAccess()
            let metrics = try c[12].decode(String?.self).map { try JSONText.decode([String: Double].self, from: $0) }
            result.append(
                RunRow(
                    id: try c[0].decode(String.self), runNumber: try c[1].decode(Int.self), name: try c[2].decode(String.self),
                    description: try c[3].decode(String.self), modelType: try c[4].decode(String.self), status: try c[5].decode(String.self),
                    currentStage: try c[6].decode(String?.self), config: try JSONText.decode(RunConfigView.self, from: try c[7].decode(String.self)),
                    executor: try c[8].decode(String.self), jobId: try c[9].decode(String?.self), artifactUri: try c[10].decode(String?.self),
                    tokenSha256: try c[11].decode(String?.self), metrics: metrics, blessed: try c[13].decode(Bool?.self),
                    errorMessage: try c[14].decode(String?.self), logTail: try c[15].decode(String?.self),
                    failedStage: try c[16].decode(String?.self),
                    rerunOf: try c[17].decode(String?.self), createdBy: try c[18].decode(String.self), epochsCompleted: try c[19].decode(Int.self),
                    createdAt: try c[20].decode(Date.self), submittedAt: try c[21].decode(Date?.self), startedAt: try c[22].decode(Date?.self),
                    completedAt: try c[23].decode(Date?.self), durationMs: try c[24].decode(Int64?.self), version: try c[25].decode(Int64.self),
                    scheduleID: try c[26].decode(String?.self), scheduleSlot: try c[27].decode(Date?.self)))
        }
        return result
    }

    /// The stages of these runs, each run's in order: one query for a page of runs (a query per run made a list of
    /// 50 take 100 round trips).
    func stages(_ runIDs: [String]) async throws -> [String: [StageView]] {
        let rows = try await postgres.query(
            """
            SELECT run_id, stage, status, started_at, completed_at, duration_ms, details::text, error FROM training_run_stages
            WHERE run_id = ANY(\(runIDs)) ORDER BY run_id, position
            """, logger: logger)
        var stages: [String: [StageView]] = [:]
        for try await (runID, stage, status, startedAt, completedAt, durationMs, details, error)
            in rows.decode((String, String, String, Date?, Date?, Int64?, String?, String?).self)
        {
            stages[runID, default: []].append(
                StageView(
                    name: stage, status: status, startedAt: startedAt, completedAt: completedAt,
                    durationSeconds: durationMs.map { Double($0) / 1000 },
                    details: try details.map { try JSONText.decode(StageDetails.self, from: $0) }, error: error))
        }
        return stages
    }

    func registrations(_ runIDs: [String]) async throws -> [String: RegistrationView] {
        let rows = try await postgres.query(
            """
            SELECT run_id, model_name, version_number, version_id, registered_at FROM run_registrations WHERE run_id = ANY(\(runIDs))
            """, logger: logger)
        var registrations: [String: RegistrationView] = [:]
        for try await (runID, model, version, versionID, at) in rows.decode((String, String, Int, String, Date).self) {
            registrations[runID] = RegistrationView(modelName: model, version: version, versionId: versionID, registeredAt: at)
        }
        return registrations
    }

    func epochs(_ runID: String) async throws -> [EpochView] {
        let rows = try await postgres.query(
            """
            SELECT epoch, total_epochs, loss, val_loss, metrics::text, duration_ms, recorded_at FROM training_run_epochs WHERE run_id = \(runID)
            ORDER BY epoch
            """, logger: logger)
        var result: [EpochView] = []
        for try await (epoch, total, loss, valLoss, metrics, ms, at) in rows.decode((Int, Int, Double, Double, String, Int64, Date).self) {
            result.append(
                EpochView(
                    epoch: epoch, totalEpochs: total, loss: loss, valLoss: valLoss,
                    metrics: try JSONText.decode([String: Double].self, from: metrics),
                    durationSeconds: Double(ms) / 1000, recordedAt: at))
        }
        return result
    }

    /// The run as the API shows it: its row, stages and registered version.
    func view(_ row: RunRow) async throws -> RunView {
        try await views([row])[0]
    }

    /// Runs as the API shows them, in the order given: their stages and registrations read in one query each.
    func views(_ rows: [RunRow]) async throws -> [RunView] {
        guard !rows.isEmpty else { return [] }
        let ids = rows.map(\.id)
        let stages = try await stages(ids)
        let registrations = try await registrations(ids)
        return rows.map { Self.view($0, stages: stages[$0.id] ?? [], registration: registrations[$0.id]) }
    }

    static func view(_ row: RunRow, stages: [StageView], registration: RegistrationView?) -> RunView {
        var stages = stages
        // The registry's version arrives as its own event; until then `register` shows running.
        if let registration, let i = stages.firstIndex(where: { $0.name == "register" }), stages[i].status == "running" {
            stages[i].status = "completed"
            stages[i].completedAt = registration.registeredAt
            stages[i].durationSeconds = stages[i].startedAt.map { registration.registeredAt.timeIntervalSince($0) }
        }
        let deployStage = stages.first { $0.name == "deploy" }
        let metrics = row.metrics ?? [:]
        let duration: Double? =
            row.durationMs.map { Double($0) / 1000 }
            ?? row.startedAt.map { (row.completedAt ?? Date()).timeIntervalSince($0) }
        return RunView(
            id: row.id, runNumber: row.runNumber, name: row.name, displayName: "\(row.name) #\(row.runNumber)", description: row.description,
            modelType: row.modelType, status: row.status, currentStage: row.currentStage, stages: stages, config: row.config,
            executor: row.executor, metrics: metrics, recallAt5: metrics["recall_at_5"], recallAt10: metrics["recall_at_10"],
            recallAt50: metrics["recall_at_50"], recallAt100: metrics["recall_at_100"], isBlessed: row.blessed,
            epochsCompleted: row.epochsCompleted, totalEpochs: row.config.trainingParams.epochs ?? 0, artifactUri: row.artifactUri,
            errorMessage: row.errorMessage, logTail: row.logTail, failedStage: row.failedStage, rerunOf: row.rerunOf,
            trigger: row.scheduleID != nil ? "scheduled" : row.rerunOf != nil ? "rerun" : "manual", scheduleId: row.scheduleID,
            scheduleSlot: row.scheduleSlot,
            registeredModel: registration, deployEnabled: row.config.deploymentConfig.enabled ?? false,
            deploymentStatus: Self.deploymentStatus(deployStage), deploymentError: deployStage?.status == "failed" ? deployStage?.error : nil,
            deployedEndpointUrl: deployStage?.details?.artifacts["endpoint"], deploymentStartedAt: deployStage?.startedAt,
            deploymentCompletedAt: deployStage?.completedAt,
            costUsd: 0, createdBy: row.createdBy, createdAt: row.createdAt, submittedAt: row.submittedAt, startedAt: row.startedAt,
            completedAt: row.completedAt, durationSeconds: duration, version: row.version)
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

    // MARK: Datasets and configs (stored as their API view)

    func dataset(_ id: String) async throws -> DatasetView? {
        try await bodies(DatasetView.self, "SELECT body::text FROM datasets WHERE id = \(id)").first
    }

    /// Feedback training rows of a dataset, oldest first.
    func feedbackRows(datasetID: String) async throws -> [DatasetFeedbackRow] {
        let rows = try await postgres.query(
            """
            SELECT feedback_id, endpoint_id, customer_id, product_id, submitted_at, sent_at FROM dataset_feedback
            WHERE dataset_id = \(datasetID) ORDER BY submitted_at, feedback_id
            """, logger: logger)
        var result: [DatasetFeedbackRow] = []
        for try await (feedback, endpoint, customer, product, submitted, sent) in rows.decode((String, String, String, String, Date, Date).self) {
            result.append(
                DatasetFeedbackRow(
                    feedbackId: feedback, endpointId: endpoint, customerId: customer, productId: product, timestamp: submitted, sentAt: sent))
        }
        return result
    }

    /// The run a schedule's slot started, if it exists yet.
    func scheduledRun(scheduleID: String, slot: Date) async throws -> String? {
        let rows = try await postgres.query(
            "SELECT id FROM training_runs WHERE schedule_id = \(scheduleID) AND schedule_slot = \(slot)", logger: logger)
        for try await id in rows.decode(String.self) { return id }
        return nil
    }

    func featureConfig(_ id: String) async throws -> FeatureConfigView? {
        try await bodies(FeatureConfigView.self, "SELECT body::text FROM feature_configs WHERE id = \(id)").first
    }

    func modelConfig(_ id: String) async throws -> ModelConfigView? {
        try await bodies(ModelConfigView.self, "SELECT body::text FROM model_configs WHERE id = \(id)").first
    }

    /// Newest first.
    func datasets() async throws -> [DatasetView] {
        try await bodies(DatasetView.self, "SELECT body::text FROM datasets ORDER BY created_at DESC, id")
    }

    func featureConfigs() async throws -> [FeatureConfigView] {
        try await bodies(FeatureConfigView.self, "SELECT body::text FROM feature_configs ORDER BY created_at DESC, id")
    }

    func modelConfigs() async throws -> [ModelConfigView] {
        try await bodies(ModelConfigView.self, "SELECT body::text FROM model_configs ORDER BY created_at DESC, id")
    }

    /// Which of these datasets and configs exist: the facts a run's command is decided on.
    /// Which of these datasets and configs exist, in one statement.
    func catalog(datasets: [String], featureConfigs: [String], modelConfigs: [String]) async throws -> TrainingRunDecider.Catalog {
        let rows = try await postgres.query(
            """
            SELECT 'dataset', id FROM datasets WHERE id = ANY(\(datasets))
            UNION ALL SELECT 'feature_config', id FROM feature_configs WHERE id = ANY(\(featureConfigs))
            UNION ALL SELECT 'model_config', id FROM model_configs WHERE id = ANY(\(modelConfigs))
            """, logger: logger)
        var catalog = TrainingRunDecider.Catalog()
        for try await (kind, id) in rows.decode((String, String).self) {
            switch kind {
            case "dataset": catalog.datasets.insert(id)
            case "feature_config": catalog.featureConfigs.insert(id)
            default: catalog.modelConfigs.insert(id)
            }
        }
        return catalog
    }

    private func bodies<T: Decodable>(_ type: T.Type, _ query: PostgresQuery) async throws -> [T] {
        let rows = try await postgres.query(query, logger: logger)
        var result: [T] = []
        for try await body in rows.decode(String.self) { result.append(try JSONText.decode(T.self, from: body)) }
        return result
    }

    // MARK: The executors'

    /// Submitted runs of `executor` in the order they were submitted.
    func queuedRuns(executor: String, limit: Int) async throws -> [String] {
        let rows = try await postgres.query(
            """
            SELECT id FROM training_runs WHERE status = 'submitting' AND executor = \(executor) ORDER BY submitted_at, id LIMIT \(limit)
            """, logger: logger)
        var ids: [String] = []
        for try await id in rows.decode(String.self) { ids.append(id) }
        return ids
    }

    /// Running runs of `executor` whose job id starts with `jobPrefix`, with their job ids.
    func runningRuns(executor: String, jobPrefix: String) async throws -> [(runID: String, jobID: String)] {
        let rows = try await postgres.query(
            """
            SELECT id, job_id FROM training_runs WHERE status = 'running' AND executor = \(executor) AND job_id LIKE \(jobPrefix + "%")
            """, logger: logger)
        var result: [(String, String)] = []
        for try await row in rows.decode((String, String).self) { result.append(row) }
        return result
    }

    /// Those of `runIDs` that ended (cancelled, perhaps through another replica).
    func endedRuns(among runIDs: [String]) async throws -> [String] { try await endedRunStatuses(among: runIDs).map(\.runID) }

    /// Those of `runIDs` that ended, with how: cancelled, failed, completed or not_blessed.
    func endedRunStatuses(among runIDs: [String]) async throws -> [(runID: String, status: String)] {
        let rows = try await postgres.query(
            """
            SELECT id, status FROM training_runs WHERE id = ANY(\(runIDs)) AND status IN ('cancelled', 'failed', 'completed', 'not_blessed')
            """, logger: logger)
        var ended: [(String, String)] = []
        for try await row in rows.decode((String, String).self) { ended.append(row) }
        return ended
    }

    // MARK: Auto-deploy's

    /// Completed runs with auto-deploy on whose version the registry has registered. Its WHERE is the
    /// predicate of the index `training_runs_to_deploy` (TrainingReadModel, 4), so it reads only those runs.
    func registeredRunsToDeploy() async throws -> [(runID: String, version: TrainingRunDecider.RegisteredVersion)] {
        let rows = try await postgres.query(
            """
            SELECT r.id, g.model_name, g.version_number, g.version_id FROM training_runs r JOIN run_registrations g ON g.run_id = r.id
            WHERE r.status = 'completed' AND COALESCE((r.config -> 'deployment_config' ->> 'enabled')::boolean, false)
            """, logger: logger)
        var result: [(String, TrainingRunDecider.RegisteredVersion)] = []
        for try await (runID, model, number, versionID) in rows.decode((String, String, Int32, String).self) {
            result.append((runID, .init(model: model, number: number, versionID: versionID)))
        }
        return result
    }

    /// Deploying runs of which deploy-svc has reported the outcome.
    func deployOutcomes() async throws -> [(runID: String, outcome: TrainingRunDecider.DeployOutcome)] {
        let rows = try await postgres.query(
            """
            SELECT r.id, o.outcome, o.endpoint_name, o.deployment_id, o.endpoint_url, o.error
            FROM training_runs r JOIN run_deploy_outcomes o ON o.run_id = r.id WHERE r.status = 'deploying'
            """, logger: logger)
        var result: [(String, TrainingRunDecider.DeployOutcome)] = []
        for try await (runID, outcome, endpoint, deployment, url, error) in rows.decode((String, String, String, String, String, String).self) {
            result.append(
                (
                    runID,
                    outcome == "deployed"
                        ? .deployed(endpoint: endpoint, deploymentID: deployment, url: url)
                        : .failed(endpoint: endpoint, deploymentID: deployment, error: error)
                ))
        }
        return result
    }
}
