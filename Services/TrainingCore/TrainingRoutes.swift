import Foundation
import HTTPTypes
import Hummingbird
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// training-svc's REST API: the spec's paths for datasets, configs, training runs and their webhooks.
/// Handlers parse the request, look up the facts a command needs (which datasets and configs exist, a
/// rerun's source, a bundle's loadability) and execute it; the deciders hold the rules.
struct TrainingRoutes: Sendable {
    let environment: ServiceEnvironment
    let executor: LocalExecutor
    let queries: TrainingQueries
    let creation: RunCreation

    init(environment: ServiceEnvironment, executor: LocalExecutor, creation: RunCreation) {
        self.environment = environment
        self.executor = executor
        self.creation = creation
        queries = TrainingQueries(postgres: environment.postgres, logger: environment.logger)
    }

    /// Where runs' artifacts and tokens go.
    var settings: TrainingSettings { executor.settings }

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.post("/api/datasets", use: createDataset)
        routes.get("/api/datasets", use: datasets)
        routes.get("/api/datasets/:id", use: dataset)
        routes.get("/api/datasets/:id/feedback", use: datasetFeedback)
        routes.post("/api/feature-configs", use: createFeatureConfig)
        routes.get("/api/feature-configs", use: featureConfigs)
        routes.get("/api/feature-configs/:id", use: featureConfig)
        routes.post("/api/model-configs", use: createModelConfig)
        routes.get("/api/model-configs", use: modelConfigs)
        routes.get("/api/model-configs/:id", use: modelConfig)

