import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// The specification's deployment API as written (`/api/v1/deployment/…`, deploy-monitor-improve-api.md), on
/// deploy-svc's own commands and read model: the same deciders and answers as `/api/models/{m}/deployments` and
/// `/api/endpoints/…`, with the spec's paths, parameters and envelopes. Its cloud terms map onto Slipway's:
/// `workload_size` Small / Medium / Large is at most 4 / 16 / 64 instances, `scale_to_zero` a minimum of 0.
struct DeploymentV1Routes: Sendable {
    let deploy: DeployRoutes
    var queries: DeployQueries { deploy.queries }
    var environment: ServiceEnvironment { deploy.environment }

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.get(
            "/api/v1/deployment/models", RouteDoc("Registered models with their latest version and the endpoints serving them"), use: models)
        routes.get(
            "/api/v1/deployment/models/:model/versions",
            RouteDoc("A model's versions, newest first, with their share of each endpoint's traffic"), use: versions)
        routes.get(
            "/api/v1/deployment/models/:model/deployments", RouteDoc("The endpoints serving a model or being deployed to"), use: modelEndpoints)
        routes.get("/api/v1/deployment/endpoints", RouteDoc("Every endpoint, by name"), use: endpoints)
        routes.get("/api/v1/deployment/endpoints/:name", RouteDoc("An endpoint with its traffic and deployments"), use: endpoint)
        routes.put(
            "/api/v1/deployment/endpoints/:name",
            RouteDoc(
                "Move an endpoint to another version of its model",
                details: """
                    Deploys as `POST /api/v1/deployment/deploy` does, with the parameters in the query; takes no body. \
                    `workload_size` and `scale_to_zero` are checked, but the endpoint exists, so it keeps its resources.
                    """,
                query: [
                    .string("model_version", "The version to deploy (`3` or `v3`)", required: true),
                    .string("workload_size", "Small, Medium or Large (any case)"),
                    .boolean("scale_to_zero", "Whether the endpoint may scale to zero instances"),
                ], status: .accepted),
            use: update)
        routes.delete(
            "/api/v1/deployment/endpoints/:name", RouteDoc("Delete an endpoint, undeploying it first if it serves"), use: delete)
        routes.post(
            "/api/v1/deployment/deploy",
            RouteDoc(
                "Deploy a version of a model",
                details: """
                    `model_version` is a number or a string (`"3"`, `"v3"`). Without `endpoint_name` the version goes where \
                    `POST /api/models/{model}/deployments` sends it. An endpoint the deploy creates gets at most 4, 16 or 64 \
                    instances for `workload_size` Small, Medium or Large (any case), and a minimum of 0 instances with \
                    `scale_to_zero` (false: 1); an endpoint that exists keeps its resources. `environment_vars` are refused: a \
                    model-server is configured by its bundle. 409 when the version is not blessed or already serves, or \
                    another deployment is in progress.
                    """,
                body: DeployBody.self, status: .accepted),
            use: deployVersion)
        routes.post(
            "/api/v1/deployment/endpoints/:name/query",
            RouteDoc(
                "Ask an endpoint for a prediction (the playground)",
                details: """
                    The body is `{"inputs": {"customer_id": "…", "top_k": …, …features}}` (read as raw JSON); the endpoint's main \
                    revision answers `{"endpoint_name", "model_version", "predictions"}`, `predictions` being its model-server's \
                    answer. No API key is needed and the request is left out of the serving figures. A model-server's refusal \
                    comes back with its status; 409 when the endpoint serves nothing, 502 when its model-server does not answer.
                    """,
                answer: AnswerDoc(
                    schema: [
                        "type": "object", "title": "PredictionJSON", "required": ["endpoint_name", "model_version", "predictions"],
                        "properties": [
                            "endpoint_name": ["type": "string"], "model_version": ["type": "integer"],
                            "predictions": ["description": "The model-server's answer"],
                        ],
                    ])),
            use: query)
        routes.post(
            "/api/v1/deployment/endpoints/:name/rollback",
            RouteDoc(
                "Roll an endpoint back to an earlier version",
                details: """
                    Takes no body. `status` is `rolled_back` when the traffic moved back at once, `redeploying` when the \
                    version's revision had stopped and the version is being deployed again. 409 when there is nothing earlier, \
                    or the target is what serves now.
                    """,
                query: [.string("target_version", "The version to return to (`2` or `v2`); default: the deployment that served before")]),
            use: rollback)
        routes.get(
            "/api/v1/deployment/endpoints/:name/history",
            RouteDoc(
                "An endpoint's latest deployments, oldest first", query: [.integer("limit", "How many deployments", in: 1...100, default: 10)]),
            use: history)
        routes.post(
            "/api/v1/deployment/endpoints/:name/validate",
            RouteDoc(
                "Check that an endpoint serves soundly, changing nothing",
                details: """
                    Takes no body. The checks: some deployment has traffic, the traffic adds up to 100, every version with \
                    traffic is blessed (or was deployed with `force`), and each revision with traffic answers `/health`; `valid` \
                    when all pass.
                    """),
            use: validate)
        routes.get(
            "/api/v1/deployment/deployments",
            RouteDoc(
                "Every deployment, newest first, a page at a time",
                query: [
                    .string("status", "Only deployments with this status (empty: all)", oneOf: [""] + Self.deploymentStatuses),
                    .integer("page", "The page, from 1", in: 1...1_000_000, default: 1),
                    .integer("page_size", "Deployments per page", in: 1...100, default: 20),
                ]),
            use: deployments)
        return routes
    }

    // MARK: Models

    struct ModelJSON: Codable, Sendable {
        var name: String
        @Nullable var latestVersion: Int?
        var versionCount: Int
        /// Endpoints with traffic on one of its versions.
        var servingEndpoints: [String]
    }

    struct ModelListJSON: ResponseEncodable, Decodable, Sendable {
        var models: [ModelJSON]
    }

    @Sendable func models(_ request: Request, context: SlipwayRequestContext) async throws -> ModelListJSON {
        var models: [ModelJSON] = []
        for name in try await queries.knownModels() {
            let versions = try await queries.knownVersions(model: name)
            models.append(
                ModelJSON(
                    name: name, latestVersion: versions.first.map { Int($0.number) }, versionCount: versions.count,
                    servingEndpoints: try await queries.servingEndpoints(model: name)))
        }
        return ModelListJSON(models: models)
    }

    struct VersionJSON: Codable, Sendable {
        var version: Int
        var versionId: String
        var blessed: Bool
        var metrics: [String: Double]
        var sourceRunId: String
        /// Endpoint → percent of its traffic this version has now.
        var traffic: [String: Int]
    }

    struct VersionListJSON: ResponseEncodable, Decodable, Sendable {
        var modelName: String
        var versions: [VersionJSON]
    }

    @Sendable func versions(_ request: Request, context: SlipwayRequestContext) async throws -> VersionListJSON {
        let model = try await queries.knownModel(try context.parameters.require("model"))
        var traffic: [Int: [String: Int]] = [:]
        for endpoint in try await queries.endpoints(model: model) {
            for share in endpoint.traffic { traffic[share.version, default: [:]][endpoint.name, default: 0] += share.percent }
        }
        let versions = try await queries.knownVersions(model: model).map { version in
            VersionJSON(
                version: Int(version.number), versionId: version.id, blessed: version.blessed, metrics: version.metrics,
                sourceRunId: version.sourceRunID, traffic: traffic[Int(version.number)] ?? [:])
        }
        return VersionListJSON(modelName: model, versions: versions)
    }

    struct ModelEndpointsJSON: ResponseEncodable, Decodable, Sendable {
        var modelName: String
        var endpoints: [EndpointJSON]
    }

    /// The endpoints serving the model (or being deployed to).
    @Sendable func modelEndpoints(_ request: Request, context: SlipwayRequestContext) async throws -> ModelEndpointsJSON {
        let model = try await queries.knownModel(try context.parameters.require("model"))
        return ModelEndpointsJSON(modelName: model, endpoints: try await queries.endpoints(model: model).filter { $0.status != .notServing })
    }

    // MARK: Endpoints

    @Sendable func endpoints(_ request: Request, context: SlipwayRequestContext) async throws -> EndpointListJSON {
        EndpointListJSON(endpoints: try await queries.endpoints(model: nil))
    }

    @Sendable func endpoint(_ request: Request, context: SlipwayRequestContext) async throws -> EndpointJSON {
        try await queries.endpoint(try context.parameters.require("name"))
    }

    struct DeletedJSON: ResponseEncodable, Decodable, Sendable {
        var endpointName: String
        var deleted: Bool
    }

    /// The spec deletes in one call: an endpoint that still serves is undeployed first, in the same command.
    @Sendable func delete(_ request: Request, context: SlipwayRequestContext) async throws -> DeletedJSON {
        let name = try context.parameters.require("name")
        try await queries.requireEndpoint(name)
        try await deploy.execute(name, .undeployAndDelete(actor: request.actor), request)
        return DeletedJSON(endpointName: name, deleted: true)
    }

    // MARK: Deploy and update

    /// `"1"`, `"v1"` or `1`: the spec sends versions as strings.
    struct VersionNumber: Decodable, Sendable {
        var value: Int32

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Int32.self) {
                value = number
                return
            }
            let text = try container.decode(String.self)
            guard let number = Self.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a version number such as \"3\", got '\(text)'")
            }
            value = number
        }

        static func parse(_ text: String) -> Int32? {
            let digits = text.hasPrefix("v") ? text.dropFirst() : Substring(text)
            guard let number = Int32(digits), number > 0 else { return nil }
            return number
        }
    }

    struct DeployBody: Decodable {
        var modelName: String
        var modelVersion: VersionNumber
        var endpointName: String?
        var workloadSize: String?
        var scaleToZero: Bool?
        var environmentVars: [String: String]?
    }

    /// Small / Medium / Large → at most 4 / 16 / 64 instances (the spec's concurrency tiers), on the production preset.
    static func overrides(workloadSize: String?, scaleToZero: Bool?) throws -> ServingPresets.Overrides {
        var overrides = ServingPresets.Overrides()
        switch workloadSize?.lowercased() {
        case nil: break
        case "small": overrides.maxInstances = 4
        case "medium": overrides.maxInstances = 16
        case "large": overrides.maxInstances = 64
        default: throw APIError.invalid("workload_size is Small, Medium or Large", field: "workload_size")
        }
        if let scaleToZero { overrides.minInstances = scaleToZero ? 0 : 1 }
        return overrides
    }

    struct DeployedJSON: ResponseEncodable, Decodable, Sendable {
        var deploymentId: String
        var endpointName: String
        var modelName: String
        var modelVersion: Int
        var status: String
        @Nullable var previousVersion: Int?
        var deployment: DeploymentJSON
    }

    @Sendable func deployVersion(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<DeployedJSON> {
        let body = try await request.decode(as: DeployBody.self, context: context)
        if let variables = body.environmentVars, !variables.isEmpty {
            throw APIError.invalid("environment_vars are not supported: a model-server is configured by its bundle", field: "environment_vars")
        }
        let model = try await queries.knownModel(body.modelName, version: body.modelVersion.value)
        var previous: Int?
        if let name = body.endpointName { previous = try await servingVersion(name) }
        let answer = try await deploy(
            model: model, version: body.modelVersion.value, endpoint: body.endpointName,
            overrides: try Self.overrides(workloadSize: body.workloadSize, scaleToZero: body.scaleToZero), previous: previous, request)
        return EditedResponse(status: .accepted, response: answer)
    }

    /// `PUT …/endpoints/{name}?model_version=N[&workload_size=][&scale_to_zero=]`: the endpoint moves to another version.
    @Sendable func update(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<DeployedJSON> {
        let name = try context.parameters.require("name")
        let endpoint = try await queries.endpoint(name)
        let parameters = request.uri.queryParameters
        guard let text = parameters.nonEmpty("model_version") else {
            throw APIError.badRequest("model_version is required", field: "model_version")
        }
        guard let version = VersionNumber.parse(text) else {
            throw APIError.badRequest("model_version must be a version number such as 3", field: "model_version")
        }
        let overrides = try Self.overrides(workloadSize: parameters.nonEmpty("workload_size"), scaleToZero: try parameters.boolean("scale_to_zero"))
        let answer = try await deploy(
            model: endpoint.modelName, version: version, endpoint: name, overrides: overrides, previous: try await servingVersion(name), request)
        return EditedResponse(status: .accepted, response: answer)
    }

    private func deploy(
        model: String, version: Int32, endpoint: String?, overrides: ServingPresets.Overrides, previous: Int?, _ request: Request
    ) async throws -> DeployedJSON {
        var body = DeployRoutes.DeployBody()
        body.version = version
        body.endpoint = endpoint
        (body.minInstances, body.maxInstances) = (overrides.minInstances, overrides.maxInstances)
        let id = try await deploy.deploy(model: model, body, request)
        let deployment = try await queries.deployment(id)
        return DeployedJSON(
            deploymentId: id, endpointName: deployment.endpoint, modelName: model, modelVersion: deployment.version, status: deployment.status,
            previousVersion: previous, deployment: deployment)
    }

    /// The version with most of the endpoint's traffic now, if it serves.
    private func servingVersion(_ endpoint: String) async throws -> Int? {
        guard try await queries.endpointExists(endpoint) else { return nil }
        return try await queries.endpoint(endpoint).traffic.max { $0.percent < $1.percent }?.version
    }

    // MARK: Rollback and history

    struct RolledBackJSON: ResponseEncodable, Decodable, Sendable {
        var endpointName: String
        /// `rolled_back` (traffic moved back at once) or `redeploying` (the version's revision had stopped).
        var status: String
        @Nullable var previousVersion: Int?
        @Nullable var targetVersion: Int?
        var instant: Bool
        @Nullable var deploymentId: String?
    }

    /// `?target_version=N`; without it, back to the deployment that served before (the decider's default).
    @Sendable func rollback(_ request: Request, context: SlipwayRequestContext) async throws -> RolledBackJSON {
        let name = try context.parameters.require("name")
        try await queries.requireEndpoint(name)
        var target: DeploymentReference?
        if let text = request.uri.queryParameters.nonEmpty("target_version") {
            guard let version = VersionNumber.parse(text) else {
                throw APIError.badRequest("target_version must be a version number such as 2", field: "target_version")
            }
            target = DeploymentReference("v\(version)", field: "target_version")
        }
        let previous = try await servingVersion(name)
        switch try await deploy.rollback(name, EndpointDecider.Rollback(to: target, reason: "", actor: request.actor), request) {
        case .instant(let endpoint):
            return RolledBackJSON(
                endpointName: name, status: "rolled_back", previousVersion: previous,
                targetVersion: endpoint.traffic.max { $0.percent < $1.percent }?.version, instant: true, deploymentId: endpoint.activeDeploymentID)
        case .redeploying(let deployment):
            return RolledBackJSON(
                endpointName: name, status: "redeploying", previousVersion: previous, targetVersion: deployment.version, instant: false,
                deploymentId: deployment.id)
        }
    }

    struct HistoryJSON: ResponseEncodable, Decodable, Sendable {
        var endpointName: String
        /// Oldest first: the `limit` latest deployments in the order they happened.
        var history: [DeploymentJSON]
    }

    @Sendable func history(_ request: Request, context: SlipwayRequestContext) async throws -> HistoryJSON {
        let name = try context.parameters.require("name")
        try await queries.requireEndpoint(name)
        let limit = try request.uri.queryParameters.integer("limit", default: 10, in: 1...100)
        return HistoryJSON(endpointName: name, history: try await queries.deployments(endpoint: name, limit: limit).reversed())
    }

    // MARK: Deployments

    struct DeploymentPageJSON: ResponseEncodable, Decodable, Sendable {
        var deployments: [DeploymentJSON]
        var total: Int
        var page: Int
        var pageSize: Int
        var totalPages: Int
    }

    static let deploymentStatuses = ["requested", "deploying", "rolling_out", "active", "inactive", "failed", "rolled_back", "undeployed"]

    @Sendable func deployments(_ request: Request, context: SlipwayRequestContext) async throws -> DeploymentPageJSON {
        let parameters = request.uri.queryParameters
        let status = parameters.nonEmpty("status")
        if let status, !Self.deploymentStatuses.contains(status) {
            throw APIError.badRequest("status is one of \(Self.deploymentStatuses.joined(separator: ", "))", field: "status")
        }
        let page = try parameters.integer("page", default: 1, in: 1...1_000_000)
        let pageSize = try parameters.integer("page_size", default: 20, in: 1...100)
        let total = try await queries.deploymentCount(status: status)
        let items = try await queries.deployments(status: status, limit: pageSize, offset: (page - 1) * pageSize)
        return DeploymentPageJSON(
            deployments: items, total: total, page: page, pageSize: pageSize, totalPages: (total + pageSize - 1) / pageSize)
    }

    // MARK: Validate and query

    struct CheckJSON: Codable, Sendable {
        var name: String
        var passed: Bool
        var detail: String
    }

    struct ValidationJSON: ResponseEncodable, Decodable, Sendable {
        var endpointName: String
        var valid: Bool
        var checks: [CheckJSON]
    }

    /// Checks, writing nothing: the endpoint serves, its traffic adds up to 100, every version with traffic is blessed
    /// (or was forced), and every revision with traffic answers `/health`.
    @Sendable func validate(_ request: Request, context: SlipwayRequestContext) async throws -> ValidationJSON {
        let endpoint = try await queries.endpoint(try context.parameters.require("name"))
        var checks: [CheckJSON] = []
        let serving = endpoint.deployments.filter { $0.trafficPercent > 0 }
        checks.append(
            CheckJSON(
                name: "serving", passed: !serving.isEmpty,
                detail: serving.isEmpty ? "no deployment has traffic" : serving.map { "v\($0.version) \($0.trafficPercent)%" }.joined(separator: ", ")
            ))
        let total = serving.reduce(0) { $0 + $1.trafficPercent }
        checks.append(CheckJSON(name: "traffic_total", passed: total == 100, detail: "\(total)%"))
        for deployment in serving {
            let blessed = try await queries.knownVersion(model: deployment.modelName, number: Int32(deployment.version))?.blessed ?? false
            checks.append(
                CheckJSON(
                    name: "blessed_v\(deployment.version)", passed: blessed || deployment.force,
                    detail: blessed ? "blessed" : deployment.force ? "not blessed; deployed with force" : "not blessed"))
            checks.append(try await healthCheck(deployment))
        }
        return ValidationJSON(endpointName: endpoint.name, valid: checks.allSatisfy(\.passed), checks: checks)
    }

    private func healthCheck(_ deployment: DeploymentJSON) async throws -> CheckJSON {
        let name = "health_v\(deployment.version)"
        guard let address = deployment.revision?.address else { return CheckJSON(name: name, passed: false, detail: "the revision has no address") }
        do {
            let answer = try await environment.httpClient.execute(HTTPClientRequest(url: "\(address)/health"), timeout: .seconds(2))
            _ = try await answer.body.collect(upTo: 1 << 20)
            return CheckJSON(name: name, passed: answer.status == .ok, detail: "\(address)/health answered \(answer.status.code)")
        } catch {
            return CheckJSON(name: name, passed: false, detail: "\(address)/health did not answer")
        }
    }

    /// The playground: the prediction the endpoint's main revision gives to `{"inputs": {"customer_id", "top_k"?, …features}}`,
    /// for a caller the gateway authenticated (no API key; not counted in the endpoint's serving figures, since it does not
    /// pass serving-router). Answers `{"endpoint_name", "model_version", "predictions": <the model-server's answer>}`.
    @Sendable func query(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        let endpoint = try await queries.endpoint(try context.parameters.require("name"))
        let bytes = try await request.body.collect(upTo: context.maxUploadSize)
        guard let body = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] else {
            throw APIError.badRequest("the body must be a JSON object with 'inputs'")
        }
        guard let inputs = body["inputs"] as? [String: Any] else { throw APIError.badRequest("inputs must be an object", field: "inputs") }
        guard let customer = inputs["customer_id"] as? String, !customer.isEmpty else {
            throw APIError.badRequest("inputs.customer_id is required (a string)", field: "inputs.customer_id")
        }
        guard let main = endpoint.deployments.filter({ $0.trafficPercent > 0 }).max(by: { $0.trafficPercent < $1.trafficPercent }),
            let address = main.revision?.address
        else { throw APIError.conflict("endpoint '\(endpoint.name)' is not serving") }
        var prediction: [String: Any] = ["customer_id": customer]
        if let topK = inputs["top_k"] { prediction["top_k"] = topK }
        let features = inputs.filter { $0.key != "customer_id" && $0.key != "top_k" }
        if !features.isEmpty { prediction["features"] = features }
        var upstream = HTTPClientRequest(url: "\(address)/recommend")
        upstream.method = .POST
        upstream.headers.add(name: "Content-Type", value: "application/json")
        upstream.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: prediction)))
        let answer: HTTPClientResponse
        do {
            answer = try await environment.httpClient.execute(upstream, timeout: .seconds(10))
        } catch {
            throw APIError(.badGateway, code: "upstream_unavailable", message: "v\(main.version)'s model-server did not answer")
        }
        let predictions = try await answer.body.collect(upTo: 16 << 20)
        // The model-server's refusal (an unknown feature value) is the caller's to see, with its status.
        guard answer.status == .ok else {
            return try RawJSON(Array(predictions.readableBytesView), status: .init(code: Int(answer.status.code))).response(
                from: request, context: context)
        }
        var wrapped = Array(#"{"endpoint_name":"#.utf8) + (try PlatformJSON.encode(endpoint.name))
        wrapped += Array(#","model_version":\#(main.version),"predictions":"#.utf8) + Array(predictions.readableBytesView) + Array("}".utf8)
        return try RawJSON(wrapped).response(from: request, context: context)
    }
}
