import Foundation
import Hummingbird
import HTTPTypes
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayModelBundle
import SlipwayPlatform

/// training-svc's REST API: the spec's paths for datasets, configs, training runs and their webhooks.
struct TrainingRoutes: Sendable {
    let environment: ServiceEnvironment
    let executor: LocalExecutor

    var queries: TrainingQueries { TrainingQueries(postgres: environment.postgres, logger: environment.logger) }

    static var bodyDecoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    var collection: RouteCollection<SlipwayRequestContext> {
        let router = RouteCollection(context: SlipwayRequestContext.self)
        add(to: router)
        return router
    }

    func add(to router: RouteCollection<SlipwayRequestContext>) {
        addCatalog(router, path: "datasets", table: "datasets", view: DatasetView.self) { request, context in
            let body = try await request.decodeJSON(as: DatasetBody.self, context: context, decoder: Self.bodyDecoder)
            let event = try body.validated()
            try await self.execute(DatasetDecider.self, event.datasetID, .datasetRegistered(event), request)
            return event.datasetID
        }
        addCatalog(router, path: "feature-configs", table: "feature_configs", view: FeatureConfigView.self) { request, context in
            let body = try await request.decodeJSON(as: FeatureConfigBody.self, context: context, decoder: Self.bodyDecoder)
            let event = try body.validated()
            try await self.execute(FeatureConfigDecider.self, event.featureConfigID, .featureConfigCreated(event), request)
            return event.featureConfigID
        }
        addCatalog(router, path: "model-configs", table: "model_configs", view: ModelConfigView.self) { request, context in
            let body = try await request.decodeJSON(as: ModelConfigBody.self, context: context, decoder: Self.bodyDecoder)
            let event = try body.validated()
            try await self.execute(ModelConfigDecider.self, event.modelConfigID, .modelConfigCreated(event), request)
            return event.modelConfigID
        }

        let runs = router.group("api/training-runs")
        runs.post { request, context in
            let body = try await request.decodeJSON(as: CreateRunBody.self, context: context, decoder: Self.bodyDecoder)
            return try await self.createRun(body, request: request)
        }
        runs.get { request, _ in try await self.listRuns(request, name: nil) }
        router.get("api/models/:name/training-runs") { request, context in
            try await self.listRuns(request, name: try context.parameters.require("name"))
        }
        router.post("api/models/:name/training-runs") { request, context in
            var body = try await request.decodeJSON(as: CreateRunBody.self, context: context, decoder: Self.bodyDecoder)
            body.name = try context.parameters.require("name")
            return try await self.createRun(body, request: request)
        }
        runs.get(":id") { _, context in
            try snakeCaseJSONResponse(try await self.queries.view(try await self.run(context)))
        }
        runs.post(":id/submit") { request, context in
            let run = try await self.run(context)
            let token = try await self.submit(run, request: request)
            return try snakeCaseJSONResponse(RunResponse(trainingRun: try await self.queries.view(try await self.run(context)), webhook: self.webhook(run, token)))
        }
        runs.post(":id/cancel") { request, context in
            let run = try await self.run(context)
            struct CancelBody: Decodable { var reason: String? }
            let body = (try? await request.decodeJSON(as: CancelBody.self, context: context)) ?? CancelBody()
            try await self.execute(TrainingRunDecider.self, run.id, .cancel(reason: body.reason ?? "", by: "api"), request)
            await self.executor.stop(runID: run.id)
            return try snakeCaseJSONResponse(try await self.queries.view(try await self.run(context)))
        }
        runs.post(":id/rerun") { request, context in
            let source = try await self.run(context)
            guard source.isTerminal else {
                throw APIError.conflict("only a completed, failed, not_blessed or cancelled run can be rerun; this one is \(source.status)")
            }
            let created = try await self.create(name: source.name, description: "Re-run of \(source.name) #\(source.runNumber)",
                                                modelType: try ModelTypes.parse(source.modelType, field: "model_type"),
                                                config: try Self.protoConfig(source.config), rerunOf: source.id, submit: true, request: request)
            let view = try await self.queries.view(created.run)
            return try snakeCaseJSONResponse(RerunResponse(success: true, trainingRun: view, webhook: self.webhook(created.run, created.token),
                                             message: "Re-run created as \(view.displayName)"), status: .created)
        }
        runs.get(":id/config") { _, context in
            let run = try await self.run(context)
            return try snakeCaseJSONResponse(ConfigResponse(config: ConfigResponse.Config(id: run.id, name: run.name, settings: run.config), updatedFields: nil))
        }
        runs.patch(":id/config") { request, context in
            let run = try await self.run(context)
            let edit = try await request.decodeJSON(as: EditConfigBody.self, context: context, decoder: Self.bodyDecoder)
            let config = try RunConfigValidation.merged(
                base: try Self.protoConfig(run.config), datasetID: edit.datasetId, featureConfigID: edit.featureConfigId,
                modelConfigID: edit.modelConfigId, trainingParams: edit.trainingParams, gpu: edit.gpuConfig, evaluator: edit.evaluatorConfig,
                deployment: edit.deploymentConfig, executor: edit.executor, autoRegister: edit.autoRegister)
            try await self.checkReferences(config)
            try await self.execute(TrainingRunDecider.self, run.id, .editConfig(config, fields: edit.updatedFields, by: "api"), request)
            let updated = try await self.run(context)
            return try snakeCaseJSONResponse(ConfigResponse(config: ConfigResponse.Config(id: updated.id, name: updated.name, settings: updated.config),
                                              updatedFields: edit.updatedFields))
        }
        runs.get(":id/logs") { request, context in
            let run = try await self.run(context)
            let count = try Self.intParameter(request, "lines", default: 200, range: 1...10_000)
            return try snakeCaseJSONResponse(self.logs(run, lines: count))
        }
        runs.get(":id/metrics") { _, context in
            let run = try await self.run(context)
            return try snakeCaseJSONResponse(MetricsResponse(runId: run.id, epochs: try await self.queries.epochs(run.id), final: run.metrics ?? [:]))
        }
        runs.get(":id/statistics") { _, context in try await self.insight(try await self.run(context), kind: "statistics", stage: "stats") }
        runs.get(":id/schema") { _, context in try await self.insight(try await self.run(context), kind: "schema", stage: "schema") }
        runs.post(":id/webhook/:kind") { request, context in
            let run = try await self.run(context)
            try self.authenticate(request, run)
            let kind = try context.parameters.require("kind")
            let command = try await Webhooks.command(kind: kind, request: request, context: context, run: run)
            try await self.execute(TrainingRunDecider.self, run.id, command, request)
            let updated = try await self.run(context)
            return try snakeCaseJSONResponse(WebhookResponse(accepted: true, runId: updated.id, status: updated.status))
        }
    }

