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
    let executors: TrainerExecutors
    let queries: TrainingQueries
    let creation: RunCreation

    init(environment: ServiceEnvironment, executors: TrainerExecutors, creation: RunCreation) {
        self.environment = environment
        self.executors = executors
        self.creation = creation
        queries = TrainingQueries(postgres: environment.postgres, logger: environment.logger)
    }

    /// Where runs' artifacts and tokens go.
    var settings: TrainingSettings { executors.settings }

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.post(
            "/api/datasets",
            RouteDoc(
                "Register a dataset", details: "A dataset never changes once registered; its name is its id, and a name taken is a 409.",
                body: DatasetDefinition.self, status: .created), use: createDataset)
        routes.get("/api/datasets", RouteDoc("List datasets"), use: datasets)
        routes.get("/api/datasets/:id", RouteDoc("A dataset"), use: dataset)
        routes.get(
            "/api/datasets/:id/feedback",
            RouteDoc(
                "Feedback sent to a dataset's training rows, oldest first",
                details: "Users' feedback metrics-svc sent to training (`to-training`), until it is deleted: the next run on the dataset adds "
                    + "it to its train split."), use: datasetFeedback)
        routes.post(
            "/api/feature-configs",
            RouteDoc(
                "Create a feature config", details: "A feature config never changes once created; a name taken is a 409.",
                body: FeatureConfigDefinition.self, status: .created), use: createFeatureConfig)
        routes.get("/api/feature-configs", RouteDoc("List feature configs"), use: featureConfigs)
        routes.get("/api/feature-configs/:id", RouteDoc("A feature config"), use: featureConfig)
        routes.post(
            "/api/model-configs",
            RouteDoc(
                "Create a model config", details: "A model config never changes once created; a name taken is a 409.",
                body: ModelConfigDefinition.self, status: .created), use: createModelConfig)
        routes.get("/api/model-configs", RouteDoc("List model configs"), use: modelConfigs)
        routes.get("/api/model-configs/:id", RouteDoc("A model config"), use: modelConfig)

        routes.post(
            "/api/training-runs",
            RouteDoc(
                "Create a training run", details: "`name` (required) is the registered model the run trains. " + Self.createDetails,
                body: CreateRunBody.self, status: .created), use: create)
        routes.get(
            "/api/training-runs", RouteDoc("List training runs, newest first", query: [.string("name", "Only this model's runs")] + Self.listQuery),
            use: list)
        routes.post(
            "/api/models/:name/training-runs",
            RouteDoc(
                "Create a training run of a model", details: "The path names the model (the body's `name` is ignored). " + Self.createDetails,
                body: CreateRunBody.self, status: .created), use: createForModel)
        routes.get(
            "/api/models/:name/training-runs", RouteDoc("List a model's training runs, newest first", query: Self.listQuery), use: listForModel)
        routes.get("/api/training-runs/:id", RouteDoc("A training run with its stages"), use: get)
        routes.post(
            "/api/training-runs/:id/submit",
            RouteDoc(
                "Submit a pending training run",
                details: "Only a pending or scheduled run can be submitted (409 otherwise). A run for the external executor answers with its "
                    + "webhook token, shown only here."), use: submit)
        routes.post(
            "/api/training-runs/:id/cancel",
            RouteDoc(
                "Cancel a training run", details: "The body (`{\"reason\": \"…\"}`) is optional. A run that has ended is a 409.",
                body: CancelBody.self, required: false), use: cancel)
        routes.post(
            "/api/training-runs/:id/rerun",
            RouteDoc(
                "Re-run a training run with its configuration",
                details: "The new run is the model's next and is submitted at once; a run that has not ended is a 409.", status: .created),
            use: rerun)
        routes.get("/api/training-runs/:id/config", RouteDoc("A training run's configuration", answer: .named("ConfigResponse")), use: config)
        routes.patch(
            "/api/training-runs/:id/config",
            RouteDoc(
                "Edit a training run's configuration",
                details: "Only the fields given change; a submitting or running run is a 409. With the wizard's `schedule_config` (its timing "
                    + "fields, `schedule_name`, `schedule_description`; `run_now` is refused), also the model's schedule: made from the "
                    + "edited configuration when the model has none, retimed when it has one. A schedule's configuration is frozen, so "
                    + "editing the settings and an existing schedule at once is a 409. schedule-svc checks the schedule before anything "
                    + "changes.", body: RunSettings.self, answer: .named("ConfigResponse")), use: editConfig)
        routes.get(
            "/api/training-runs/:id/logs",
            RouteDoc(
                "The last lines of a training run's log",
                details: "From the run's log file while it exists, else from the log tail the run recorded.",
                query: [.integer("lines", "How many of the last lines", in: 1...10_000, default: 200)]), use: logs)
        routes.get("/api/training-runs/:id/metrics", RouteDoc("A training run's metrics by epoch and final"), use: metrics)
        routes.get(
            "/api/training-runs/:id/statistics",
            RouteDoc(
                "A training run's data statistics",
                details: "The statistics the run's `stats` stage wrote (the trainer's `statistics` output); 404 until the stage has completed "
                    + "with them.", answer: .named("DataStatistics")), use: statistics)
        routes.get(
            "/api/training-runs/:id/evaluation",
            RouteDoc(
                "A training run's test evaluation",
                details: "The test metrics with the protocol, split and algorithm that produced them, as the `evaluate` stage wrote them; 404 "
                    + "until the stage has completed with them.", answer: .named("Evaluation")), use: evaluation)
        routes.get(
            "/api/training-runs/:id/schema",
            RouteDoc(
                "A training run's inferred data schema",
                details: "The features' schema and anomalies the run's `schema` stage wrote; 404 until the stage has completed with it.",
                answer: .named("DataSchema")), use: schema)
        // One route per webhook kind, each with its body (an unknown kind is the router's 404).
        routes.post(
            "/api/training-runs/:id/webhook/stage-complete",
            RouteDoc(
                "Report a stage of an external training run",
                details: "`stage` is compile, examples, stats, schema, transform, train or evaluate; `status` `started` or `completed` (the "
                    + "default); a stage reported again changes nothing. "
                    + Self.webhookAuthentication, body: Webhooks.StageBody.self), use: webhook(.stageComplete))
        routes.post(
            "/api/training-runs/:id/webhook/epoch-complete",
            RouteDoc(
                "Report an epoch of an external training run",
                details: "`epoch` counts from 1; an epoch reported again changes nothing. " + Self.webhookAuthentication,
                body: Webhooks.EpochBody.self),
            use: webhook(.epochComplete))
        routes.post(
            "/api/training-runs/:id/webhook/completed",
            RouteDoc(
                "Report that an external training run completed",
                details: "`artifact_uri` is the model bundle: an absolute path or a URI, and a local one must load as a bundle (422 "
                    + "otherwise). " + Self.webhookAuthentication, body: Webhooks.CompletedBody.self), use: webhook(.completed))
        routes.post(
            "/api/training-runs/:id/webhook/failed",
            RouteDoc("Report that an external training run failed", details: Self.webhookAuthentication, body: Webhooks.FailedBody.self),
            use: webhook(.failed))
        routes.post(
            "/api/training-runs/:id/schedule-webhook",
            RouteDoc(
                "Fire the schedule of a run's model (external schedulers)",
                details: "Forwarded to `POST /api/training/schedules/{id}/webhook` of the model's active or paused schedule (404 when it has "
                    + "none): the body, its `Authorization` or `X-Slipway-Signature` with the schedule's webhook secret (no user is needed), "
                    + "`X-CloudScheduler-ScheduleTime`, and the answer are that route's: 202 when a run starts, 200 when the slot is skipped "
                    + "or was handled before. The body is passed on as it is, unread.",
                status: .accepted, answer: .named("WebhookJSON")), use: scheduleWebhook)
        return routes
    }

    /// What both creation routes do with the body.
    static let createDetails =
        "`submit: false` keeps the run `pending` until `POST …/submit`. The wizard's `schedule_config` with a timing `schedule_type` "
        + "(once, hourly, daily, weekly or monthly, with schedule-svc's timing fields, `run_now`, `schedule_name`, `schedule_description`) "
        + "makes the model's retraining schedule from the run's configuration, checked by schedule-svc before anything is written, and "
        + "starts the run too only with `run_now: true` (else `training_run` is null); `schedule_type: now` just starts the run. A run "
        + "submitted to the external executor answers with its webhook token, shown only here."

    /// The query of both run lists.
    static let listQuery: [QueryParameterDoc] = [
        .string("status", "Only runs in this status", oneOf: TrainingRunStatus.listable.map(\.apiName)),
        .integer("limit", "How many", in: 1...500, default: 50),
        .integer("offset", "How many to skip", in: 0...Int(Int32.max), default: 0),
        .dateTime("before", "Only runs created before this instant (a page further back, as a model's timeline reads)"),
    ]

    /// What every webhook route does with its caller and a repeated call.
    static let webhookAuthentication =
        "Called by the run's trainer with the run's token (`Authorization: Bearer <token>`, given when the run was submitted), not a "
        + "user's; a wrong or missing token is a 401. A run that has ended answers 409."

    // MARK: Create

    @Sendable func create(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<CreatedRunResponse> {
        let (body, schedule) = try await Self.runBody(request, context)
        return try await createRun(body, name: body.name, schedule: schedule, request)
    }

    @Sendable func createForModel(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<CreatedRunResponse> {
        let (body, schedule) = try await Self.runBody(request, context)
        return try await createRun(body, name: try context.parameters.require("name"), schedule: schedule, request)
    }

    static func runBody(_ request: Request, _ context: SlipwayRequestContext) async throws -> (CreateRunBody, WizardSchedule?) {
        let bytes = try await request.body.collect(upTo: context.maxUploadSize)
        guard bytes.readableBytes > 0 else { throw APIError.badRequest("request body is empty; expected JSON") }
        return (try PlatformJSON.decode(CreateRunBody.self, from: bytes.readableBytesView), try WizardSchedule.parse(bytes.readableBytesView))
    }

    /// A run, or with the wizard's `schedule_config` the model's schedule (checked by schedule-svc before anything is
    /// written) and the run only when it also asks to run now.
    private func createRun(_ body: CreateRunBody, name: String?, schedule: WizardSchedule?, _ request: Request) async throws
        -> EditedResponse<CreatedRunResponse>
    {
        guard let name else { throw CommandRejected.invalid("name", "name is required: the registered model the run trains") }
        var body = body
        if body.executor == nil { body.executor = settings.executor }
        guard let schedule else {
            let (view, webhook) = try await startRun(body, name: name, request)
            return EditedResponse(status: .created, response: CreatedRunResponse(trainingRun: view, webhook: webhook, schedule: nil))
        }
        let config = try body.settings.config(over: nil)
        try await schedules(for: request).send(
            .POST, "/api/training/schedules/validate", try schedule.body(model: name, config: config, sourceRunID: nil))
        var started: (view: RunView, webhook: WebhookInfo?)?
        if schedule.runNow { started = try await startRun(body, name: name, request) }
        let made = try await schedules(for: request).create(try schedule.body(model: name, config: config, sourceRunID: started?.view.id))
        return EditedResponse(
            status: .created, response: CreatedRunResponse(trainingRun: started?.view, webhook: started?.webhook, schedule: made))
    }

    private func startRun(_ body: CreateRunBody, name: String, _ request: Request) async throws -> (RunView, WebhookInfo?) {
        let runSettings = body.settings
        let catalog = try await queries.catalog(
            datasets: [runSettings.datasetId].compactMap { $0 }, featureConfigs: [runSettings.featureConfigId].compactMap { $0 },
            modelConfigs: [runSettings.modelConfigId].compactMap { $0 })
        let created = try await creation.create(model: name, submit: body.submit ?? true, metadata: try request.commandMetadata()) {
            number, submission in
            .create(
                .init(
                    model: name, number: number, description: body.description ?? "", modelType: body.modelType, settings: runSettings,
                    catalog: catalog, createdBy: request.actor, submission: submission))
        }
        return (try await queries.view(created.run), webhook(created.run, created.token))
    }

    // MARK: One run

    @Sendable func get(_ request: Request, context: SlipwayRequestContext) async throws -> RunView {
        try await queries.view(try await run(context))
    }

    @Sendable func submit(_ request: Request, context: SlipwayRequestContext) async throws -> RunResponse {
        let run = try await run(context)
        try executors.check(run.executor)
        let token = RunToken.make()
        let managed = Executors.isManaged(run.executor)
        let tokenFile = managed ? try RunToken.write(token, root: settings.artifactRoot) : nil
        do {
            let submission = TrainingRunDecider.Submission(
                tokenSHA256: RunToken.sha256(token), artifactURI: settings.artifactDirectory(for: run.id).path)
            try await execute(run.id, .submit(submission), request)
        } catch {
            if let tokenFile { try? FileManager.default.removeItem(at: tokenFile) }
            throw error
        }
        if managed { executors.submitted(run.id, executor: run.executor) }
        return RunResponse(trainingRun: try await queries.view(try await self.run(context)), webhook: webhook(run, token))
    }

    struct CancelBody: Decodable {
        var reason: String?
    }

    /// The body is optional (`{"reason": "…"}`); a malformed one is a 400.
    @Sendable func cancel(_ request: Request, context: SlipwayRequestContext) async throws -> RunView {
        let run = try await run(context)
        let body = try await request.decodeIfPresent(as: CancelBody.self, context: context)
        try await execute(run.id, .cancel(reason: body?.reason ?? "", by: request.actor), request)
        await executors.stop(runID: run.id, executor: run.executor)
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
            .rerun(.init(source: source, number: number, catalog: catalog, createdBy: request.actor, submission: submission!))
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

    /// The run's settings, and with `schedule_config` its model's schedule: made from the edited configuration when the
    /// model has none, its timing changed when it has one (a schedule's configuration is frozen, so editing both is
    /// refused). The schedule is checked before the run's settings change.
    @Sendable func editConfig(_ request: Request, context: SlipwayRequestContext) async throws -> ConfigResponse {
        let run = try await run(context)
        let bytes = try await request.body.collect(upTo: context.maxUploadSize)
        let edit = try PlatformJSON.decode(RunSettings.self, from: bytes.readableBytesView)
        let schedule = try WizardSchedule.parse(bytes.readableBytesView)
        if schedule?.runNow == true {
            throw APIError.invalid(
                "run_now applies when a run is created; start this configuration with POST …/rerun", field: "schedule_config.run_now")
        }
        let catalog = try await queries.catalog(
            datasets: [edit.datasetId ?? run.config.datasetId], featureConfigs: [edit.featureConfigId ?? run.config.featureConfigId],
            modelConfigs: [edit.modelConfigId ?? run.config.modelConfigId])
        var scheduleJSON: EmbeddedJSON?
        let command = TrainingRunDecider.Command.editConfig(edit, catalog: catalog, by: request.actor)
        if let schedule {
            // The edit as the decider would decide it, before the schedule changes; then the schedule; then the edit.
            let state = try await environment.store.state(TrainingRunDecider.self, aggregateID: run.id)
            if !edit.givenFields.isEmpty { _ = try TrainingRunDecider.decide(command, state) }
            if let existing = try await schedules(for: request).liveSchedule(model: run.name) {
                guard edit.givenFields.isEmpty else {
                    throw APIError.conflict(
                        "model '\(run.name)' has schedule \(existing), whose training configuration is frozen: edit the run's settings or "
                            + "the schedule's timing, not both (or delete the schedule and make it again)", details: ["field": "schedule_config"])
                }
                let retimed = try await schedules(for: request).send(.PUT, "/api/training/schedules/\(existing)", schedule.timing.mapValues(\.any))
                scheduleJSON = EmbeddedJSON(text: String(decoding: retimed, as: UTF8.self))
            } else {
                let body = try schedule.body(model: run.name, config: try edit.config(over: state.config), sourceRunID: run.id)
                try await schedules(for: request).send(.POST, "/api/training/schedules/validate", body)
                if !edit.givenFields.isEmpty { try await execute(run.id, command, request) }
                scheduleJSON = try await schedules(for: request).create(body)
            }
        } else {
            try await execute(run.id, command, request)
        }
        let updated = try await self.run(context)
        return ConfigResponse(
            config: .init(id: updated.id, name: updated.name, settings: updated.config),
            updatedFields: edit.givenFields + (schedule == nil ? [] : ["schedule_config"]), schedule: scheduleJSON)
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

    /// The test metrics with the protocol, split and algorithm that produced them.
    @Sendable func evaluation(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        try await insight(try await run(context), kind: "evaluation", stage: .evaluate)
    }

    /// Data Insights: the file the stats/schema/evaluate stage wrote (its path is in the stage's artifacts).
    private func insight(_ run: RunRow, kind: String, stage: TrainingStage) async throws -> RawJSON {
        let stageView = try await queries.stages([run.id])[run.id]?.first { $0.name == stage.apiName }
        let path = stageView?.details?.artifacts[kind]
        guard let path, let data = FileManager.default.contents(atPath: path.hasPrefix("file://") ? String(path.dropFirst(7)) : path) else {
            let why = stageView?.status == "completed" ? "no \(kind) artifact" : "not completed"
            throw APIError.notFound("no \(kind) for run \(run.id) yet: the \(stage.apiName) stage has \(why)")
        }
        return RawJSON(Array(data))
    }

    /// The spec's run-level webhook for external schedulers: the call goes to the webhook of the run's model's schedule
    /// (its secret, body and answer unchanged).
    @Sendable func scheduleWebhook(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        let run = try await run(context)
        guard let schedule = try await schedules(for: request).liveSchedule(model: run.name) else {
            throw APIError.notFound(
                "model '\(run.name)' has no active or paused schedule; make one with schedule_config or POST /api/training/schedules")
        }
        let bytes = try await request.body.collect(upTo: context.maxUploadSize)
        let headers = ["Authorization", "X-Slipway-Signature", "X-CloudScheduler-ScheduleTime"].compactMap { name in
            HTTPField.Name(name).flatMap { request.headers[$0] }.map { (name, $0) }
        }
        let answer = try await schedules(for: request).exchange(
            .POST, "/api/training/schedules/\(schedule)/webhook", body: Array(bytes.readableBytesView), headers: headers)
        return RawJSON(answer.body, status: HTTPResponse.Status(code: Int(answer.status)))
    }

    /// schedule-svc, called for this request's caller: what it writes names the same actor.
    func schedules(for request: Request) -> SchedulePeer { SchedulePeer(environment: environment, actor: request.actor) }

    /// The webhook of one kind (`Webhooks.kinds`), a route of its own so that its body is documented.
    func webhook(_ kind: Webhooks.Kind) -> @Sendable (Request, SlipwayRequestContext) async throws -> WebhookResponse {
        { request, context in
            let run = try await run(context)
            try authenticate(request, run)
            let command = try await Webhooks.command(kind: kind, request: request, context: context, run: run, now: Date())
            // The run's status after the report, as its events say (and the read model, updated with them, shows).
            let outcome = try await environment.execute(
                TrainingRunDecider.self, aggregateID: run.id, command: command, metadata: try request.commandMetadata())
            return WebhookResponse(accepted: true, runId: run.id, status: outcome.state.status.apiName)
        }
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
        let (rows, total) = try await queries.runs(model: model, status: status, before: try query.instant("before"), limit: limit, offset: offset)
        return RunList(trainingRuns: try await queries.views(rows), pagination: .init(total: total, limit: limit, offset: offset))
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
        guard let expected = run.tokenSha256, !token.isEmpty, SecretMaterial.constantTimeEqual(RunToken.sha256(token).utf8, expected.utf8) else {
            throw APIError(.unauthorized, code: "unauthorized", message: "a valid run token is required (Authorization: Bearer <token>)")
        }
    }
}
