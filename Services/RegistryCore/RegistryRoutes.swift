import Foundation
import Hummingbird
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// The registry's HTTP API. Every handler parses and validates its input before executing a
/// command, and commands are validated by the decider before any event is written, so a rejected
/// request leaves nothing behind. Hummingbird's router ignores trailing slashes, so the spec's
/// `/api/registered-models/` spelling reaches the same handlers.
struct RegistryRoutes: Sendable {
    let environment: ServiceEnvironment
    let queries: RegistryQueries
    /// A model's answer and its version list, kept encoded while nothing they show has changed.
    let views: RenderedViews

    init(environment: ServiceEnvironment, views: RenderedViews = RenderedViews()) {
        self.environment = environment
        self.queries = RegistryQueries(client: environment.postgres, logger: environment.logger)
        self.views = views
    }

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.post("/api/registered-models", RouteDoc("Create a registered model", body: CreateBody.self, status: .created), use: create)
        routes.get(
            "/api/registered-models",
            RouteDoc(
                "List registered models with the registry's KPIs",
                query: [
                    .string("model_type", "Only this type (empty: all)", oneOf: ["", "retrieval", "ranking", "multitask"]),
                    .string("status", "Only this status, or `blessed` (empty: all)"),
                    .boolean("has_schedule", "Only models with (true) or without (false) a retraining schedule"),
                    .string("search", "Case-insensitive substring of the name or description"),
                    .integer("limit", "At most this many of the matching models, newest first (absent: all)", in: 1...1000),
                    .integer("offset", "Skip this many of the matching models", in: 0...1_000_000, default: 0),
                ]), use: list)
        // A constant segment outranks `:name` in the router, and "check-name" is reserved as a model name.
        routes.get(
            "/api/registered-models/check-name",
            RouteDoc("Whether a name is valid and taken", query: [.string("name", "The name to check", required: true)]), use: checkName)
        routes.get("/api/registered-models/:name", RouteDoc("A model with its versions and aliases", answer: .json(ModelJSON.self)), use: get)
        routes.patch("/api/registered-models/:name", RouteDoc("Change a model's description or tags", body: UpdateBody.self), use: update)
        routes.get(
            "/api/registered-models/:name/versions", RouteDoc("A model's versions, newest first", answer: .json(VersionListJSON.self)), use: versions)
        routes.get("/api/registered-models/:name/versions/:version", RouteDoc("One version of a model"), use: version)
        routes.put(
            "/api/registered-models/:name/aliases/:alias", RouteDoc("Point an alias (`production`, `staging`, …) at a version", body: AliasBody.self),
            use: setAlias)
        routes.delete("/api/registered-models/:name/aliases/:alias", RouteDoc("Remove an alias", status: .noContent), use: deleteAlias)
        routes.get(
            "/api/training-runs/:run_id/registered-version",
            RouteDoc("The version a run was registered as", details: "404 while the run is not registered.", answer: .json(VersionJSON.self)),
            use: registeredVersion)
        routes.post(
            "/api/training-runs/:run_id/push",
            RouteDoc(
                "Register a completed run that was not registered automatically",
                details: "`force` registers a run that was not blessed.", body: PushBody.self, required: false, status: .created),
            use: push)
        return routes
    }

    // MARK: Models

    struct CreateBody: Decodable {
        let name: String
        let modelType: String
        let description: String?
    }

    @Sendable func create(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<ModelJSON> {
        let body = try await request.decode(as: CreateBody.self, context: context)
        guard let modelType = ModelType(apiName: body.modelType) else {
            throw APIError.invalid("model_type must be one of retrieval, ranking, multitask", field: "model_type")
        }
        let model = RegisteredModelDecider.NewModel(
            name: body.name, modelType: modelType, description: body.description ?? "", createdBy: request.actor)
        try await execute(body.name, .create(model), request)
        return EditedResponse(status: .created, response: try await requireModel(body.name))
    }

    @Sendable func list(_ request: Request, context: SlipwayRequestContext) async throws -> ModelListJSON {
        let query = request.uri.queryParameters
        let filter = try ModelFilter(query)
        let limit = query.get("limit") == nil ? nil : try query.integer("limit", default: 0, in: 1...1000)
        let offset = try query.integer("offset", default: 0, in: 0...1_000_000)
        let models = try await queries.modelSummaries()
        let matching = models.filter(filter.matches)
        let shown = matching.dropFirst(offset).prefix(limit ?? matching.count)
        return ModelListJSON(
            registeredModels: try await queries.models(named: shown.map(\.modelName)), totalMatching: matching.count, kpi: .init(models))
    }

    @Sendable func checkName(_ request: Request, context: SlipwayRequestContext) async throws -> NameCheckJSON {
        guard let name = request.uri.queryParameters.get("name"), !name.isEmpty else {
            throw APIError.badRequest("query parameter 'name' is required", field: "name")
        }
        let problem = RegistryNames.modelNameProblem(name)
        let model = problem == nil ? try await queries.model(name) : nil
        return NameCheckJSON(
            name: name, valid: problem == nil, problem: problem, exists: model != nil, registeredModelID: model?.id,
            hasSchedule: model?.hasSchedule ?? false, scheduleID: model?.scheduleID)
    }

    @Sendable func get(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        let name = try context.parameters.require("name")
        guard let version = try await queries.viewVersion(of: name) else { throw modelNotFound(name) }
        return try await views.rendered("model \(name)", version: version) { try await requireModel(name) }
    }

    struct UpdateBody: Decodable {
        let description: String?
        let tags: [String: String]?
    }

    @Sendable func update(_ request: Request, context: SlipwayRequestContext) async throws -> ModelJSON {
        let name = try context.parameters.require("name")
        let body = try await request.decode(as: UpdateBody.self, context: context)
        try await execute(name, .update(.init(description: body.description, tags: body.tags, updatedBy: request.actor)), request)
        return try await requireModel(name)
    }

    // MARK: Versions

    @Sendable func versions(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        let name = try context.parameters.require("name")
        guard let version = try await queries.viewVersion(of: name) else { throw modelNotFound(name) }
        return try await views.rendered("versions \(name)", version: version) { VersionListJSON(versions: try await queries.versions(of: name)) }
    }

    @Sendable func version(_ request: Request, context: SlipwayRequestContext) async throws -> VersionJSON {
        let name = try context.parameters.require("name")
        let text = try context.parameters.require("version")
        guard let number = RegistryNames.parseVersion(text) else {
            throw APIError.badRequest("version must be a positive number or v<number>, got '\(text)'", field: "version")
        }
        if let version = try await queries.version(of: name, number: number) { return version }
        guard try await queries.modelExists(name) else { throw modelNotFound(name) }
        throw APIError.notFound("registered model '\(name)' has no version \(number)")
    }

    // MARK: Aliases

    struct AliasBody: Decodable {
        let version: Int32
    }

    @Sendable func setAlias(_ request: Request, context: SlipwayRequestContext) async throws -> AliasJSON {
        let name = try context.parameters.require("name")
        let alias = try context.parameters.require("alias")
        let body = try await request.decode(as: AliasBody.self, context: context)
        guard body.version > 0 else { throw APIError.invalid("version must be a positive version number", field: "version") }
        let outcome = try await execute(name, .setAlias(alias: alias, versionNumber: body.version, setBy: request.actor), request)
        let versionID = outcome.state.version(body.version)?.id ?? ""
        return AliasJSON(modelName: name, alias: alias, version: body.version, versionID: versionID)
    }

    @Sendable func deleteAlias(_ request: Request, context: SlipwayRequestContext) async throws -> HTTPResponse.Status {
        let name = try context.parameters.require("name")
        let alias = try context.parameters.require("alias")
        try await execute(name, .deleteAlias(alias: alias, deletedBy: request.actor), request)
        return .noContent
    }

    /// What registry-svc knows first: other services learn a registration from its event, a moment later.
    @Sendable func registeredVersion(_ request: Request, context: SlipwayRequestContext) async throws -> VersionJSON {
        let runID = try context.parameters.require("run_id")
        guard let version = try await queries.version(fromRun: runID) else {
            throw APIError.notFound("training run '\(runID)' has no registered version")
        }
        return version
    }

    // MARK: Push

    struct PushBody: Decodable {
        let force: Bool?
    }

    /// Registers a completed run that was not registered automatically (not blessed, or it asked to
    /// be pushed by hand). The run is known from training-svc's events, projected here.
    @Sendable func push(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<VersionJSON> {
        let runID = try context.parameters.require("run_id")
        let force = try await request.decodeIfPresent(as: PushBody.self, context: context)?.force ?? false
        guard let run = try await queries.trainingRun(runID) else {
            throw APIError.notFound("training run '\(runID)' not found")
        }
        if let existing = try await queries.version(fromRun: runID) { throw alreadyRegistered(runID, existing) }
        switch run.status {
        case .completed, .notBlessed: break
        case .created, .failed, .cancelled:
            throw APIError.conflict("training run '\(runID)' is not completed (\(run.status.rawValue))", details: ["status": run.status.rawValue])
        }
        guard !run.modelName.isEmpty else {
            throw APIError.conflict("training run '\(runID)' names no registered model")
        }
        var completed = run.completedRun
        completed.modelType = TrainingRunsProjection.assumedType(completed.modelType)
        let versionID = UUID.v7().uuidString.lowercased()
        let outcome = try await execute(run.modelName, .registerVersion(completed, versionID: versionID, force: force), request)
        guard let number = outcome.state.version(fromRun: runID)?.number, let version = try await queries.version(of: run.modelName, number: number)
        else {
            throw APIError.conflict("training run '\(runID)' could not be registered; try again")
        }
        // No events: another push or the reactor registered it between our check and the command.
        if outcome.events.isEmpty { throw alreadyRegistered(runID, version) }
        return EditedResponse(status: .created, response: version)
    }

    private func alreadyRegistered(_ runID: String, _ version: VersionJSON) -> APIError {
        APIError.conflict(
            "training run '\(runID)' is already registered as \(version.modelName) \(version.versionLabel)",
            details: ["model_name": version.modelName, "version": "\(version.version)", "version_id": version.id])
    }

    // MARK: Helpers

    @discardableResult
    private func execute(_ name: String, _ command: RegisteredModelDecider.Command, _ request: Request) async throws -> CommandOutcome<
        RegisteredModelDecider
    > {
        do {
            return try await environment.execute(
                RegisteredModelDecider.self, aggregateID: name, command: command, metadata: try request.commandMetadata())
        } catch let rejected as CommandRejected where rejected.kind == .notFound && rejected.field == nil {
            throw modelNotFound(name)
        }
    }

    private func requireModel(_ name: String) async throws -> ModelJSON {
        guard let model = try await queries.model(name) else { throw modelNotFound(name) }
        return model
    }

    private func modelNotFound(_ name: String) -> APIError {
        APIError.notFound("registered model '\(name)' not found")
    }
}

/// The list's query parameters. Empty values mean "all" (what a UI's "All" choice sends); anything
/// else that is not understood is a 400 naming the parameter.
struct ModelFilter: Sendable {
    enum StatusFilter: Sendable {
        case status(ModelJSON.Status)
        /// The filter bar's "Blessed": the latest version passed the blessing threshold.
        case blessed
    }

    var modelType: String?
    var status: StatusFilter?
    var hasSchedule: Bool?
    var search: String?

    init(_ query: Parameters) throws {
        if let type = query.nonEmpty("model_type") {
            guard ModelType(apiName: type) != nil else {
                throw APIError.badRequest("model_type must be one of retrieval, ranking, multitask", field: "model_type")
            }
            modelType = type
        }
        if let text = query.nonEmpty("status") {
            if text == "blessed" {
                status = .blessed
            } else if let known = ModelJSON.Status(rawValue: text) {
                status = .status(known)
            } else {
                let names = ModelJSON.Status.allCases.map(\.rawValue) + ["blessed"]
                throw APIError.badRequest("status must be one of \(names.joined(separator: ", "))", field: "status")
            }
        }
        hasSchedule = try query.boolean("has_schedule")
        search = query.nonEmpty("search")?.lowercased()
    }

    func matches(_ model: ModelJSON) -> Bool {
        if let modelType, model.modelType != modelType { return false }
        switch status {
        case .status(let wanted)?: if model.status != wanted { return false }
        case .blessed?: if !model.blessed { return false }
        case nil: break
        }
        if let hasSchedule, model.hasSchedule != hasSchedule { return false }
        if let search, !model.modelName.lowercased().contains(search) && !model.description.lowercased().contains(search) { return false }
        return true
    }
}