    // MARK: - Datasets, feature configs, model configs

    func addCatalog<View: Codable & Sendable>(
        _ router: RouteCollection<SlipwayRequestContext>, path: String, table: String, view: View.Type,
        create: @escaping @Sendable (Request, SlipwayRequestContext) async throws -> String
    ) {
        let group = router.group(RouterPath("api/\(path)"))
        let key = table
        group.post { request, context in
            let id = try await create(request, context)
            guard let created = try await self.queries.item(View.self, table: table, id: id) else { throw APIError.notFound("\(id) vanished") }
            return try snakeCaseJSONResponse(created, status: .created)
        }
        group.get { _, _ in try snakeCaseJSONResponse([key: try await self.queries.items(View.self, table: table)]) }
        group.get(":id") { _, context in
            let id = try context.parameters.require("id")
            guard let item = try await self.queries.item(View.self, table: table, id: id) else {
                throw APIError.notFound("no \(path.dropLast()) '\(id)'")
            }
            return try snakeCaseJSONResponse(item)
        }
    }

    // MARK: - Runs

    func run(_ context: SlipwayRequestContext) async throws -> RunRow {
        let id = try context.parameters.require("id")
        guard let run = try await queries.runRow(id) else { throw APIError.notFound("no training run '\(id)'") }
        return run
    }

    func execute<D: Decider>(_ decider: D.Type, _ id: String, _ command: D.Command, _ request: Request) async throws {
        try await environment.execute(decider, aggregateID: id, command: command, metadata: try request.commandMetadata())
    }

    func createRun(_ body: CreateRunBody, request: Request) async throws -> Response {
        guard let name = body.name else { throw invalid("name", "name is required: the registered model the run trains") }
        try Names.validate(name, field: "name")
        let modelType = try ModelTypes.parse(body.modelType, field: "model_type")
        let config = try RunConfigValidation.merged(
            base: nil, datasetID: body.datasetId, featureConfigID: body.featureConfigId, modelConfigID: body.modelConfigId,
            trainingParams: body.trainingParams, gpu: body.gpuConfig, evaluator: body.evaluatorConfig, deployment: body.deploymentConfig,
            executor: body.executor, autoRegister: body.autoRegister)
        if modelType != .retrieval && config.executor == Executors.local {
            throw invalid("model_type", "the built-in trainer trains retrieval models; use executor 'external' for \(ModelTypes.name(modelType))")
        }
        let created = try await create(name: name, description: body.description ?? "", modelType: modelType, config: config,
                                       rerunOf: nil, submit: body.submit ?? true, request: request)
        return try snakeCaseJSONResponse(RunResponse(trainingRun: try await queries.view(created.run), webhook: webhook(created.run, created.token)), status: .created)
    }

