import Foundation
import Hummingbird
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// Endpoints, deployments, rollback, traffic split and undeploy (the spec's deployment API with
/// Slipway's names), and the routing snapshot serving-router loads. Each handler parses its input, looks
/// up the facts its command needs (a version from `known_versions`, which endpoint a deploy goes to) and
/// executes it; the rules are `EndpointDecider`'s.
struct DeployRoutes: Sendable {
    let environment: ServiceEnvironment
    let settings: DeploySettings
    let queries: DeployQueries

    init(environment: ServiceEnvironment, settings: DeploySettings) {
        self.environment = environment
        self.settings = settings
        self.queries = DeployQueries(environment: environment)
    }

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.get("/api/models/:model/endpoints", RouteDoc("A model's endpoints, by name"), use: listEndpoints)
        routes.get("/api/registered-models/:model/endpoints", RouteDoc("A model's endpoints, by name (the registry's path)"), use: listEndpoints)
        routes.post(
            "/api/models/:model/endpoints",
            RouteDoc(
                "Create an endpoint for a model",
                details: """
                    Without `name` it is `<model>-serving`. `preset` (development, production, high_traffic or custom; default \
                    production) gives the resources the other fields override; `timeout` is `timeout_seconds` spelled as the spec \
                    does. 409 when an endpoint of that name exists.
                    """,
                body: EndpointBody.self, status: .created),
            use: createEndpoint)
        routes.get("/api/endpoints/:name", RouteDoc("An endpoint with its traffic and deployments"), use: getEndpoint)
        routes.patch(
            "/api/endpoints/:name",
            RouteDoc(
                "Change an endpoint's preset, resources or description",
                details: """
                    Absent fields stay as they are. A new `preset` starts from its own resources, which the given fields \
                    override; without one, the given fields change the current resources. `name`, when given, must be the \
                    endpoint's own: endpoints are not renamed.
                    """,
                body: EndpointBody.self),
            use: updateEndpoint)
        routes.delete(
            "/api/endpoints/:name",
            RouteDoc("Delete an endpoint", details: "409 while it serves or a deployment is in progress: undeploy it first.", status: .noContent),
            use: deleteEndpoint)
        routes.post(
            "/api/endpoints/:name/undeploy",
            RouteDoc(
                "Stop an endpoint serving", details: "Its traffic stops and the endpoint stays. 409 when it serves nothing.", body: ReasonBody.self,
                required: false),
            use: undeployEndpoint)
        routes.post(
            "/api/models/:model/undeploy",
            RouteDoc(
                "Stop every endpoint of a model serving",
                details: "Each endpoint that serves or is being deployed to; the answer names them (none: an empty list).", body: ReasonBody.self,
                required: false),
            use: undeployModel)
        routes.post(
            "/api/endpoints/:name/traffic",
            RouteDoc(
                "Split an endpoint's traffic between its deployments",
                details: """
                    `traffic` maps a deployment (its id, or `vN` for the newest deployment of version N) to a percent; the \
                    percents sum to 100. 409 while a deployment is in progress, or when a deployment given traffic has no running \
                    revision.
                    """,
                body: TrafficBody.self),
            use: setTraffic)
        routes.post(
            "/api/endpoints/:name/rollback",
            RouteDoc(
                "Roll an endpoint back to an earlier deployment",
                details: """
                    To `to_deployment` (an id or `vN`) or `to_version`; by default to the deployment that served before. While \
                    the target's revision runs the traffic moves back at once: 200 with the endpoint (`instant: true`). \
                    Otherwise its version is deployed again: 202 with that deployment (`instant: false` and a `message`). 409 \
                    when there is nothing earlier, or the target is what serves now.
                    """,
                body: RollbackBody.self, required: false),
            use: rollbackEndpoint)
        routes.get("/api/models/:model/deployments", RouteDoc("A model's deployments, newest first"), use: listDeployments)
        routes.post(
            "/api/models/:model/deployments",
            RouteDoc(
                "Deploy a version of a model",
                details: """
                    To `endpoint`; without it to `<model>-serving` when that exists, else to the model's only endpoint, else to a \
                    new `<model>-serving`, created with the body's preset and resources (they are ignored for an endpoint that \
                    exists). `strategy` is `immediate` or `gradual` (default: gradual when `steps` are given); a gradual rollout \
                    moves traffic in `steps` (percents, default 10, 50, 100) while its gates hold, and needs a version already \
                    serving. `on_inconclusive` is `fail` (default) or `hold`. 409 when the version is not blessed or already \
                    serves (pass `force`), or another deployment is in progress.
                    """,
                body: DeployBody.self, status: .accepted),
            use: deploy)
        // The spec's "deploy this training run" (deploy-cloud-run): the version the run registered.
        routes.post(
            "/api/training-runs/:run/deploy",
            RouteDoc(
                "Deploy the version a training run registered",
                details: """
                    The body is `POST /api/models/{model}/deployments`'s, whose `version` is replaced by the run's. 404 when the \
                    run registered no version.
                    """,
                body: DeployBody.self, required: false, status: .accepted),
            use: deployRun)
        routes.post(
            "/api/training-runs/:run/deploy-cloud-run",
            RouteDoc(
                "Deploy the version a training run registered (the spec's path)",
                details: "The same as `POST /api/training-runs/{run}/deploy`.", body: DeployBody.self, required: false, status: .accepted),
            use: deployRun)
        routes.get("/api/deployments/:id", RouteDoc("A deployment with its revision"), use: getDeployment)
        routes.post(
            "/api/deployments/:id/rollback",
            RouteDoc(
                "Roll the deployment's endpoint back to it",
                details: """
                    While its revision runs the traffic moves back at once: 200 with the endpoint (`instant: true`). Otherwise \
                    its version is deployed again: 202 with that deployment (`instant: false` and a `message`). 409 when it is \
                    what the endpoint serves now.
                    """,
                body: ReasonBody.self, required: false),
            use: rollbackDeployment)
        // What serving-router loads at start and every resync; `version` lets it keep whichever is newer of
        // this snapshot and the events it already applied.
        routes.get("/internal/routing", use: routing)
        return routes
    }

    // MARK: Bodies

    /// The resource fields a body may override a preset with (creating or changing an endpoint, or deploying
    /// onto a new one).
    protocol ResourceOverrides {
        var minInstances: Int32? { get }
        var maxInstances: Int32? { get }
        var memory: String? { get }
        var cpu: String? { get }
        var timeoutSeconds: Int32? { get }
        /// The spec's name for `timeout_seconds`.
        var timeout: Int32? { get }
        var maxBatchSize: Int32? { get }
    }

    struct EndpointBody: Decodable, ResourceOverrides {
        var name: String?
        var preset: String?
        var description: String?
        var minInstances: Int32?
        var maxInstances: Int32?
        var memory: String?
        var cpu: String?
        var timeoutSeconds: Int32?
        var timeout: Int32?
        var maxBatchSize: Int32?
    }

    struct DeployBody: Decodable, ResourceOverrides {
        var version: Int32?
        var endpoint: String?
        var preset: String?
        var description: String?
        var minInstances: Int32?
        var maxInstances: Int32?
        var memory: String?
        var cpu: String?
        var timeoutSeconds: Int32?
        var timeout: Int32?
        var maxBatchSize: Int32?
        var strategy: String?
        var steps: [Int32]?
        var stepSeconds: Int32?
        var minRequests: Int64?
        var maxErrorRate: Double?
        var maxP99Ms: Double?
        /// A gradual rollout rolls back at once when an alert fires on the endpoint.
        var rollbackOnAlert: Bool?
        /// `fail` (default) or `hold`: what a step still unjudgeable at its deadline does.
        var onInconclusive: String?
        /// The first step waits for testing-svc's endpoint test of the new revision; a failed test rolls back.
        var endpointTest: Bool?
        var force: Bool?
        var reason: String?
        var sourceRunId: String?
    }

    struct RollbackBody: Decodable {
        var toVersion: Int32?
        var toDeployment: String?
        var reason: String?
    }

    struct TrafficBody: Decodable {
        /// `vN` or a deployment id → percent.
        var traffic: [String: Int32]
    }

    struct ReasonBody: Decodable {
        var reason: String?
    }

    // MARK: Endpoints

    @Sendable func listEndpoints(_ request: Request, context: SlipwayRequestContext) async throws -> EndpointListJSON {
        let model = try await queries.knownModel(try context.parameters.require("model"))
        return EndpointListJSON(endpoints: try await queries.endpoints(model: model))
    }

    @Sendable func createEndpoint(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<EndpointJSON> {
        let model = try await queries.knownModel(try context.parameters.require("model"))
        let body = try await request.decode(as: EndpointBody.self, context: context)
        let name = body.name ?? EndpointName.suggested(forModel: model)
        let endpoint = newEndpoint(
            name, model: model, preset: body.preset, overrides: body.overrides, description: body.description, createdBy: request.actor)
        try await execute(name, .create(endpoint), request)
        return EditedResponse(status: .created, response: try await queries.endpoint(name))
    }

    @Sendable func getEndpoint(_ request: Request, context: SlipwayRequestContext) async throws -> EndpointJSON {
        try await queries.endpoint(try context.parameters.require("name"))
    }

    @Sendable func updateEndpoint(_ request: Request, context: SlipwayRequestContext) async throws -> EndpointJSON {
        let name = try context.parameters.require("name")
        try await queries.requireEndpoint(name)
        let body = try await request.decode(as: EndpointBody.self, context: context)
        let change = EndpointDecider.EndpointChange(
            name: body.name, preset: body.preset, overrides: body.overrides, description: body.description, updatedBy: request.actor)
        try await execute(name, .update(change), request)
        return try await queries.endpoint(name)
    }

    @Sendable func deleteEndpoint(_ request: Request, context: SlipwayRequestContext) async throws -> HTTPResponse.Status {
        let name = try context.parameters.require("name")
        try await queries.requireEndpoint(name)
        try await execute(name, .delete(actor: request.actor), request)
        return .noContent
    }

    @Sendable func undeployEndpoint(_ request: Request, context: SlipwayRequestContext) async throws -> EndpointJSON {
        let name = try context.parameters.require("name")
        try await queries.requireEndpoint(name)
        let body = try await request.decodeIfPresent(as: ReasonBody.self, context: context)
        try await execute(name, .undeploy(reason: body?.reason ?? "", actor: request.actor), request)
        return try await queries.endpoint(name)
    }

    /// Undeploys every endpoint of the model that serves or is being deployed to.
    @Sendable func undeployModel(_ request: Request, context: SlipwayRequestContext) async throws -> ModelUndeployedJSON {
        let model = try await queries.knownModel(try context.parameters.require("model"))
        let body = try await request.decodeIfPresent(as: ReasonBody.self, context: context)
        var undeployed: [String] = []
        for name in try await queries.servingEndpoints(model: model) {
            try await execute(name, .undeploy(reason: body?.reason ?? "", actor: request.actor), request)
            undeployed.append(name)
        }
        return ModelUndeployedJSON(model: model, undeployedEndpoints: undeployed)
    }

    @Sendable func setTraffic(_ request: Request, context: SlipwayRequestContext) async throws -> EndpointJSON {
        let name = try context.parameters.require("name")
        try await queries.requireEndpoint(name)
        let body = try await request.decode(as: TrafficBody.self, context: context)
        try await execute(name, .setTraffic(split: body.traffic, actor: request.actor), request)
        return try await queries.endpoint(name)
    }

    // MARK: Rollback

    /// Back to a version (`to_version`) or deployment (`to_deployment`, an id or `vN`); by default to the
    /// deployment that served before.
    @Sendable func rollbackEndpoint(_ request: Request, context: SlipwayRequestContext) async throws -> RollbackAnswer {
        let name = try context.parameters.require("name")
        try await queries.requireEndpoint(name)
        let body = try await request.decodeIfPresent(as: RollbackBody.self, context: context)
        var target: DeploymentReference?
        if let deployment = body?.toDeployment {
            target = DeploymentReference(deployment, field: "to_deployment")
        } else if let version = body?.toVersion {
            target = DeploymentReference("v\(version)", field: "to_version")
        }
        return try await rollback(name, EndpointDecider.Rollback(to: target, reason: body?.reason ?? "", actor: request.actor), request)
    }

    @Sendable func rollbackDeployment(_ request: Request, context: SlipwayRequestContext) async throws -> RollbackAnswer {
        let deployment = try await queries.deployment(try context.parameters.require("id"))
        let body = try await request.decodeIfPresent(as: ReasonBody.self, context: context)
        let rollback = EndpointDecider.Rollback(to: .id(deployment.id, field: "id"), reason: body?.reason ?? "", actor: request.actor)
        return try await self.rollback(deployment.endpoint, rollback, request)
    }

    /// A rollback's answer: the endpoint (`instant: true`) when the traffic moved back at once; otherwise 202
    /// with the deployment that starts the version again (`instant: false` and why).
    enum RollbackAnswer: ResponseGenerator {
        case instant(EndpointJSON)
        case redeploying(DeploymentJSON)

        func response(from request: Request, context: some RequestContext) throws -> Response {
            switch self {
            case .instant(let endpoint): try endpoint.response(from: request, context: context)
            case .redeploying(let deployment): try EditedResponse(status: .accepted, response: deployment).response(from: request, context: context)
            }
        }
    }

    func rollback(_ endpoint: String, _ rollback: EndpointDecider.Rollback, _ request: Request) async throws -> RollbackAnswer {
        let outcome = try await execute(endpoint, .rollback(rollback), request)
        for event in try Self.events(outcome) {
            guard case .deploymentRequested(let requested) = event else { continue }
            var deployment = try await queries.deployment(requested.deploymentID)
            deployment.instant = false
            deployment.message = "v\(requested.versionNumber) was no longer running, so it is being deployed again"
            return .redeploying(deployment)
        }
        var view = try await queries.endpoint(endpoint)
        view.instant = true
        return .instant(view)
    }

    // MARK: Deployments

    @Sendable func listDeployments(_ request: Request, context: SlipwayRequestContext) async throws -> DeploymentListJSON {
        let model = try await queries.knownModel(try context.parameters.require("model"))
        return DeploymentListJSON(deployments: try await queries.deployments(model: model))
    }

    @Sendable func deploy(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<DeploymentJSON> {
        let name = try context.parameters.require("model")
        let body = try await request.decode(as: DeployBody.self, context: context)
        let model = try await queries.knownModel(name, version: body.version)
        let id = try await deploy(model: model, body, request)
        return EditedResponse(status: .accepted, response: try await queries.deployment(id))
    }

    @Sendable func deployRun(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<DeploymentJSON> {
        let run = try context.parameters.require("run")
        guard let (model, number) = try await queries.version(ofRun: run) else {
            throw APIError.notFound("training run '\(run)' has no registered version (it must be completed, blessed and registered)")
        }
        var body = try await request.decodeIfPresent(as: DeployBody.self, context: context) ?? DeployBody()
        body.version = number
        let id = try await deploy(model: model, body, request)
        return EditedResponse(status: .accepted, response: try await queries.deployment(id))
    }

    @Sendable func getDeployment(_ request: Request, context: SlipwayRequestContext) async throws -> DeploymentJSON {
        try await queries.deployment(try context.parameters.require("id"))
    }

    /// `on_inconclusive`: nil when absent, else whether a step holds.
    static func holds(_ text: String?) throws -> Bool? {
        switch text {
        case nil: nil
        case "fail": false
        case "hold": true
        default: throw APIError.invalid("on_inconclusive is fail or hold", field: "on_inconclusive")
        }
    }

    /// The new deployment's id.
    func deploy(model: String, _ body: DeployBody, _ request: Request) async throws -> String {
        guard let number = body.version else { throw APIError.badRequest("missing field 'version'", field: "version") }
        guard let version = try await queries.registeredVersion(model: model, number: number) else {
            throw APIError.invalid("model '\(model)' has no version \(number)", field: "version")
        }
        let name = try await queries.deployTarget(model: model, requested: body.endpoint)
        let deploy = EndpointDecider.DeployRequest(
            endpoint: newEndpoint(
                name, model: model, preset: body.preset, overrides: body.overrides, description: body.description, createdBy: request.actor),
            version: version, strategy: body.strategy,
            rollout: .init(
                steps: body.steps, stepSeconds: body.stepSeconds, minRequests: body.minRequests, maxErrorRate: body.maxErrorRate,
                maxP99Ms: body.maxP99Ms, rollbackOnAlert: body.rollbackOnAlert, holdWhenInconclusive: try Self.holds(body.onInconclusive),
                endpointTest: body.endpointTest),
            force: body.force ?? false, reason: body.reason ?? "", sourceRunID: body.sourceRunId, requestedBy: request.actor)
        let outcome = try await execute(name, .deploy(deploy), request)
        return try DeployRoutes.requestedDeploymentID(outcome)
    }

    /// The deployment a `.deploy` command requested.
    static func requestedDeploymentID(_ outcome: CommandOutcome<EndpointDecider>) throws -> String {
        for event in try events(outcome) {
            if case .deploymentRequested(let requested) = event { return requested.deploymentID }
        }
        throw APIError.conflict("the deployment was not requested; try again")
    }

    static func events(_ outcome: CommandOutcome<EndpointDecider>) throws -> [DeployEvent] {
        try outcome.events.map { try DeployEvent.decode(eventType: $0.eventType, payload: $0.payload) }
    }

    @Sendable func routing(_ request: Request, context: SlipwayRequestContext) async throws -> RoutingSnapshotJSON {
        try await queries.routingSnapshot()
    }

    // MARK: Helpers

    func newEndpoint(
        _ name: String, model: String, preset: String?, overrides: ServingPresets.Overrides,
        description: String?, createdBy: String
    ) -> EndpointDecider.NewEndpoint {
        EndpointDecider.NewEndpoint(
            name: name, model: model, preset: preset, overrides: overrides, description: description ?? "",
            url: settings.endpointURL(name), createdBy: createdBy)
    }

    @discardableResult
    func execute(_ name: String, _ command: EndpointDecider.Command, _ request: Request) async throws -> CommandOutcome<EndpointDecider> {
        do {
            return try await environment.execute(EndpointDecider.self, aggregateID: name, command: command, metadata: try request.commandMetadata())
        } catch let rejected as CommandRejected where rejected.kind == .notFound && rejected.field == nil {
            throw APIError.notFound("no endpoint '\(name)'")
        }
    }
}

extension DeployRoutes.ResourceOverrides {
    var overrides: ServingPresets.Overrides {
        var overrides = ServingPresets.Overrides()
        overrides.minInstances = minInstances
        overrides.maxInstances = maxInstances
        overrides.memory = memory
        overrides.cpu = cpu
        overrides.timeoutSeconds = timeoutSeconds ?? timeout
        overrides.maxBatchSize = maxBatchSize
        return overrides
    }
}

extension DeployRoutes.RollbackAnswer: DescribedAnswer {
    /// The endpoint (200), or the deployment that starts the version again (202).
    static var answerDoc: AnswerDoc? {
        AnswerDoc(schema: ["anyOf": [AnswerDoc.json(EndpointJSON.self).schema, AnswerDoc.json(DeploymentJSON.self).schema]])
    }
}
