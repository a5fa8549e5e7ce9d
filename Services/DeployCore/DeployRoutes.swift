import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// Endpoints, deployments, rollback, traffic split and undeploy (the spec's deployment API with
/// Slipway's names), plus the internal routes serving-router uses.
struct DeployRoutes: Sendable {
    let environment: ServiceEnvironment
    let settings: DeploySettings
    var queries: DeployQueries { DeployQueries(environment: environment) }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// The resource fields a body may override a preset with (creating an endpoint, or deploying onto a new one).
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
        var force: Bool?
        var reason: String?
        var sourceRunId: String?
    }

    struct RollbackBody: Decodable {
        var toVersion: Int32?
        var toDeployment: String?
        var reason: String?
    }

    struct TrafficBody: Decodable { var traffic: [String: Int32] }
    struct ReasonBody: Decodable { var reason: String? }

    func add(to router: RouteCollection<SlipwayRequestContext>) {
        // Endpoints of a model.
        for prefix in ["api/models/:model/endpoints", "api/registered-models/:model/endpoints"] {
            router.get(RouterPath(prefix)) { _, context in
                let model = try await self.queries.knownModel(try context.parameters.require("model"))
                return try self.json(["endpoints": try await self.queries.endpoints(model: model)])
            }
        }
        router.post("api/models/:model/endpoints") { request, context in
            let model = try await self.queries.knownModel(try context.parameters.require("model"))
            let body = try await request.decodeJSON(as: EndpointBody.self, context: context, decoder: Self.decoder)
            let name = try await self.createEndpoint(model: model, name: body.name, preset: body.preset, overrides: body.overrides,
                                                     description: body.description, metadata: try request.commandMetadata())
            return try self.json(try await self.queries.endpoint(name), status: .created)
        }
        router.get("api/endpoints/:name") { _, context in
            try self.json(try await self.queries.endpoint(try context.parameters.require("name")))
        }
        router.patch("api/endpoints/:name") { request, context in
            let name = try context.parameters.require("name")
            let current = try await self.queries.endpoint(name)
            let body = try await request.decodeJSON(as: EndpointBody.self, context: context, decoder: Self.decoder)
            if body.name != nil && body.name != name { throw APIError.invalid("an endpoint cannot be renamed", field: "name") }
            var updated = EndpointUpdated()
            updated.endpointID = name
            let state = try await self.environment.store.state(EndpointDecider.self, aggregateID: name)
            if let presetName = body.preset {
                // A new preset starts from its own resources; without one, the overrides change the current ones.
                guard let preset = ServingPresets.preset(named: presetName) else {
                    throw APIError.invalid("unknown preset '\(presetName)' (development, production, high_traffic, custom)", field: "preset")
                }
                updated.preset = preset
                updated.resources = try ServingPresets.resolve(preset: preset, overrides: body.overrides)
            } else {
                updated.preset = state.endpoint?.preset ?? .production
                updated.resources = try ServingPresets.resolve(base: state.endpoint?.resources ?? ServingPresets.resources(for: .production),
                                                               overrides: body.overrides)
            }
            updated.descriptionText = body.description ?? (current["description"] as? String ?? "")
            updated.updatedFields = (body.preset != nil ? ["preset"] : []) + (body.overrides.isEmpty ? [] : ["resources"])
                + (body.description != nil ? ["description"] : [])
            updated.updatedBy = "api"
            try await self.environment.execute(EndpointDecider.self, aggregateID: name, command: .update(updated), metadata: try request.commandMetadata())
            return try self.json(try await self.queries.endpoint(name))
        }
        router.delete("api/endpoints/:name") { request, context in
            let name = try context.parameters.require("name")
            _ = try await self.queries.endpoint(name)
            try await self.environment.execute(EndpointDecider.self, aggregateID: name, command: .delete(by: "api"), metadata: try request.commandMetadata())
            return Response(status: .noContent)
        }
        router.post("api/endpoints/:name/undeploy") { request, context in
            let name = try context.parameters.require("name")
            _ = try await self.queries.endpoint(name)
            let body = try await self.optionalBody(request, context, as: ReasonBody.self) ?? ReasonBody()
            try await self.environment.execute(EndpointDecider.self, aggregateID: name, command: .undeploy(reason: body.reason ?? "", by: "api"),
                                               metadata: try request.commandMetadata())
            return try self.json(try await self.queries.endpoint(name))
        }
        router.post("api/models/:model/undeploy") { request, context in
            let model = try await self.queries.knownModel(try context.parameters.require("model"))
            let body = try await self.optionalBody(request, context, as: ReasonBody.self) ?? ReasonBody()
            var undeployed: [String] = []
            for name in try await self.queries.servingEndpoints(model: model) {
                try await self.environment.execute(EndpointDecider.self, aggregateID: name, command: .undeploy(reason: body.reason ?? "", by: "api"),
                                                   metadata: try request.commandMetadata())
                undeployed.append(name)
            }
            return try self.json(["model": model, "undeployed_endpoints": undeployed])
        }
        router.post("api/endpoints/:name/traffic") { request, context in
            let name = try context.parameters.require("name")
            _ = try await self.queries.endpoint(name)
            let body = try await request.decodeJSON(as: TrafficBody.self, context: context, decoder: Self.decoder)
            var split: [String: Int32] = [:]
            for (key, percent) in body.traffic {
                split[try await self.queries.deploymentID(endpoint: name, reference: key, field: "traffic.\(key)"), default: 0] += percent
            }
            try await self.environment.execute(EndpointDecider.self, aggregateID: name, command: .setTraffic(split, by: "api"),
                                               metadata: try request.commandMetadata())
            return try self.json(try await self.queries.endpoint(name))
        }
        router.post("api/endpoints/:name/rollback") { request, context in
            let name = try context.parameters.require("name")
            _ = try await self.queries.endpoint(name)
            let body = try await self.optionalBody(request, context, as: RollbackBody.self) ?? RollbackBody()
            let target: String?
            if let deployment = body.toDeployment {
                target = try await self.queries.deploymentID(endpoint: name, reference: deployment, field: "to_deployment")
            } else if let version = body.toVersion {
                target = try await self.queries.deploymentID(endpoint: name, reference: "v\(version)", field: "to_version")
            } else {
                target = nil
            }
            return try await self.rollback(endpoint: name, to: target, reason: body.reason ?? "", request: request)
        }

        // Deployments.
        router.get("api/models/:model/deployments") { _, context in
            let model = try await self.queries.knownModel(try context.parameters.require("model"))
            return try self.json(["deployments": try await self.queries.deployments(where: "d.model_name = $1", model)])
        }
        router.post("api/models/:model/deployments") { request, context in
            let model = try await self.queries.knownModel(try context.parameters.require("model"))
            let body = try await request.decodeJSON(as: DeployBody.self, context: context, decoder: Self.decoder)
            let id = try await self.deploy(model: model, body, metadata: try request.commandMetadata())
            return try self.json(try await self.queries.deployment(id), status: .accepted)
        }
        // The spec's "deploy this training run" (deploy-cloud-run): the version the run registered.
        for path in ["api/training-runs/:run/deploy", "api/training-runs/:run/deploy-cloud-run"] {
            router.post(RouterPath(path)) { request, context in
                let run = try context.parameters.require("run")
                guard let (model, number) = try await self.queries.version(ofRun: run) else {
                    throw APIError.notFound("training run '\(run)' has no registered version (it must be completed, blessed and registered)")
                }
                var body = try await self.optionalBody(request, context, as: DeployBody.self) ?? DeployBody()
                body.version = number
                let id = try await self.deploy(model: model, body, metadata: try request.commandMetadata())
                return try self.json(try await self.queries.deployment(id), status: .accepted)
            }
        }
        router.get("api/deployments/:id") { _, context in
            try self.json(try await self.queries.deployment(try context.parameters.require("id")))
        }
        router.post("api/deployments/:id/rollback") { request, context in
            let deployment = try await self.queries.deployment(try context.parameters.require("id"))
            let body = try await self.optionalBody(request, context, as: ReasonBody.self) ?? ReasonBody()
            return try await self.rollback(endpoint: deployment["endpoint"] as! String, to: deployment["id"] as? String,
                                           reason: body.reason ?? "", request: request)
        }

        // What serving-router loads at start and every resync; `version` lets it keep whichever is newer of
        // this snapshot and the events it already applied.
        router.get("internal/routing") { _, _ in
            try self.json(try await self.queries.routingSnapshot())
        }
        router.post("internal/api-keys/usage") { request, context in
            try await self.recordUsage(request, context)
        }
    }

    // MARK: - Commands

    func createEndpoint(model: String, name requestedName: String?, preset presetName: String?, overrides: ServingPresets.Overrides,
                        description: String?, metadata: CommandMetadata) async throws -> String {
        let name = requestedName ?? EndpointName.suggested(forModel: model)
        if let problem = EndpointName.problem(name) { throw APIError.invalid("endpoint name \(problem)", field: "name") }
        guard let preset = ServingPresets.preset(named: presetName ?? "production") else {
            throw APIError.invalid("unknown preset '\(presetName ?? "")' (development, production, high_traffic, custom)", field: "preset")
        }
        var created = EndpointCreated()
        created.endpointID = name
        created.name = name
        created.registeredModelID = model
        created.modelName = model
        created.preset = preset
        created.resources = try ServingPresets.resolve(preset: preset, overrides: overrides)
        created.target = .local
        created.descriptionText = description ?? ""
        created.createdBy = "api"
        created.url = "\(settings.routerURL)/\(name)"
        try await environment.execute(EndpointDecider.self, aggregateID: name, command: .create(created), metadata: metadata)
        return name
    }

    /// Validates everything first (version, blessing, steps, the endpoint's owner), so a refused deploy
    /// writes nothing — not even the endpoint it would have created.
    func deploy(model: String, _ body: DeployBody, requestedBy: String = "api", metadata: CommandMetadata) async throws -> String {
        guard let number = body.version else { throw APIError.badRequest("missing field 'version'", field: "version") }
        guard let version = try await queries.version(model: model, number: number) else {
            throw APIError.invalid("model '\(model)' has no version \(number)", field: "version")
        }
        if !version.blessed && body.force != true {
            throw APIError(.conflict, code: "conflict", message: "v\(number) of '\(model)' is not blessed; pass \"force\": true to deploy it anyway",
                           details: ["field": "force"])
        }
        let strategy = (body.strategy ?? (body.steps == nil ? "immediate" : "gradual")).lowercased()
        guard ["immediate", "gradual"].contains(strategy) else { throw APIError.invalid("strategy is immediate or gradual", field: "strategy") }
        var requested = DeploymentRequested()
        requested.strategy = strategy == "gradual" ? .gradual : .immediate
        if requested.strategy == .gradual {
            requested.steps = try RolloutPlan.steps(percents: body.steps ?? [10, 50, 100], stepSeconds: body.stepSeconds ?? 60,
                                                    minRequests: body.minRequests ?? 0, maxErrorRate: body.maxErrorRate ?? RolloutPlan.defaultMaxErrorRate,
                                                    maxP99Ms: body.maxP99Ms ?? RolloutPlan.defaultMaxP99Ms)
        }
        let endpointName: String
        var existing = try await queries.endpointOwner(body.endpoint ?? EndpointName.suggested(forModel: model))
        if body.endpoint == nil, existing == nil, let only = try await queries.onlyEndpoint(model: model) {
            endpointName = only  // "update existing endpoint" is the default when the model has exactly one
            existing = model
        } else {
            endpointName = body.endpoint ?? EndpointName.suggested(forModel: model)
        }
        if let owner = existing, owner != model {
            throw APIError(.conflict, code: "conflict", message: "endpoint '\(endpointName)' belongs to model '\(owner)'; choose one of '\(model)''s endpoints or a new name",
                           details: ["field": "endpoint"])
        }
        if existing == nil {
            if let problem = EndpointName.problem(endpointName) { throw APIError.invalid("endpoint name \(problem)", field: "endpoint") }
            if requested.strategy == .gradual {
                throw APIError.invalid("a gradual rollout needs a version already serving; deploy the first version immediately", field: "strategy")
            }
            let overrides = body.overrides
            // createEndpoint checks the preset and resources before it writes anything.
            _ = try await createEndpoint(model: model, name: endpointName, preset: body.preset, overrides: overrides,
                                         description: body.description, metadata: metadata)
        }
        requested.registeredModelID = model
        requested.modelVersionID = version.id
        requested.versionNumber = number
        requested.artifactUri = version.artifactURI
        requested.force = body.force ?? false
        requested.requestedBy = requestedBy
        requested.reason = body.reason ?? ""
        requested.sourceRunID = body.sourceRunId ?? version.sourceRunID
        requested.metrics = version.metrics
        let outcome = try await environment.execute(EndpointDecider.self, aggregateID: endpointName, command: .requestDeployment(requested), metadata: metadata)
        return outcome.state.deployments.last!.id
    }

    /// Instant when the target's revision is still warm; otherwise that version is deployed again
    /// (immediately) and the answer says the rollback is not instant.
    func rollback(endpoint: String, to target: String?, reason: String, request: Request) async throws -> Response {
        let metadata = try request.commandMetadata()
        let state = try await environment.store.state(EndpointDecider.self, aggregateID: endpoint)
        let targetID: String
        if let target {
            targetID = target
        } else {
            // Default: the deployment that served before the current one.
            let current = state.inProgress?.id ?? state.activeDeploymentID
            guard let previous = state.deployments.last(where: { $0.id != current && [.inactive, .active].contains($0.status) }) else {
                throw APIError.conflict("'\(endpoint)' has no earlier deployment to roll back to")
            }
            targetID = previous.id
        }
        guard let deployment = state.deployment(targetID) else { throw APIError.notFound("no deployment \(targetID) on '\(endpoint)'") }
        if let revision = deployment.revisionID, state.revisions[revision]?.isWarm == true {
            try await environment.execute(EndpointDecider.self, aggregateID: endpoint,
                                          command: .rollback(toDeploymentID: targetID, trigger: .manual, reason: reason, by: "api"), metadata: metadata)
            var view = try await queries.endpoint(endpoint)
            view["instant"] = true
            return try json(view)
        }
        var requested = deployment.requested
        requested.strategy = .immediate
        requested.steps = []
        requested.force = true
        requested.requestedBy = "api"
        requested.reason = "rollback to v\(deployment.requested.versionNumber)" + (reason.isEmpty ? "" : ": \(reason)")
        let outcome = try await environment.execute(EndpointDecider.self, aggregateID: endpoint, command: .requestDeployment(requested), metadata: metadata)
        var view = try await queries.deployment(outcome.state.deployments.last!.id)
        view["instant"] = false
        view["message"] = "v\(deployment.requested.versionNumber) was no longer running, so it is being deployed again"
        return try json(view, status: .accepted)
    }

    struct UsageBody: Decodable {
        struct Entry: Decodable {
            var apiKeyId: String
            var endpointId: String?
            var lastUsedAt: Date
            var requestCount: Int64
        }
        var usage: [Entry]
    }

    /// serving-router's periodic report of which keys were used: one throttled `ApiKeyUsed` per key.
    func recordUsage(_ request: Request, _ context: SlipwayRequestContext) async throws -> Response {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            if let date = ISO8601DateFormatter.flexible(text) { return date }
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected an ISO-8601 date"))
        }
        let body = try await request.decodeJSON(as: UsageBody.self, context: context, decoder: decoder)
        var recorded = 0
        for (index, entry) in body.usage.enumerated() {
            guard entry.requestCount >= 0 else { throw APIError.invalid("must not be negative", field: "usage[\(index)].request_count") }
            var used = ApiKeyUsed()
            used.apiKeyID = entry.apiKeyId
            used.endpointID = entry.endpointId ?? ""
            used.lastUsedAt = .init(date: entry.lastUsedAt)
            used.requestCount = entry.requestCount
            do {
                try await environment.execute(ApiKeyDecider.self, aggregateID: entry.apiKeyId, command: .recordUsage(used), metadata: try request.commandMetadata())
                recorded += 1
            } catch let rejected as CommandRejected where rejected.kind == .notFound {
                continue  // a key the router knew and this service does not: nothing to record
            }
        }
        return try json(["recorded": recorded])
    }

    // MARK: - Helpers

    func optionalBody<T: Decodable>(_ request: Request, _ context: SlipwayRequestContext, as type: T.Type) async throws -> T? {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        guard buffer.readableBytes > 0 else { return nil }
        do {
            return try Self.decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIError.fromDecoding(error)
        }
    }

    func json(_ value: Any, status: HTTPResponse.Status = .ok) throws -> Response {
        rawJSONResponse(Array(try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])), status: status)
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

extension ISO8601DateFormatter {
    /// Parses ISO-8601 with or without fractional seconds.
    static func flexible(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
