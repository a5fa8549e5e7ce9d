import AsyncAlgorithms
import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayLocalRuntime
import SlipwayPlatform
import Synchronization

/// Drives deployments forward from the read model: requests the auto-deploys training-svc asked for,
/// starts the revisions of requested deployments on the target, reports them ready or failed, walks gradual
/// rollouts through their gated steps, restarts crashed revisions, and stops the ones nothing needs any
/// more. Every decision is a command on the endpoint, so the log says what happened and why; the loop
/// itself only holds which starts are in flight.
///
/// A step every `controllerInterval` until graceful shutdown; revision starts run as child tasks of `run()`
/// and are cancelled then (a restarted deploy-svc adopts or restarts those revisions). With
/// `stopRevisionsOnExit`, every revision is stopped before `run()` returns.
public final class DeploymentController: Service {
    let settings: DeploySettings
    let target: any ServingTarget
    let environment: ServiceEnvironment
    let queries: DeployQueries
    private let launching = Mutex<Set<String>>([])
    /// Crash restarts per revision: (count, last attempt), for backoff.
    private let restarts = Mutex<[String: (count: Int, at: ContinuousClock.Instant)]>([:])

    public init(settings: DeploySettings, target: any ServingTarget, environment: ServiceEnvironment) {
        self.settings = settings
        self.target = target
        self.environment = environment
        self.queries = DeployQueries(environment: environment)
    }

