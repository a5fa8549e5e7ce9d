import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayLocalRuntime
import SlipwayPlatform
import Synchronization

/// deploy-svc's settings beyond the common ones.
public struct DeploySettings: Sendable {
    /// Public base URL of serving-router (endpoint URLs are `<router>/<endpoint>`).
    public var routerURL: String
    /// serving-router's admin listener, whose `/internal/stats` feeds the rollout gates.
    public var routerAdminURL: String
    /// Per-revision state and logs of the local target.
    public var servingRoot: URL
    public var modelServer: URL
    /// How long a superseded revision stays warm, so a rollback to it is instant.
    public var rollbackWindowSeconds: Int
    public var readinessTimeoutSeconds: Int
    /// Stop every revision when deploy-svc shuts down (`slipway up` sets it); otherwise they keep serving
    /// and a restarted deploy-svc adopts them.
    public var stopRevisionsOnExit: Bool
    public var controllerInterval: Duration

    /// `--router-url`, `--router-admin-url`, `--serving-root`, `--model-server`, `--rollback-window-seconds`,
    /// `--readiness-timeout-seconds`, `--stop-revisions-on-exit`.
    public static func load(reader: ConfigReader) throws -> DeploySettings {
        let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("model-server")
        let window = try reader.int("rollback-window-seconds", default: 1800)
        guard window >= 0 else { throw ConfigError(key: "rollback-window-seconds", message: "must not be negative") }
        let readiness = try reader.int("readiness-timeout-seconds", default: 60)
        guard readiness >= 1 else { throw ConfigError(key: "readiness-timeout-seconds", message: "must be at least 1") }
        return DeploySettings(
            routerURL: reader.string("router-url", default: "http://127.0.0.1:8081"),
            routerAdminURL: reader.string("router-admin-url", default: "http://127.0.0.1:8082"),
            servingRoot: URL(fileURLWithPath: reader.string("serving-root", default: ".slipway/serving")).standardizedFileURL,
            modelServer: URL(fileURLWithPath: reader.string("model-server", default: sibling.path)),
            rollbackWindowSeconds: window, readinessTimeoutSeconds: readiness,
            stopRevisionsOnExit: ["1", "true", "yes"].contains(reader.string("stop-revisions-on-exit", default: "false").lowercased()),
            controllerInterval: .milliseconds(200))
    }
}

/// Drives deployments forward from the read model: starts the revisions of requested deployments on
/// the target, reports them ready or failed, walks gradual rollouts through their gated steps, restarts
/// crashed revisions, and stops the ones nothing needs any more. Every decision is a command on the
/// endpoint, so the log says what happened and why; the loop itself only holds which starts are in flight.
public final class DeploymentController: Service {
    let settings: DeploySettings
    let target: any ServingTarget
    let environment: ServiceEnvironment
    private let launching = Mutex<Set<String>>([])
    /// Crash restarts per revision: (count, last attempt), for backoff.
    private let restarts = Mutex<[String: (count: Int, at: ContinuousClock.Instant)]>([:])

    public init(settings: DeploySettings, target: any ServingTarget, environment: ServiceEnvironment) {
        self.settings = settings
        self.target = target
        self.environment = environment
    }