        routes.post("/api/training-runs", use: create)
        routes.get("/api/training-runs", use: list)
        routes.post("/api/models/:name/training-runs", use: createForModel)
        routes.get("/api/models/:name/training-runs", use: listForModel)
        routes.get("/api/training-runs/:id", use: get)
        routes.post("/api/training-runs/:id/submit", use: submit)
        routes.post("/api/training-runs/:id/cancel", use: cancel)
        routes.post("/api/training-runs/:id/rerun", use: rerun)
        routes.get("/api/training-runs/:id/config", use: config)
        routes.patch("/api/training-runs/:id/config", use: editConfig)
        routes.get("/api/training-runs/:id/logs", use: logs)
        routes.get("/api/training-runs/:id/metrics", use: metrics)
        routes.get("/api/training-runs/:id/statistics", use: statistics)
        routes.get("/api/training-runs/:id/schema", use: schema)
        routes.post("/api/training-runs/:id/webhook/:kind", use: webhook)
        return routes
    }

    // MARK: Create

    @Sendable func create(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<RunResponse> {
        let body = try await Self.runBody(request, context)
        return try await createRun(body, name: body.name, request)
    }

    @Sendable func createForModel(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<RunResponse> {
        let body = try await Self.runBody(request, context)
        return try await createRun(body, name: try context.parameters.require("name"), request)
    }

    private struct ScheduleConfigProbe: Decodable {
        var scheduleConfig: EmbeddedJSON?
    }

    static func runBody(_ request: Request, _ context: SlipwayRequestContext) async throws -> CreateRunBody {
        let bytes = try await request.body.collect(upTo: context.maxUploadSize)
        guard bytes.readableBytes > 0 else { throw APIError.badRequest("request body is empty; expected JSON") }
        try refuseScheduleConfig(bytes.readableBytesView)
        return try PlatformJSON.decode(CreateRunBody.self, from: bytes.readableBytesView)
    }

    /// The wizard's `schedule_config` is not kept on a run (a setting accepted and ignored would be a lie): schedules
    /// are schedule-svc's, made from the run.
    static func refuseScheduleConfig(_ bytes: some DataProtocol) throws {
        guard (try? PlatformJSON.decode(ScheduleConfigProbe.self, from: bytes))?.scheduleConfig != nil else { return }
        throw APIError.invalid(
            "schedule_config is not kept on a training run: make a schedule from the run with POST /api/training/schedules/from-run",
            field: "schedule_config")
    }

    private func createRun(_ body: CreateRunBody, name: String?, _ request: Request) async throws -> EditedResponse<RunResponse> {
        guard let name else { throw CommandRejected.invalid("name", "name is required: the registered model the run trains") }
        let runSettings = body.settings
        let catalog = try await queries.catalog(
            datasets: [runSettings.datasetId].compactMap { $0 }, featureConfigs: [runSettings.featureConfigId].compactMap { $0 },
            modelConfigs: [runSettings.modelConfigId].compactMap { $0 })
        let created = try await creation.create(model: name, submit: body.submit ?? true, metadata: try request.commandMetadata()) {
            number, submission in
            .create(
                .init(
                    model: name, number: number, description: body.description ?? "", modelType: body.modelType, settings: runSettings,
                    catalog: catalog, createdBy: "api", submission: submission))
        }
        return EditedResponse(
            status: .created, response: RunResponse(trainingRun: try await queries.view(created.run), webhook: webhook(created.run, created.token)))
    }

    // MARK: One run

    @Sendable func get(_ request: Request, context: SlipwayRequestContext) async throws -> RunView {
        try await queries.view(try await run(context))
    }

    @Sendable func submit(_ request: Request, context: SlipwayRequestContext) async throws -> RunResponse {
        let run = try await run(context)
        let token = RunToken.make()
        let local = run.executor == Executors.local
        let tokenFile = local ? try RunToken.write(token, root: settings.artifactRoot) : nil
        do {
            let submission = TrainingRunDecider.Submission(
                tokenSHA256: RunToken.sha256(token), artifactURI: settings.artifactDirectory(for: run.id).path)
            try await execute(run.id, .submit(submission), request)
        } catch {
            if let tokenFile { try? FileManager.default.removeItem(at: tokenFile) }
            throw error
        }
        if local { creation.startsLocally(run.id) }
        return RunResponse(trainingRun: try await queries.view(try await self.run(context)), webhook: webhook(run, token))
    }

    struct CancelBody: Decodable {
        var reason: String?
    }

    /// The body is optional (`{"reason": "…"}`); a malformed one is a 400.
    @Sendable func cancel(_ request: Request, context: SlipwayRequestContext) async throws -> RunView {
        let run = try await run(context)
        let body = try await request.decodeIfPresent(as: CancelBody.self, context: context)
        try await execute(run.id, .cancel(reason: body?.reason ?? "", by: "api"), request)
        await executor.stop(runID: run.id)
        return try await queries.view(try await self.run(context))
    }

    @Sendable func rerun(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<RerunResponse> {
        let run = try await run(context)
        let source = TrainingRunDecider.RerunSource(
            id: run.id, model: run.name, number: Int32(run.runNumber), status: run.runStatus,
            modelType: try ModelTypes.parse(run.modelType, field: "model_type"), config: try RunSettings(run.config).config(over: nil))
        let catalog = try await queries.catalog(
            datasets: [source.config.datasetID], featureConfigs: [source.config.featureConfigID], modelConfigs: [source.config.modelConfigID])
        let created = try await creation.create(model: run.name, submit: true, metadata: try request.commandMetadata()) { number, submission in
            // `submit: true` above: a rerun always has its submission.
            .rerun(.init(source: source, number: number, catalog: catalog, createdBy: "api", submission: submission!))
        }
        let view = try await queries.view(created.run)
        return EditedResponse(
            status: .created,
            response: RerunResponse(
                success: true, trainingRun: view, webhook: webhook(created.run, created.token), message: "Re-run created as \(view.displayName)"))
    }

    @Sendable func config(_ request: Request, context: SlipwayRequestContext) async throws -> ConfigResponse {
        let run = try await run(context)
        return ConfigResponse(config: .init(id: run.id, name: run.name, settings: run.config), updatedFields: nil)
    }

    @Sendable func editConfig(_ request: Request, context: SlipwayRequestContext) async throws -> ConfigResponse {
        let run = try await run(context)
        let bytes = try await request.body.collect(upTo: context.maxUploadSize)
        try Self.refuseScheduleConfig(bytes.readableBytesView)
        let edit = try PlatformJSON.decode(RunSettings.self, from: bytes.readableBytesView)
        let catalog = try await queries.catalog(
            datasets: [edit.datasetId ?? run.config.datasetId], featureConfigs: [edit.featureConfigId ?? run.config.featureConfigId],
            modelConfigs: [edit.modelConfigId ?? run.config.modelConfigId])
        try await execute(run.id, .editConfig(edit, catalog: catalog, by: "api"), request)
        let updated = try await self.run(context)
        return ConfigResponse(config: .init(id: updated.id, name: updated.name, settings: updated.config), updatedFields: edit.givenFields)
    }

    @Sendable func logs(_ request: Request, context: SlipwayRequestContext) async throws -> LogsResponse {
        let run = try await run(context)
        let count = try request.uri.queryParameters.integer("lines", default: 200, in: 1...10_000)
        let file = settings.artifactDirectory(for: run.id).appendingPathComponent("run.log")
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            let all = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
            return LogsResponse(runId: run.id, lines: Array(all.suffix(count)), totalLines: all.count, logFile: file.path)
        }
        let tail = (run.logTail ?? "").split(separator: "\n").map(String.init)
        return LogsResponse(runId: run.id, lines: Array(tail.suffix(count)), totalLines: tail.count, logFile: nil)
    }

    @Sendable func metrics(_ request: Request, context: SlipwayRequestContext) async throws -> MetricsResponse {
        let run = try await run(context)
        return MetricsResponse(runId: run.id, epochs: try await queries.epochs(run.id), final: run.metrics ?? [:])
    }

    @Sendable func statistics(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        try await insight(try await run(context), kind: "statistics", stage: .stats)
    }

    @Sendable func schema(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        try await insight(try await run(context), kind: "schema", stage: .schema)
    }

    /// Data Insights: the file the stats/schema stage wrote (its path is in the stage's artifacts).
    private func insight(_ run: RunRow, kind: String, stage: TrainingStage) async throws -> RawJSON {
        let stageView = try await queries.stages(run.id).first { $0.name == stage.apiName }
        let path = stageView?.details?.artifacts[kind]
        guard let path, let data = FileManager.default.contents(atPath: path.hasPrefix("file://") ? String(path.dropFirst(7)) : path) else {
            let why = stageView?.status == "completed" ? "no \(kind) artifact" : "not completed"
            throw APIError.notFound("no \(kind) for run \(run.id) yet: the \(stage.apiName) stage has \(why)")
        }
        return RawJSON(Array(data))
    }

    @Sendable func webhook(_ request: Request, context: SlipwayRequestContext) async throws -> WebhookResponse {
        let run = try await run(context)
        try authenticate(request, run)
        let kind = try context.parameters.require("kind")
        let command = try await Webhooks.command(kind: kind, request: request, context: context, run: run, now: Date())
        // The run's status after the report, as its events say (and the read model, updated with them, shows).
        let outcome = try await environment.execute(
            TrainingRunDecider.self, aggregateID: run.id, command: command, metadata: try request.commandMetadata())
        return WebhookResponse(accepted: true, runId: run.id, status: outcome.state.status.apiName)
    }

    // MARK: Lists

    @Sendable func list(_ request: Request, context: SlipwayRequestContext) async throws -> RunList {
        try await listRuns(request, model: request.uri.queryParameters.get("name"))
    }

    @Sendable func listForModel(_ request: Request, context: SlipwayRequestContext) async throws -> RunList {
        try await listRuns(request, model: try context.parameters.require("name"))
    }

    private func listRuns(_ request: Request, model: String?) async throws -> RunList {
        let query = request.uri.queryParameters
        let status = query.get("status")
        if let status, TrainingRunStatus(apiName: status) == nil {
            throw APIError.badRequest("status must be one of \(TrainingRunStatus.listable.map(\.apiName).joined(separator: ", "))", field: "status")
        }
        let limit = try query.integer("limit", default: 50, in: 1...500)
        let offset = try query.integer("offset", default: 0, in: 0...Int(Int32.max))
        let (rows, total) = try await queries.runs(model: model, status: status, limit: limit, offset: offset)
        var views: [RunView] = []
        for row in rows { views.append(try await queries.view(row)) }
        return RunList(trainingRuns: views, pagination: .init(total: total, limit: limit, offset: offset))
    }

    // MARK: Helpers

    func run(_ context: SlipwayRequestContext) async throws -> RunRow {
        let id = try context.parameters.require("id")
        guard let run = try await queries.run(id) else { throw APIError.notFound("no training run '\(id)'") }
        return run
    }

    func execute<D: Decider>(_ decider: D.Type, _ id: String, _ command: D.Command, _ request: Request) async throws {
        try await environment.execute(decider, aggregateID: id, command: command, metadata: try request.commandMetadata())
    }

    func execute(_ runID: String, _ command: TrainingRunDecider.Command, _ request: Request) async throws {
        try await execute(TrainingRunDecider.self, runID, command, request)
    }

    /// An external trainer needs its token; a local one reads it from the artifact root.
    func webhook(_ run: RunRow, _ token: String?) -> WebhookInfo? {
        guard let token, run.executor == Executors.external else { return nil }
        return WebhookInfo(url: "/api/training-runs/\(run.id)/webhook/", token: token, kinds: Webhooks.kinds)
    }

    func authenticate(_ request: Request, _ run: RunRow) throws {
        let header = request.headers[.authorization] ?? ""
        let token = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : ""
        guard let expected = run.tokenSha256, !token.isEmpty, Self.constantTimeEqual(RunToken.sha256(token), expected) else {
            throw APIError(.unauthorized, code: "unauthorized", message: "a valid run token is required (Authorization: Bearer <token>)")
        }
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