    var logger: Logger { environment.logger }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for await _ in AsyncTimerSequence(interval: settings.controllerInterval, clock: .continuous).cancelOnGracefulShutdown() {
                do {
                    try await requestRunDeploys()
                    try await startRequested()
                    for spec in try await superviseRevisions() { launch(spec, in: &group) }
                    try await advanceRollouts()
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("deployment controller step failed", metadata: [LogKey.error: "\(error)"])
                }
            }
            group.cancelAll()
        }
        if settings.stopRevisionsOnExit { await target.stopAll() }
    }

    static func metadata() -> CommandMetadata { CommandMetadata(causationID: "deploy-controller", actor: "deploy-controller") }

    func execute(_ endpoint: String, _ command: EndpointDecider.Command) async throws {
        try await environment.execute(EndpointDecider.self, aggregateID: endpoint, command: command, metadata: Self.metadata())
    }

    // MARK: - Starting

    /// Auto-deploys training-svc asked for that have neither a deployment nor a rejection yet: the same
    /// `.deploy` command the API executes. One waits while its endpoint has another deployment in progress;
    /// a refused one is recorded, so the run learns why.
    func requestRunDeploys() async throws {
        let rows = try await environment.postgres.query(
            """
            SELECT q.run_id, q.model_name, q.version_number, q.endpoint_name, q.preset FROM run_deploy_requests q
            WHERE NOT EXISTS (SELECT 1 FROM deployments d WHERE d.source_run_id = q.run_id)
              AND NOT EXISTS (SELECT 1 FROM run_deploy_rejections j WHERE j.run_id = q.run_id)
            ORDER BY q.requested_at
            """, logger: logger)
        var pending: [(String, String, Int32, String, String)] = []
        for try await row in rows.decode((String, String, Int32, String, String).self) { pending.append(row) }
        for (runID, model, number, endpointName, preset) in pending {
            // registry-svc's event may reach this service after training-svc's request: wait for the version.
            guard let version = try await queries.knownVersion(model: model, number: number) else { continue }
            let name = try await queries.deployTarget(model: model, requested: endpointName.isEmpty ? nil : endpointName)
            if try await environment.store.state(EndpointDecider.self, aggregateID: name).inProgress != nil { continue }
            let endpoint = EndpointDecider.NewEndpoint(
                name: name, model: model, preset: preset, url: settings.endpointURL(name), createdBy: "auto-deploy")
            let request = EndpointDecider.DeployRequest(
                endpoint: endpoint, version: version, reason: "auto-deploy of training run \(runID)", sourceRunID: runID, requestedBy: "auto-deploy")
            do {
                try await execute(name, .deploy(request))
            } catch let refused as CommandRejected {
                logger.warning("auto-deploy refused", metadata: [LogKey.runID: "\(runID)", LogKey.error: "\(refused.message)"])
                try await execute(name, .rejectRunDeploy(.init(endpoint: name, runID: runID, error: refused.message)))
            }
        }
    }

    func startRequested() async throws {
        let rows = try await environment.postgres.query(
            """
            SELECT d.id, d.endpoint_name FROM deployments d WHERE d.status = 'requested' ORDER BY d.created_at
            """, logger: logger)
        var requested: [(String, String)] = []
        for try await row in rows.decode((String, String).self) { requested.append(row) }
        for (deploymentID, endpoint) in requested {
            try await execute(endpoint, .startRevision(deploymentID: deploymentID, target: .local))
        }
    }

    /// Starts (or adopts) a revision as a child task of `run()` and reports the outcome as a command. A start
    /// cut short by shutdown reports nothing: the next deploy-svc adopts or restarts the revision.
    func launch(_ spec: RevisionSpec, in group: inout DiscardingTaskGroup) {
        guard launching.withLock({ $0.insert(spec.revisionID).inserted }) else { return }
        group.addTask { [self] in
            defer { _ = launching.withLock { $0.remove(spec.revisionID) } }
            do {
                let (address, startupMs) = try await target.start(spec)
                try await execute(spec.endpoint, .revisionReady(revisionID: spec.revisionID, address: address, startupMs: startupMs))
            } catch {
                if error is CancellationError || Task.isCancelled { return }
                logger.warning("revision failed to start", metadata: [LogKey.revisionID: "\(spec.revisionID)", LogKey.error: "\(error)"])
                let failed = EndpointDecider.Command.revisionFailed(
                    revisionID: spec.revisionID, error: "\(error)", logTail: (error as? RevisionStartError)?.logTail ?? "")
                do {
                    try await execute(spec.endpoint, failed)
                } catch {
                    logger.warning("revision failure not recorded", metadata: [LogKey.revisionID: "\(spec.revisionID)", LogKey.error: "\(error)"])
                }
            }
        }
    }

    // MARK: - Supervising

    /// Keeps what serves or may serve soon running and stops the rest; returns the revisions to (re)start.
    func superviseRevisions() async throws -> [RevisionSpec] {
        let rows = try await environment.postgres.query(
            """
            SELECT r.id, r.endpoint_name, r.model_name, r.version_number, r.artifact_uri, r.address, r.status, r.traffic_percent,
                   d.status, d.ended_at > now() - make_interval(secs => \(Double(settings.rollbackWindowSeconds))),
                   d.updated_at > now() - make_interval(secs => \(Self.drainSeconds))
            FROM revisions r JOIN deployments d ON d.id = r.deployment_id
            WHERE r.status <> 'stopped'
            """, logger: logger)
        var revisions: [(RevisionSpec, String, Int, String, Bool?, Bool)] = []
        for try await (id, endpoint, model, version, artifact, address, status, traffic, deploymentStatus, recentlyEnded, draining)
            in rows.decode((String, String, String, Int32, String, String?, String, Int, String, Bool?, Bool).self)
        {
            let spec = RevisionSpec(
                revisionID: id, endpoint: endpoint, modelName: model, versionNumber: version, artifactURI: artifact,
                resources: ServingResources(), previousAddress: address)
            revisions.append((spec, status, traffic, deploymentStatus, recentlyEnded, draining))
        }
        var toStart: [RevisionSpec] = []
        for (spec, status, traffic, deploymentStatus, recentlyEnded, draining) in revisions {
            let inFlight = launching.withLock { $0.contains(spec.revisionID) }
            // A revision that just lost its traffic keeps running a few seconds more: serving-router learns of
            // the new split through Kafka (tens of ms) and may still have requests on their way to it.
            let keep =
                traffic > 0 || draining || ["deploying", "rolling_out"].contains(deploymentStatus)
                || (["active", "inactive"].contains(deploymentStatus) && recentlyEnded != false)
            if !keep {
                guard !inFlight else { continue }
                try await execute(spec.endpoint, .stopRevision(revisionID: spec.revisionID, reason: "not serving (deployment \(deploymentStatus))"))
                await target.stop(spec.revisionID)
                continue
            }
            guard !inFlight else { continue }
            if status == "starting" {
                toStart.append(spec)  // first start, or one interrupted by a deploy-svc restart
            } else if deploymentStatus != "deploying", !target.isRunning(spec.revisionID), restartDue(spec.revisionID) {
                if status == "ready" {
                    try await execute(
                        spec.endpoint, .revisionFailed(revisionID: spec.revisionID, error: "model-server is not running; restarting it", logTail: ""))
                }
                logger.warning("restarting revision", metadata: [LogKey.revisionID: "\(spec.revisionID)"])
                toStart.append(spec)
            }
        }
        return toStart
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

    func advanceRollouts() async throws {
        let rows = try await environment.postgres.query(
            """
            SELECT d.id, d.endpoint_name, d.step_index, d.step_started_at, EXTRACT(EPOCH FROM now() - d.step_started_at)::float8, r.id, r.address,
                d.created_at
            FROM deployments d JOIN revisions r ON r.id = d.revision_id WHERE d.status = 'rolling_out'
            """, logger: logger)
        var rolling: [(String, String, Int, Date, Double, String, String?, Date)] = []
        for try await row in rows.decode((String, String, Int, Date, Double, String, String?, Date).self) { rolling.append(row) }
        for (deploymentID, endpoint, stepIndex, stepStarted, elapsed, revisionID, address, requestedAt) in rolling {
            let state = try await environment.store.state(EndpointDecider.self, aggregateID: endpoint)
            guard let deployment = state.deployment(deploymentID), deployment.requested.steps.indices.contains(stepIndex) else { continue }
            let step = deployment.requested.steps[stepIndex]
            // The step's endpoint test is asked for as the step begins, so its verdict is there by the step's end.
            var endpointTest: RolloutPlan.Observation.EndpointTest?
            if step.gates.contains(where: { $0.kind == .endpointTest }), let address {
                endpointTest = await rolloutTest(deploymentID: deploymentID, stepIndex: stepIndex, revisionAddress: address)
            }
            let stepEnded = elapsed >= Double(step.minDurationSeconds)
            // A rollout that rolls back on alerts asks on every tick, not only at the step's end.
            guard stepEnded || deployment.requested.rollbackOnAlert else { continue }
            let figures = await revisionFigures(revisionID: revisionID, endpoint: endpoint, since: stepStarted, alertsSince: requestedAt)
            if deployment.requested.rollbackOnAlert, let alerts = figures?.alertsFiredSinceStart, alerts > 0 {
                logger.warning("an alert fired during the rollout; rolling back", metadata: [LogKey.deploymentID: "\(deploymentID)"])
                try await execute(
                    endpoint,
                    .alertFired(deploymentID: deploymentID, alerts: alerts, reason: "\(alerts) alert(s) fired on '\(endpoint)' during the rollout"))
                continue
            }
            guard stepEnded else { continue }
            var healthy = false
            if let address, let url = URL(string: "\(address)/health") { healthy = await HTTPProbe.isOK(url, timeout: .seconds(1)) }
            switch RolloutPlan.evaluate(step, RolloutPlan.Observation(healthy: healthy, figures: figures, endpointTest: endpointTest)) {
            case .pass(let observed):
                try await execute(endpoint, .passStep(deploymentID: deploymentID, stepIndex: Int32(stepIndex), observed: observed))
            case .fail(let gate, let threshold, let observed, let reason):
                logger.warning("rollout gate failed; rolling back", metadata: [LogKey.deploymentID: "\(deploymentID)", LogKey.reason: "\(reason)"])
                let failure = EndpointDecider.GateFailure(
                    deploymentID: deploymentID, stepIndex: Int32(stepIndex), gate: gate, threshold: threshold, observed: observed, reason: reason)
                try await execute(endpoint, .failGate(failure))
            case .inconclusive(let gate, let reason):
                // Wait for the step's requests (or figures), but not forever: past three times the step's duration
                // (at least a minute more) a step that still cannot be judged fails instead of passing on nothing,
                // or holds (keeps waiting, recorded once) when the rollout asked for that.
                guard elapsed >= Self.inconclusiveDeadline(step) else { continue }
                let failure = EndpointDecider.GateFailure(
                    deploymentID: deploymentID, stepIndex: Int32(stepIndex), gate: gate, reason: "inconclusive after \(Int(elapsed)) s: \(reason)")
                try await execute(endpoint, .stepUnjudged(failure))
            }
        }
    }

    /// testing-svc's test of the step's new revision: asked for once (testing-svc keys it by deployment and step), then
    /// its verdict; nil when testing-svc cannot be asked or does not know the deployment yet (the gate waits).
    func rolloutTest(deploymentID: String, stepIndex: Int, revisionAddress: String) async -> RolloutPlan.Observation.EndpointTest? {
        struct Verdict: Decodable {
            var status: String
            var summary: String
        }
        let body: [String: Any] = ["deployment_id": deploymentID, "step_index": stepIndex, "revision_address": revisionAddress]
        do {
            let answer = try await environment.callPeer(
                "testing", .POST, "/internal/rollout-tests", object: body, actor: "deploy-controller", timeout: .seconds(5))
            guard answer.isSuccess else { return nil }
            let verdict = try PlatformJSON.decoder.decode(Verdict.self, from: Data(answer.body))
            switch verdict.status {
            case "passed": return .passed
            case "running": return .running
            default: return .failed(verdict.summary.isEmpty ? verdict.status : verdict.summary)
            }
        } catch {
            logger.debug("testing-svc's rollout test unavailable", metadata: [LogKey.error: "\(error)"])
            return nil
        }
    }

    static func inconclusiveDeadline(_ step: RolloutStep) -> Double {
        max(3 * Double(step.minDurationSeconds), Double(step.minDurationSeconds) + 60)
    }

    struct RevisionFigures: Decodable {
        var requests: Int64
        /// 5xx only: a client's malformed request says nothing about the new revision.
        var serverErrorRate: Double
        var p95Ms: Double?
        var p99Ms: Double?
        var firingAlerts: Int
        var alertsFiredSince: Int
    }

    /// metrics-svc's figures for the revision since the step began; nil when it cannot be asked (the metric gates
    /// are then inconclusive and wait).
    func revisionFigures(revisionID: String, endpoint: String, since: Date, alertsSince: Date) async -> RolloutPlan.Observation.Figures? {
        do {
            var components = URLComponents()
            components.path = "/internal/revisions/\(revisionID)/figures"
            components.queryItems = [
                URLQueryItem(name: "since", value: ISO8601.millisecondString(since)), URLQueryItem(name: "endpoint_id", value: endpoint),
                URLQueryItem(name: "alerts_since", value: ISO8601.millisecondString(alertsSince)),
            ]
            guard let path = components.string else { return nil }
            let answer = try await environment.callPeer("metrics", .GET, path, timeout: .seconds(2))
            guard answer.status == 200 else { return nil }
            let body = try PlatformJSON.decoder.decode(RevisionFigures.self, from: Data(answer.body))
            return .init(
                requests: body.requests, errorRate: body.serverErrorRate, p95Ms: body.p95Ms, p99Ms: body.p99Ms, firingAlerts: body.firingAlerts,
                alertsFiredSinceStart: body.alertsFiredSince)
        } catch {
            logger.debug("metrics-svc figures unavailable", metadata: [LogKey.error: "\(error)"])
            return nil
        }
    }
}