    /// Numbers runs per model name: the next free number, retried if a concurrent create took it.
    func create(name: String, description: String, modelType: ModelType, config: TrainingRunConfig, rerunOf: String?, submit: Bool,
                request: Request) async throws -> (run: RunRow, token: String?) {
        try await checkReferences(config)
        var number = try await queries.nextRunNumber(name)
        for _ in 0..<8 {
            let runID = "\(name)-\(number)"
            var created = TrainingRunCreated()
            created.runID = runID
            created.runNumber = Int32(number)
            created.name = name
            created.modelName = name
            created.descriptionText = description
            created.modelType = modelType
            created.config = config
            created.createdBy = "api"
            created.rerunOfRunID = rerunOf ?? ""
            let artifacts = executor.settings.artifactDirectory(for: runID)
            var token: String?
            var submitted: TrainingRunSubmitted?
            if submit {
                let plain = try RunToken.create(in: artifacts)
                token = plain
                submitted = Self.submitted(runID, config: config, tokenSHA256: RunToken.sha256(plain), artifacts: artifacts)
            }
            do {
                try await execute(TrainingRunDecider.self, runID, .create(created, submit: submitted), request)
            } catch let rejected as CommandRejected where rejected.kind == .conflict {
                if submit, (try? await queries.runRow(runID)) == nil { try? FileManager.default.removeItem(at: artifacts) }
                number += 1
                continue
            }
            executor.nudge()
            guard let run = try await queries.runRow(runID) else { throw APIError.notFound("run \(runID) vanished") }
            return (run, token)
        }
        throw APIError.conflict("could not assign a run number for \(name); try again")
    }

    func submit(_ run: RunRow, request: Request) async throws -> String {
        guard run.status == "pending" else { throw APIError.conflict("only a pending run can be submitted; this one is \(run.status)") }
        let artifacts = executor.settings.artifactDirectory(for: run.id)
        let token = try RunToken.create(in: artifacts)
        let config = try Self.protoConfig(run.config)
        try await execute(TrainingRunDecider.self, run.id, .submit(Self.submitted(run.id, config: config, tokenSHA256: RunToken.sha256(token), artifacts: artifacts)), request)
        executor.nudge()
        return token
    }

    static func submitted(_ runID: String, config: TrainingRunConfig, tokenSHA256: String, artifacts: URL) -> TrainingRunSubmitted {
        var submitted = TrainingRunSubmitted()
        submitted.runID = runID
        submitted.executor = config.executor.isEmpty ? Executors.local : config.executor
        submitted.tokenSha256 = tokenSHA256
        submitted.artifactUri = artifacts.path
        return submitted
    }

    /// An external trainer needs its token; a local one reads it from the artifact directory.
    func webhook(_ run: RunRow, _ token: String?) -> WebhookInfo? {
        guard let token, run.executor == Executors.external else { return nil }
        return WebhookInfo(url: "/api/training-runs/\(run.id)/webhook/", token: token,
                           kinds: ["stage-complete", "epoch-complete", "completed", "failed"])
    }

    func checkReferences(_ config: TrainingRunConfig) async throws {
        guard try await queries.dataset(config.datasetID) != nil else { throw invalid("dataset_id", "no dataset '\(config.datasetID)'") }
        guard try await queries.featureConfig(config.featureConfigID) != nil else {
            throw invalid("feature_config_id", "no feature config '\(config.featureConfigID)'")
        }
        guard try await queries.modelConfig(config.modelConfigID) != nil else { throw invalid("model_config_id", "no model config '\(config.modelConfigID)'") }
    }

    /// The stored view back as a config (every field is set, so merging it over the defaults is exact).
    static func protoConfig(_ view: RunConfigView) throws -> TrainingRunConfig {
        try RunConfigValidation.merged(
            base: nil, datasetID: view.datasetId, featureConfigID: view.featureConfigId, modelConfigID: view.modelConfigId,
            trainingParams: view.trainingParams, gpu: view.gpuConfig, evaluator: view.evaluatorConfig,
            deployment: view.deploymentConfig,
            executor: view.executor, autoRegister: view.autoRegister)
    }

