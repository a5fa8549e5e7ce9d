import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// Reads behind deploy-svc's API: its read model, the models and versions it knows from registry-svc,
/// and — for what a rollback to each deployment would do — the endpoint's fold, so that answer comes from
/// the same rule the decider applies (`EndpointState.rollbackPath`).
struct DeployQueries: Sendable {
    let environment: ServiceEnvironment
    let postgres: PostgresClient
    let store: EventStore
    let logger: Logger

    init(environment: ServiceEnvironment) {
        self.environment = environment
        postgres = environment.postgres
        store = environment.store
        logger = environment.logger
    }

    // MARK: Facts for commands

    /// How long a deploy waits for a version registry-svc has and this service has not learned yet.
    static let registryLag: Duration = .seconds(10)

    /// The model's name when registry-svc registered it (and did not delete it); a 404 otherwise. With `version`, a
    /// model registered a moment ago counts too, when registry-svc has that version (see `registeredVersion`).
    func knownModel(_ name: String, version: Int32? = nil) async throws -> String {
        if let known = try await modelIfKnown(name) { return known }
        if let version, try await registeredVersion(model: name, number: version) != nil, let known = try await modelIfKnown(name) {
            return known
        }
        throw APIError.notFound("no registered model '\(name)'")
    }

    private func modelIfKnown(_ name: String) async throws -> String? {
        let rows = try await postgres.query("SELECT name FROM known_models WHERE name = \(name) AND NOT deleted", logger: logger)
        for try await found in rows.decode(String.self) { return found }
        return nil
    }

    func knownVersion(model: String, number: Int32) async throws -> EndpointDecider.KnownVersion? {
        let rows = try await postgres.query(
            """
            SELECT version_id, artifact_uri, blessed, metrics, source_run_id FROM known_versions
            WHERE model_name = \(model) AND version_number = \(Int(number))
            """, logger: logger)
        for try await (id, uri, blessed, metrics, run) in rows.decode((String, String, Bool, String, String).self) {
            return EndpointDecider.KnownVersion(
                id: id, number: number, artifactURI: uri, blessed: blessed, metrics: try DeployColumns.decodeMetrics(metrics), sourceRunID: run)
        }
        return nil
    }