    public func run() async throws {
        let environment = self.environment
        do {
            while !Task.isCancelled {
                do {
                    try await tick(environment)
                } catch is CancellationError {
                    break
                } catch {
                    environment.logger.warning("deployment controller step failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: settings.controllerInterval)
            }
        } catch is CancellationError {}
        if settings.stopRevisionsOnExit { await target.stopAll() }
    }

    func tick(_ environment: ServiceEnvironment) async throws {
        try await requestRunDeploys(environment)
        try await startRequested(environment)
        try await superviseRevisions(environment)
        try await advanceRollouts(environment)
    }

    static func metadata() -> CommandMetadata { CommandMetadata(causationID: "deploy-controller") }

    // MARK: - Starting

    /// Auto-deploys training-svc asked for that have neither a deployment nor a rejection yet. One waits
    /// while its endpoint has another deployment in progress; anything else that refuses it is recorded.
    func requestRunDeploys(_ environment: ServiceEnvironment) async throws {
        let rows = try await environment.postgres.query("""
            SELECT q.run_id, q.model_name, q.version_number, q.endpoint_name, q.preset FROM run_deploy_requests q
            WHERE NOT EXISTS (SELECT 1 FROM deployments d WHERE d.source_run_id = q.run_id)
              AND NOT EXISTS (SELECT 1 FROM run_deploy_rejections j WHERE j.run_id = q.run_id)
            ORDER BY q.requested_at
            """, logger: environment.logger)
        var pending: [(String, String, Int, String, String)] = []
        for try await row in rows.decode((String, String, Int, String, String).self) { pending.append(row) }
        let routes = DeployRoutes(environment: environment, settings: settings)
        for (runID, model, version, endpointName, preset) in pending {
            var body = DeployRoutes.DeployBody()
            body.version = Int32(version)
            body.endpoint = endpointName.isEmpty ? nil : endpointName
            body.preset = preset
            body.sourceRunId = runID
            body.reason = "auto-deploy of training run \(runID)"
            let target = body.endpoint ?? EndpointName.suggested(forModel: model)
            // registry-svc's event may reach this service after training-svc's request: wait for the version.
            guard try await DeployQueries(environment: environment).version(model: model, number: Int32(version)) != nil else { continue }
            if try await environment.store.state(EndpointDecider.self, aggregateID: target).inProgress != nil { continue }
            do {
                _ = try await routes.deploy(model: model, body, requestedBy: "auto-deploy", metadata: Self.metadata())
            } catch {
                var failed = DeploymentFailed()
                failed.endpointID = target
                failed.sourceRunID = runID
                failed.error = (APIError.from(error)?.message) ?? "\(error)"
                environment.logger.warning("auto-deploy refused", metadata: ["run": "\(runID)", "error": "\(failed.error)"])
                try await environment.execute(EndpointDecider.self, aggregateID: target, command: .rejectRunDeploy(failed), metadata: Self.metadata())
            }
        }
    }

    func startRequested(_ environment: ServiceEnvironment) async throws {
        let rows = try await environment.postgres.query("""
            SELECT d.id, d.endpoint_name FROM deployments d WHERE d.status = 'requested' ORDER BY d.created_at
            """, logger: environment.logger)
        var requested: [(String, String)] = []
        for try await row in rows.decode((String, String).self) { requested.append(row) }
        for (deploymentID, endpoint) in requested {
            let state = try await environment.store.state(EndpointDecider.self, aggregateID: endpoint)
            let resources = state.endpoint?.resources ?? ServingPresets.resources(for: .production)
            try await environment.execute(EndpointDecider.self, aggregateID: endpoint,
                                          command: .startRevision(deploymentID: deploymentID, target: .local, resources: resources),
                                          metadata: Self.metadata())
        }
    }

    /// Starts (or adopts) a revision in the background and reports the outcome as a command.
    func launch(_ spec: RevisionSpec, _ environment: ServiceEnvironment) {
        guard launching.withLock({ $0.insert(spec.revisionID).inserted }) else { return }
        Task {
            defer { _ = launching.withLock { $0.remove(spec.revisionID) } }
            do {
                let (address, startupMs) = try await target.start(spec)
                var ready = RevisionReady()
                ready.revisionID = spec.revisionID
                ready.address = address
                ready.startupMs = startupMs
                try await environment.execute(EndpointDecider.self, aggregateID: spec.endpoint, command: .revisionReady(ready), metadata: Self.metadata())
            } catch {
                var failed = RevisionFailed()
                failed.revisionID = spec.revisionID
                failed.error = "\(error)"
                failed.logTail = (error as? RevisionStartError)?.logTail ?? ""
                environment.logger.warning("revision failed to start", metadata: ["revision": "\(spec.revisionID)", "error": "\(error)"])
                _ = try? await environment.execute(EndpointDecider.self, aggregateID: spec.endpoint, command: .revisionFailed(failed), metadata: Self.metadata())
            }
        }
    }

    // MARK: - Supervising

    /// Keeps what serves or may serve soon running; stops the rest.
    func superviseRevisions(_ environment: ServiceEnvironment) async throws {
        let rows = try await environment.postgres.query("""
            SELECT r.id, r.endpoint_name, r.model_name, r.version_number, r.artifact_uri, r.address, r.status, r.traffic_percent,
                   d.status, d.ended_at > now() - make_interval(secs => \(Double(settings.rollbackWindowSeconds))),
                   d.updated_at > now() - make_interval(secs => \(Self.drainSeconds))
            FROM revisions r JOIN deployments d ON d.id = r.deployment_id
            WHERE r.status <> 'stopped'
            """, logger: environment.logger)
        var revisions: [(RevisionSpec, String, Int, String, Bool?, Bool)] = []
        for try await (id, endpoint, model, version, artifact, address, status, traffic, deploymentStatus, recentlyEnded, draining)
            in rows.decode((String, String, String, Int, String, String?, String, Int, String, Bool?, Bool).self) {
            let spec = RevisionSpec(revisionID: id, endpoint: endpoint, modelName: model, versionNumber: Int32(version), artifactURI: artifact,
                                    resources: ServingResources(), previousAddress: address)
            revisions.append((spec, status, traffic, deploymentStatus, recentlyEnded, draining))
        }
        for (spec, status, traffic, deploymentStatus, recentlyEnded, draining) in revisions {
            let inFlight = launching.withLock { $0.contains(spec.revisionID) }
            // A revision that just lost its traffic keeps running a few seconds more: serving-router learns of
            // the new split through Kafka (tens of ms) and may still have requests on their way to it.
            let keep = traffic > 0 || draining || ["deploying", "rolling_out"].contains(deploymentStatus)
                || (["active", "inactive"].contains(deploymentStatus) && recentlyEnded != false)
            if !keep {
                guard !inFlight else { continue }
                try await environment.execute(EndpointDecider.self, aggregateID: spec.endpoint,
                                              command: .stopRevision(revisionID: spec.revisionID, reason: "not serving (deployment \(deploymentStatus))"),
                                              metadata: Self.metadata())
                await target.stop(spec.revisionID)
                continue
            }
            guard !inFlight else { continue }
            if status == "starting" {
                launch(spec, environment)  // first start, or one interrupted by a deploy-svc restart
            } else if deploymentStatus != "deploying", !target.isRunning(spec.revisionID), restartDue(spec.revisionID) {
                if status == "ready" {
                    var failed = RevisionFailed()
                    failed.revisionID = spec.revisionID
                    failed.error = "model-server is not running; restarting it"
                    try await environment.execute(EndpointDecider.self, aggregateID: spec.endpoint, command: .revisionFailed(failed), metadata: Self.metadata())
                }
                environment.logger.warning("restarting revision", metadata: ["revision": "\(spec.revisionID)"])
                launch(spec, environment)
            }
        }
    }

    /// How long a revision keeps running after its deployment last changed (rolled back, undeployed, …).
    static let drainSeconds = 5.0

    /// Exponential backoff between crash restarts of one revision: 0.5 s, 1 s, 2 s … 30 s.
    func restartDue(_ revisionID: String) -> Bool {
        restarts.withLock { restarts in
            let now = ContinuousClock.now
            let previous = restarts[revisionID]
            if let previous {
                let wait = Duration.milliseconds(min(30_000, 500 << min(previous.count, 6)))
                guard now - previous.at >= wait else { return false }
            }
            restarts[revisionID] = ((previous?.count ?? 0) + 1, now)
            return true
        }
    }

    // MARK: - Rollouts

    func advanceRollouts(_ environment: ServiceEnvironment) async throws {
        let rows = try await environment.postgres.query("""
            SELECT d.id, d.endpoint_name, d.step_index, EXTRACT(EPOCH FROM now() - d.step_started_at)::float8, r.id, r.address
            FROM deployments d JOIN revisions r ON r.id = d.revision_id WHERE d.status = 'rolling_out'
            """, logger: environment.logger)
        var rolling: [(String, String, Int, Double, String, String?)] = []
        for try await row in rows.decode((String, String, Int, Double, String, String?).self) { rolling.append(row) }
        for (deploymentID, endpoint, stepIndex, elapsed, revisionID, address) in rolling {
            let state = try await environment.store.state(EndpointDecider.self, aggregateID: endpoint)
            guard let deployment = state.deployment(deploymentID), deployment.requested.steps.indices.contains(stepIndex) else { continue }
            let step = deployment.requested.steps[stepIndex]
            guard elapsed >= Double(step.minDurationSeconds) else { continue }
            var healthy = false
            if let address { healthy = await HTTPProbe.isOK(URL(string: "\(address)/health")!, timeout: .seconds(1)) }
            let stats = await routerStats(revisionID: revisionID, windowSeconds: max(1, min(Int(elapsed.rounded(.up)), 300)), environment)
            let requests = stats?.requests ?? 0
            // Wait for the step's minimum number of requests, but not forever: after three times the step's
            // duration (at least a minute more) the gates are judged on what was seen.
            if requests < step.minRequests, elapsed < max(3 * Double(step.minDurationSeconds), Double(step.minDurationSeconds) + 60) { continue }
            let observation = RolloutPlan.Observation(healthy: healthy, requests: requests, errorRate: stats?.errorRate ?? 0, p99Ms: stats?.p99Ms ?? 0)
            switch RolloutPlan.evaluate(step, observation) {
            case .pass(let observed):
                try await environment.execute(EndpointDecider.self, aggregateID: endpoint,
                                              command: .passStep(deploymentID: deploymentID, stepIndex: Int32(stepIndex), observed: observed),
                                              metadata: Self.metadata())
            case .fail(let gate, let threshold, let observed, let reason):
                var failed = RolloutGateFailed()
                failed.deploymentID = deploymentID
                failed.stepIndex = Int32(stepIndex)
                failed.gate = gate
                failed.threshold = threshold
                failed.observedValue = observed
                failed.reason = reason
                environment.logger.warning("rollout gate failed; rolling back", metadata: ["deployment": "\(deploymentID)", "reason": "\(reason)"])
                try await environment.execute(EndpointDecider.self, aggregateID: endpoint, command: .failGate(failed), metadata: Self.metadata())
            }
        }
    }

    struct RevisionStats: Decodable {
        var revisionId: String
        var requests: Int64
        var errorRate: Double
        var p99Ms: Double
    }

    /// The router's view of the revision over the window; nil when the router cannot be asked (the metric
    /// gates then wait for data, and only health decides).
    func routerStats(revisionID: String, windowSeconds: Int, _ environment: ServiceEnvironment) async -> RevisionStats? {
        struct Body: Decodable { var revisions: [RevisionStats] }
        do {
            let request = HTTPClientRequest(url: "\(settings.routerAdminURL)/internal/stats?window_seconds=\(windowSeconds)")
            let response = try await environment.httpClient.execute(request, timeout: .seconds(2))
            guard response.status == .ok else { return nil }
            let bytes = try await response.body.collect(upTo: 4 << 20)
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let body = try decoder.decode(Body.self, from: Data(bytes.readableBytesView))
            return body.revisions.first { $0.revisionId == revisionID } ?? RevisionStats(revisionId: revisionID, requests: 0, errorRate: 0, p99Ms: 0)
        } catch {
            environment.logger.debug("router stats unavailable", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