    func listRuns(_ request: Request, name: String?) async throws -> Response {
        let status = request.uri.queryParameters.get("status")
        let statuses = ["pending", "scheduled", "submitting", "running", "completed", "failed", "cancelled", "not_blessed", "deploying", "deployed", "deploy_failed"]
        if let status, !statuses.contains(status) {
            throw APIError.badRequest("status must be one of \(statuses.joined(separator: ", "))", field: "status")
        }
        let limit = try Self.intParameter(request, "limit", default: 50, range: 1...500)
        let offset = try Self.intParameter(request, "offset", default: 0, range: 0...Int(Int32.max))
        let (rows, total) = try await queries.listRuns(name: name ?? request.uri.queryParameters.get("name"), status: status, limit: limit, offset: offset)
        var views: [RunView] = []
        for row in rows { views.append(try await queries.view(row)) }
        return try snakeCaseJSONResponse(RunList(trainingRuns: views, pagination: .init(total: total, limit: limit, offset: offset)))
    }

    static func intParameter(_ request: Request, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = request.uri.queryParameters.get(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError.badRequest("\(name) must be a whole number in \(range.lowerBound)...\(range.upperBound)", field: name)
        }
        return number
    }

    func logs(_ run: RunRow, lines count: Int) -> LogsResponse {
        let file = executor.settings.artifactDirectory(for: run.id).appendingPathComponent("run.log")
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            let all = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
            return LogsResponse(runId: run.id, lines: Array(all.suffix(count)), totalLines: all.count, logFile: file.path)
        }
        let tail = (run.logTail ?? "").split(separator: "\n").map(String.init)
        return LogsResponse(runId: run.id, lines: Array(tail.suffix(count)), totalLines: tail.count, logFile: nil)
    }

    /// Data Insights: the file the stats/schema stage wrote (its URI is in the stage's artifacts).
    func insight(_ run: RunRow, kind: String, stage: String) async throws -> Response {
        let stageView = try await queries.stages(run.id).first { $0.name == stage }
        let path = stageView?.details?.artifacts[kind]
        guard let path, let data = FileManager.default.contents(atPath: path.hasPrefix("file://") ? String(path.dropFirst(7)) : path) else {
            throw APIError.notFound("no \(kind) for run \(run.id) yet: the \(stage) stage has \(stageView?.status == "completed" ? "no \(kind) artifact" : "not completed")")
        }
        return rawJSONResponse(Array(data))
    }

    func authenticate(_ request: Request, _ run: RunRow) throws {
        let header = request.headers[.authorization] ?? ""
        let token = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : ""
        guard let expected = run.tokenSha256, !token.isEmpty, constantTimeEqual(RunToken.sha256(token), expected) else {
            throw APIError(.unauthorized, code: "unauthorized", message: "a valid run token is required (Authorization: Bearer <token>)")
        }
    }

    func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

// MARK: - Webhooks

/// The external-trainer contract (README "Training webhooks").
enum Webhooks {
    struct StageBody: Decodable {
        var stage: String
        var status: String?
        var durationSeconds: Double?
        var artifacts: [String: String]?
        var metrics: [String: Double]?
    }
    struct EpochBody: Decodable {
        var epoch: Int
        var totalEpochs: Int?
        var loss: Double
        var valLoss: Double?
        var recallAt5: Double?
        var recallAt10: Double?
        var recallAt50: Double?
        var recallAt100: Double?
        var metrics: [String: Double]?
        var durationSeconds: Double?
    }
    struct CompletedBody: Decodable {
        var metrics: [String: Double]
        var artifactUri: String
        var artifacts: [String: String]?
        var durationSeconds: Double?
    }
    struct FailedBody: Decodable {
        var error: String
        var stage: String?
        var logTail: String?
    }