    /// `knownVersion`, also for a version registered a moment ago. deploy-svc learns versions from registry-svc's
    /// events, a little after registry-svc has answered the registration; a client that deploys right after
    /// registering (a pipeline, a sweep's best run) must not be refused for that. So while this service does not know
    /// the version and registry-svc says it has it, this waits for the event, up to `registryLag`. nil when
    /// registry-svc does not have it either, cannot be asked, or the event does not come in time.
    func registeredVersion(model: String, number: Int32) async throws -> EndpointDecider.KnownVersion? {
        if let known = try await knownVersion(model: model, number: number) { return known }
        guard await askRegistry("/api/registered-models/\(Self.pathSegment(model))/versions/\(number)") != nil else { return nil }
        let deadline = ContinuousClock.now.advanced(by: Self.registryLag)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            if let known = try await knownVersion(model: model, number: number) { return known }
        }
        logger.warning(
            "registry-svc has the version, this service did not learn it in time",
            metadata: [LogKey.model: "\(model)", LogKey.version: "\(number)"])
        return nil
    }

    /// Every model registry-svc registered and did not delete, by name.
    func knownModels() async throws -> [String] {
        let rows = try await postgres.query("SELECT name FROM known_models WHERE NOT deleted ORDER BY name", logger: logger)
        var names: [String] = []
        for try await name in rows.decode(String.self) { names.append(name) }
        return names
    }

    /// The model's versions, newest first.
    func knownVersions(model: String) async throws -> [EndpointDecider.KnownVersion] {
        let rows = try await postgres.query(
            """
            SELECT version_number, version_id, artifact_uri, blessed, metrics, source_run_id FROM known_versions
            WHERE model_name = \(model) ORDER BY version_number DESC
            """, logger: logger)
        var versions: [EndpointDecider.KnownVersion] = []
        for try await (number, id, uri, blessed, metrics, run) in rows.decode((Int, String, String, Bool, String, String).self) {
            versions.append(
                EndpointDecider.KnownVersion(
                    id: id, number: Int32(number), artifactURI: uri, blessed: blessed, metrics: try DeployColumns.decodeMetrics(metrics),
                    sourceRunID: run))
        }
        return versions
    }

    /// The model and version a training run registered, also when it was registered a moment ago: then registry-svc
    /// says which (and the deploy's `registeredVersion` waits for the event). nil when neither knows it.
    func version(ofRun run: String) async throws -> (model: String, number: Int32)? {
        let rows = try await postgres.query(
            """
            SELECT model_name, version_number FROM known_versions WHERE source_run_id = \(run) ORDER BY version_number DESC LIMIT 1
            """, logger: logger)
        for try await (model, number) in rows.decode((String, Int32).self) { return (model, number) }
        let answer = await askRegistry("/api/training-runs/\(Self.pathSegment(run))/registered-version")
        guard let model = answer?["model_name"] as? String, let number = answer?["version"] as? Int, let number = Int32(exactly: number) else {
            return nil
        }
        return (model, number)
    }

    /// registry-svc's 200 answer to a GET, as a JSON object; nil for any other answer, or when it cannot be asked
    /// (this service then knows only what it has learnt).
    private func askRegistry(_ path: String) async -> [String: Any]? {
        guard let answer = try? await environment.callPeer("registry", .GET, path, timeout: .seconds(2)), answer.status == 200 else { return nil }
        return answer.json
    }

    static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    /// The endpoint a deploy of `model` goes to: the one asked for; else `<model>-serving` when it exists,
    /// else the model's only endpoint ("update the existing endpoint" is the default then), else a new
    /// `<model>-serving`.
    func deployTarget(model: String, requested: String?) async throws -> String {
        if let requested { return requested }
        let suggested = EndpointName.suggested(forModel: model)
        if try await endpointExists(suggested) { return suggested }
        let rows = try await postgres.query("SELECT name FROM endpoints WHERE model_name = \(model) AND NOT deleted", logger: logger)
        var names: [String] = []
        for try await name in rows.decode(String.self) { names.append(name) }
        return names.count == 1 ? names[0] : suggested
    }

    func endpointExists(_ name: String) async throws -> Bool {
        let rows = try await postgres.query("SELECT count(*) FROM endpoints WHERE name = \(name) AND NOT deleted", logger: logger)
        for try await count in rows.decode(Int64.self) { return count > 0 }
        return false
    }

    /// Endpoints of the model that serve or are being deployed to.
    func servingEndpoints(model: String) async throws -> [String] {
        let rows = try await postgres.query(
            """
            SELECT DISTINCT e.name FROM endpoints e JOIN deployments d ON d.endpoint_name = e.name
            WHERE e.model_name = \(model) AND NOT e.deleted AND (d.traffic_percent > 0 OR d.status IN ('requested', 'deploying', 'rolling_out'))
            ORDER BY e.name
            """, logger: logger)
        var names: [String] = []
        for try await name in rows.decode(String.self) { names.append(name) }
        return names
    }

    /// How many deployments have `status` (all when nil).
    func deploymentCount(status: String?) async throws -> Int {
        let rows = try await postgres.query(
            "SELECT count(*) FROM deployments WHERE (\(status == nil) OR status = \(status ?? ""))", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    // MARK: Endpoints

    /// The model's endpoints, or every endpoint when `model` is nil; by name.
    func endpoints(model: String?) async throws -> [EndpointJSON] {
        let rows = try await postgres.query(
            "SELECT name FROM endpoints WHERE (\(model == nil) OR model_name = \(model ?? "")) AND NOT deleted ORDER BY name", logger: logger)
        var names: [String] = []
        for try await name in rows.decode(String.self) { names.append(name) }
        var result: [EndpointJSON] = []
        for name in names { result.append(try await endpoint(name)) }
        return result
    }

    func endpoint(_ name: String) async throws -> EndpointJSON {
        let rows = try await postgres.query(
            """
            SELECT name, model_name, preset, resources, target, url, description, created_by, created_at, updated_at, active_deployment_id, version
            FROM endpoints WHERE name = \(name) AND NOT deleted
            """, logger: logger)
        for try await (name, model, preset, resources, target, url, description, createdBy, createdAt, updatedAt, activeID, version)
            in rows.decode((String, String, String, String, String, String, String, String, Date, Date, String?, Int64).self)
        {
            let deployments = try await self.deployments(endpoint: name)
            let serving = deployments.filter { $0.trafficPercent > 0 }
            let inProgress = deployments.contains { ["requested", "deploying", "rolling_out"].contains($0.status) }
            return EndpointJSON(
                name: name, id: name, modelName: model, preset: preset, resources: try DeployColumns.decodeResources(resources), target: target,
                url: url, description: description, createdBy: createdBy, createdAt: MillisecondDate(createdAt),
                updatedAt: MillisecondDate(updatedAt), version: version, activeDeploymentID: activeID,
                traffic: serving.map { TrafficJSON(deploymentID: $0.id, version: $0.version, percent: $0.trafficPercent, revisionID: $0.revisionID) },
                deployments: deployments, activeDeployment: deployments.first { $0.id == activeID },
                status: inProgress ? .deploying : (serving.isEmpty ? .notServing : .serving))
        }
        throw APIError.notFound("no endpoint '\(name)'")
    }

    /// A 404 unless the endpoint exists: what the endpoint's routes check before reading their body.
    func requireEndpoint(_ name: String) async throws {
        guard try await endpointExists(name) else { throw APIError.notFound("no endpoint '\(name)'") }
    }

    // MARK: Deployments

    func deployment(_ id: String) async throws -> DeploymentJSON {
        guard let found = try await deployments(id: id).first else { throw APIError.notFound("no deployment '\(id)'") }
        return found
    }

    /// Deployments (newest first) of one endpoint, of one model, or the one with `id`; optionally of one status, a page of them.
    func deployments(
        endpoint: String? = nil, model: String? = nil, id: String? = nil, status: String? = nil, limit: Int? = nil, offset: Int = 0
    ) async throws -> [DeploymentJSON] {
        let rows = try await postgres.query(
            """
            SELECT d.id, d.endpoint_name, d.number, d.model_name, d.model_version_id, d.version_number, d.strategy, d.steps, d.force,
                   d.requested_by, d.reason, d.source_run_id, d.metrics, d.status, d.traffic_percent, d.step_index, d.error,
                   d.created_at, d.activated_at, d.ended_at
            FROM deployments d
            WHERE (\(endpoint == nil) OR d.endpoint_name = \(endpoint ?? ""))
              AND (\(model == nil) OR d.model_name = \(model ?? ""))
              AND (\(id == nil) OR d.id = \(id ?? ""))
              AND (\(status == nil) OR d.status = \(status ?? ""))
            ORDER BY d.created_at DESC, d.number DESC
            LIMIT \(limit) OFFSET \(offset)
            """, logger: logger)
        var result: [DeploymentJSON] = []
        for try await (
            id, endpoint, number, model, versionID, version, strategy, steps, force, requestedBy, reason, run, metrics, status,
            traffic, stepIndex, error, createdAt, activatedAt, endedAt
        )
            in rows.decode(
                (
                    String, String, Int, String, String, Int, String, String, Bool, String, String, String, String, String,
                    Int, Int, String, Date, Date?, Date?
                ).self)
        {
            result.append(
                DeploymentJSON(
                    id: id, endpoint: endpoint, number: number, modelName: model, modelVersionID: versionID, version: version, strategy: strategy,
                    steps: try DeployColumns.decodeSteps(steps), force: force, requestedBy: requestedBy, reason: reason, sourceRunID: run,
                    metrics: try DeployColumns.decodeMetrics(metrics), status: status, trafficPercent: traffic, stepIndex: stepIndex, error: error,
                    createdAt: MillisecondDate(createdAt), activatedAt: activatedAt.map(MillisecondDate.init),
                    endedAt: endedAt.map(MillisecondDate.init),
                    revisionID: nil, revision: nil, rollbackAvailable: false, rollbackInstant: false))
        }
        return try await withRevisionsAndRollbacks(result)
    }

    /// Adds each deployment's revision (from the read model) and what a rollback to it would do (from its
    /// endpoint's fold).
    private func withRevisionsAndRollbacks(_ deployments: [DeploymentJSON]) async throws -> [DeploymentJSON] {
        guard !deployments.isEmpty else { return [] }
        let ids = deployments.map(\.id)
        let rows = try await postgres.query(
            """
            SELECT d.id, r.id, r.address, r.addresses, r.status, r.startup_ms, r.error FROM deployments d
            JOIN revisions r ON r.id = d.revision_id WHERE d.id = ANY(\(ids))
            """, logger: logger)
        var revisions: [String: RevisionJSON] = [:]
        for try await (deploymentID, id, address, addresses, status, startupMs, error) in rows.decode(
            (String, String, String?, [String], String, Int64?, String).self)
        {
            revisions[deploymentID] = RevisionJSON(
                id: id, address: address, instances: status == "stopped" ? [] : addresses, status: status, startupMs: startupMs, error: error)
        }
        var states: [String: EndpointState] = [:]
        for endpoint in Set(deployments.map(\.endpoint)) {
            states[endpoint] = try await store.state(EndpointDecider.self, aggregateID: endpoint)
        }
        return deployments.map { deployment in
            var deployment = deployment
            if let revision = revisions[deployment.id] {
                deployment.revisionID = revision.id
                deployment.revision = revision
            }
            if let state = states[deployment.endpoint], let folded = state.deployment(deployment.id) {
                deployment.rollbackOnAlert = folded.requested.rollbackOnAlert
                deployment.holdWhenInconclusive = folded.requested.holdWhenInconclusive
                deployment.heldStep =
                    folded.status == .rollingOut && folded.heldStepIndex == folded.stepIndex ? folded.heldStepIndex.map(Int.init) : nil
                switch state.rollbackPath(to: folded) {
                case .instant: (deployment.rollbackAvailable, deployment.rollbackInstant) = (true, true)
                case .redeploy: (deployment.rollbackAvailable, deployment.rollbackInstant) = (true, false)
                case .unavailable: (deployment.rollbackAvailable, deployment.rollbackInstant) = (false, false)
                }
            }
            return deployment
        }
    }

    // MARK: serving-router

    func routingSnapshot() async throws -> RoutingSnapshotJSON {
        let endpointRows = try await postgres.query(
            """
            SELECT e.name, e.model_name, e.version, r.id, r.deployment_id, r.address, r.traffic_percent, r.model_version_id, r.version_number,
                r.addresses
            FROM endpoints e LEFT JOIN revisions r ON r.endpoint_name = e.name AND r.status <> 'stopped' AND r.address IS NOT NULL
            WHERE NOT e.deleted ORDER BY e.name, r.id
            """, logger: logger)
        var endpoints: [RoutingSnapshotJSON.Endpoint] = []
        for try await (name, model, version, revision, deployment, address, percent, versionID, number, addresses)
            in endpointRows.decode((String, String, Int64, String?, String?, String?, Int?, String?, Int?, [String]?).self)
        {
            if endpoints.last?.endpointID != name {
                endpoints.append(.init(endpointID: name, name: name, modelName: model, version: version, routes: []))
            }
            if let revision, let address {
                endpoints[endpoints.count - 1].routes.append(
                    .init(
                        revisionID: revision, deploymentID: deployment ?? "", address: address, addresses: addresses ?? [],
                        percent: percent ?? 0,
                        modelVersionID: versionID ?? "",
                        versionNumber: number ?? 0))
            }
        }
        let keyRows = try await postgres.query(
            """
            SELECT id, model_name, key_sha256, is_active AND (expires_at IS NULL OR expires_at > now()), version, purpose FROM api_keys ORDER BY id
            """, logger: logger)
        var keys: [RoutingSnapshotJSON.ApiKey] = []
        for try await (id, model, hash, active, version, purpose) in keyRows.decode((String, String, String, Bool, Int64, String).self) {
            keys.append(.init(apiKeyID: id, modelName: model, keySha256: hash, active: active, version: version, purpose: purpose))
        }
        return RoutingSnapshotJSON(endpoints: endpoints, apiKeys: keys)
    }

    // MARK: API keys

    func apiKey(_ id: String) async throws -> ApiKeyJSON {
        guard let key = try await apiKeys(id: id).first else { throw APIError.notFound("no API key '\(id)'") }
        return key
    }

    /// Keys of one model, or the one with `id`; newest first.
    func apiKeys(model: String? = nil, id: String? = nil) async throws -> [ApiKeyJSON] {
        let rows = try await postgres.query(
            """
            SELECT id, model_name, name, key_prefix, is_active, created_by, created_at, expires_at, revoked_at, last_used_at, purpose
            FROM api_keys WHERE (\(model == nil) OR model_name = \(model ?? "")) AND (\(id == nil) OR id = \(id ?? ""))
            ORDER BY created_at DESC, id
            """, logger: logger)
        var result: [ApiKeyJSON] = []
        for try await (id, model, name, prefix, active, createdBy, createdAt, expiresAt, revokedAt, lastUsedAt, purpose)
            in rows.decode((String, String, String, String, Bool, String, Date, Date?, Date?, Date?, String).self)
        {
            result.append(
                ApiKeyJSON(
                    id: id, modelName: model, name: name, keyPrefix: prefix, isActive: active, purpose: purpose, createdBy: createdBy,
                    createdAt: createdAt, expiresAt: expiresAt, revokedAt: revokedAt, lastUsedAt: lastUsedAt))
        }
        return result
    }
}