    static func command(kind: String, request: Request, context: SlipwayRequestContext, run: RunRow) async throws -> TrainingRunDecider.Command {
        let decoder = TrainingRoutes.bodyDecoder
        func parseStage(_ name: String, field: String) throws -> TrainingStage {
            guard let stage = stage(named: name) else {
                throw invalid(field, "\(field) must be one of \(pipelineStages.map(\.name).joined(separator: ", "))")
            }
            return stage
        }
        switch kind {
        case "stage-complete":
            let body = try await request.decodeJSON(as: StageBody.self, context: context, decoder: decoder)
            let stage = try parseStage(body.stage, field: "stage")
            switch body.status ?? "completed" {
            case "started": return .stageStarted(stage)
            case "completed":
                var completed = StageCompleted()
                completed.runID = run.id
                completed.stage = stage
                completed.durationMs = Int64((body.durationSeconds ?? 0) * 1000)
                completed.artifacts = body.artifacts ?? [:]
                completed.metrics = body.metrics ?? [:]
                return .stageCompleted(completed)
            default: throw invalid("status", "status must be started or completed")
            }
        case "epoch-complete":
            let body = try await request.decodeJSON(as: EpochBody.self, context: context, decoder: decoder)
            guard body.epoch >= 1 else { throw invalid("epoch", "epoch must be at least 1") }
            guard body.loss.isFinite else { throw invalid("loss", "loss must be a finite number") }
            var epoch = EpochCompleted()
            epoch.runID = run.id
            epoch.epoch = Int32(clamping: body.epoch)
            epoch.totalEpochs = Int32(clamping: body.totalEpochs ?? run.config.trainingParams.epochs ?? 0)
            epoch.loss = body.loss
            epoch.valLoss = body.valLoss ?? .nan
            for (k, value) in [(5, body.recallAt5), (10, body.recallAt10), (50, body.recallAt50), (100, body.recallAt100)] {
                if let value { epoch.recallAtK[Int32(k)] = value }
            }
            epoch.metrics = body.metrics ?? [:]
            epoch.durationMs = Int64((body.durationSeconds ?? 0) * 1000)
            return .epoch(epoch)
        case "completed":
            let body = try await request.decodeJSON(as: CompletedBody.self, context: context, decoder: decoder)
            guard !body.metrics.isEmpty else { throw invalid("metrics", "metrics must hold the final metrics, e.g. recall_at_100") }
            try checkBundle(body.artifactUri)
            return .complete(metrics: body.metrics, artifactURI: body.artifactUri, artifacts: body.artifacts ?? [:],
                             durationMs: Int64((body.durationSeconds ?? run.startedAt.map { Date().timeIntervalSince($0) } ?? 0) * 1000))
        case "failed":
            let body = try await request.decodeJSON(as: FailedBody.self, context: context, decoder: decoder)
            guard !body.error.isEmpty else { throw invalid("error", "error must say what failed") }
            return .fail(stage: try body.stage.map { try parseStage($0, field: "stage") }, error: body.error, logTail: body.logTail ?? "",
                         durationMs: Int64((run.startedAt.map { Date().timeIntervalSince($0) } ?? 0) * 1000))
        default:
            throw APIError.notFound("unknown webhook '\(kind)': use stage-complete, epoch-complete, completed or failed")
        }
    }

    /// A local bundle must be loadable before a version is registered from it; other schemes are trusted.
    static func checkBundle(_ uri: String) throws {
        guard uri.hasPrefix("/") || uri.hasPrefix("file://") else {
            guard uri.contains("://") else { throw invalid("artifact_uri", "artifact_uri must be an absolute path or a URI") }
            return
        }
        let path = uri.hasPrefix("file://") ? String(uri.dropFirst(7)) : uri
        do {
            _ = try ModelBundle.load(from: URL(fileURLWithPath: path))
        } catch {
            throw invalid("artifact_uri", "artifact_uri is not a loadable model bundle: \(error)")
        }
    }
}

// MARK: - Responses

struct RunResponse: Encodable {
    var trainingRun: RunView
    var webhook: WebhookInfo?
}

struct RerunResponse: Encodable {
    var success: Bool
    var trainingRun: RunView
    var webhook: WebhookInfo?
    var message: String
}

struct WebhookInfo: Encodable {
    var url: String
    var token: String
    var kinds: [String]
}

struct RunList: Encodable {
    struct Pagination: Encodable { var total: Int; var limit: Int; var offset: Int }
    var trainingRuns: [RunView]
    var pagination: Pagination
}

struct ConfigResponse: Encodable {
    struct Config: Encodable {
        var id: String
        var name: String
        var settings: RunConfigView

        func encode(to encoder: any Encoder) throws {
            try settings.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(id, forKey: .id)
            try container.encode(name, forKey: .name)
        }
        enum Keys: String, CodingKey { case id, name }
    }
    var config: Config
    var updatedFields: [String]?
}

struct MetricsResponse: Encodable {
    var runId: String
    var epochs: [TrainingQueries.EpochView]
    var final: [String: Double]
}

struct LogsResponse: Encodable {
    var runId: String
    var lines: [String]
    var totalLines: Int
    var logFile: String?
}

struct WebhookResponse: Encodable {
    var accepted: Bool
    var runId: String
    var status: String
}

