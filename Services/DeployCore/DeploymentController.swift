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
/// rollouts through their gated steps, scales revisions between their min and max instances by load (and to zero
/// and back), restarts crashed instances, and stops the revisions nothing needs any more. Every decision is a
/// command on the endpoint, so the log says what happened and why; the loop itself only holds which starts are in
/// flight and the load window.
///
/// A step every `controllerInterval` until graceful shutdown; revision starts run as child tasks of `run()`
/// and are cancelled then (a restarted deploy-svc adopts or restarts those revisions). With
/// `stopRevisionsOnExit`, every revision is stopped before `run()` returns. Of several deploy-svc replicas, one
/// controls at a time (`leadership`, a PostgreSQL advisory lock); the others wait to take over.
public final class DeploymentController: Service {
    let settings: DeploySettings
    let target: any ServingTarget
    let environment: ServiceEnvironment
    let queries: DeployQueries
    private let launching = Mutex<Set<String>>([])
    /// Revisions whose instances are being changed (scaled, woken, an instance restarted): one change at a time each.
    private let scaling = Mutex<Set<String>>([])
    /// Instances ("<revision>#<k>") a shrink removed that still run until their drain ends.
    private let draining = Mutex<Set<String>>([])
    /// Crash restarts per revision instance: (count, last attempt), for backoff.
    private let restarts = Mutex<[String: (count: Int, at: ContinuousClock.Instant)]>([:])
    /// serving-routers' load over the autoscale window, polled every second.
    private let load: Mutex<LoadWindow>
    private let lastPoll = Mutex<ContinuousClock.Instant?>(nil)
    private let started = ContinuousClock.now
    /// Held by the one replica whose controller acts.
    public let leadership = Leadership(name: "deploy-controller")

    public init(settings: DeploySettings, target: any ServingTarget, environment: ServiceEnvironment) {
        self.settings = settings
        self.target = target
        self.environment = environment
        self.queries = DeployQueries(environment: environment)
        self.load = Mutex(LoadWindow(windowSeconds: settings.autoscaleWindowSeconds))
    }

    var logger: Logger { environment.logger }

    public func run() async throws {
        await leadership.run(postgres: environment.postgres, logger: logger) { [self] in try await control() }
    }

    /// The controller's loop while this replica leads. Cancelled when the lock is lost: then it leaves the revisions
    /// running for the next leader; when the service stops (gracefully, or cancelled) it stops them if configured.
    func control() async throws {
        await withDiscardingTaskGroup { group in
            for await _ in AsyncTimerSequence(interval: settings.controllerInterval, clock: .continuous).cancelOnGracefulShutdown() {
                do {
                    try await requestRunDeploys()
                    try await startRequested()
                    await pollRouterLoad()
                    let actions = try await superviseRevisions()
                    for spec in actions.launches { launch(spec, in: &group) }
                    for change in actions.changes { apply(change, in: &group) }
                    try await advanceRollouts()
                } catch is CancellationError {
                    break
                } catch {
                    logger.warning("deployment controller step failed", metadata: [LogKey.error: "\(error)"])
                }
            }
            group.cancelAll()
        }
        if settings.stopRevisionsOnExit, !leadership.lostLock { await target.stopAll() }
        try Task.checkCancellation()
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
                name: name, model: model, preset: preset.isEmpty ? nil : preset, url: settings.endpointURL(name), createdBy: "auto-deploy")
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
            try await execute(endpoint, .startRevision(deploymentID: deploymentID, target: settings.servingTarget))
        }
    }

    /// Starts (or adopts) a revision as a child task of `run()` and reports the outcome as a command. A start
    /// cut short by shutdown reports nothing: the next deploy-svc adopts or restarts the revision.
    func launch(_ spec: RevisionSpec, in group: inout DiscardingTaskGroup) {
        guard launching.withLock({ $0.insert(spec.revisionID).inserted }) else { return }
        group.addTask { [self] in
            defer { _ = launching.withLock { $0.remove(spec.revisionID) } }
            do {
                let (address, startupMs) = try await target.start(spec, instance: 0)
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

    /// What one supervision pass asks for: revisions to start (or restart) and changes to ready revisions' instances.
    struct SupervisionActions {
        var launches: [RevisionSpec] = []
        var changes: [InstanceChange] = []
    }

    /// A change to a ready revision's instances, carried out as a child task of `run()` (`apply`). Instance `k` is
    /// always `addresses[k]`: a revision grows and shrinks at the end.
    enum InstanceChange {
        /// Start instances up to `count` and record them.
        case grow(RevisionSpec, addresses: [String], to: Int, cause: RevisionScaleCause, reason: String)
        /// Record the first `count` only, then stop the others once the routers have moved off them.
        case shrink(RevisionSpec, addresses: [String], to: Int, cause: RevisionScaleCause, reason: String)
        /// Start instance `index` again after a crash, at its address when that port is free.
        case restart(RevisionSpec, addresses: [String], index: Int)
        /// Stop instances that run but are not recorded (a drain a deploy-svc restart cut short).
        case stopStrays(RevisionSpec, indices: [Int])

        var spec: RevisionSpec {
            switch self {
            case .grow(let spec, _, _, _, _), .shrink(let spec, _, _, _, _), .restart(let spec, _, _), .stopStrays(let spec, _): spec
            }
        }
    }

    /// Keeps what serves or may serve soon running — each ready revision at the instances the autoscaler decides —
    /// and stops the rest; returns what to start and what to change.
    func superviseRevisions() async throws -> SupervisionActions {
        let rows = try await environment.postgres.query(
            """
            SELECT r.id, r.endpoint_name, r.model_name, r.version_number, r.artifact_uri, r.address, r.status, r.traffic_percent,
                   d.status, d.ended_at > now() - make_interval(secs => \(Double(settings.rollbackWindowSeconds))),
                   d.updated_at > now() - make_interval(secs => \(Self.drainSeconds)), r.addresses, r.resources,
                   EXTRACT(EPOCH FROM now() - COALESCE(r.scaled_at, r.ready_at, r.started_at))::float8
            FROM revisions r JOIN deployments d ON d.id = r.deployment_id
            WHERE r.status <> 'stopped'
            """, logger: logger)
        struct Row {
            var spec: RevisionSpec
            var status: String
            var traffic: Int
            var deploymentStatus: String
            var recentlyEnded: Bool?
            var draining: Bool
            var addresses: [String]
            var bounds: ClosedRange<Int>
            var sinceScaled: Double
        }
        var revisions: [Row] = []
        for try await (
            id, endpoint, model, version, artifact, address, status, traffic, deploymentStatus, recentlyEnded, draining, addresses, resources,
            sinceScaled
        )
            in rows.decode((String, String, String, Int32, String, String?, String, Int, String, Bool?, Bool, [String], String, Double).self)
        {
            let column = try? DeployColumns.decodeResources(resources)
            let spec = RevisionSpec(
                revisionID: id, endpoint: endpoint, modelName: model, versionNumber: version, artifactURI: artifact,
                resources: column?.servingResources ?? ServingResources(), previousAddress: address)
            let bounds = EndpointDecider.instanceBounds(min: column?.minInstances ?? 0, max: column?.maxInstances ?? 0)
            revisions.append(
                Row(
                    spec: spec, status: status, traffic: traffic, deploymentStatus: deploymentStatus, recentlyEnded: recentlyEnded,
                    draining: draining, addresses: addresses, bounds: bounds, sinceScaled: sinceScaled))
        }
        var actions = SupervisionActions()
        let now = secondsSinceStart()
        for row in revisions {
            let spec = row.spec
            let busy = launching.withLock { $0.contains(spec.revisionID) } || scaling.withLock { $0.contains(spec.revisionID) }
            // A revision that just lost its traffic keeps running a few seconds more: serving-router learns of
            // the new split through Kafka (tens of ms) and may still have requests on their way to it.
            let keep =
                row.traffic > 0 || row.draining || ["deploying", "rolling_out"].contains(row.deploymentStatus)
                || (["active", "inactive"].contains(row.deploymentStatus) && row.recentlyEnded != false)
            if !keep {
                guard !busy else { continue }
                try await execute(
                    spec.endpoint, .stopRevision(revisionID: spec.revisionID, reason: "not serving (deployment \(row.deploymentStatus))"))
                await target.stop(spec.revisionID)
                continue
            }
            guard !busy else { continue }
            if row.status == "starting" {
                actions.launches.append(spec)  // first start, or one interrupted by a deploy-svc restart
                continue
            }
            guard row.deploymentStatus != "deploying" else { continue }
            // Instance 0 is the revision's own start (RevisionReady); a revision scaled to zero runs none.
            if row.status == "failed" || !row.addresses.isEmpty, !(await target.isRunning(spec.revisionID, instance: 0)) {
                if restartDue(spec.revisionID) {
                    if row.status == "ready" {
                        try await execute(
                            spec.endpoint,
                            .revisionFailed(revisionID: spec.revisionID, error: "model-server is not running; restarting it", logTail: ""))
                    }
                    logger.warning("restarting revision", metadata: [LogKey.revisionID: "\(spec.revisionID)"])
                    actions.launches.append(spec)
                }
                continue
            }
            // Past here, instances: a kubernetes revision's pods are its Deployment's, scaled by its HPA.
            guard row.status == "ready", settings.servingTarget == .local else { continue }
            let strays = await target.runningInstances(spec.revisionID).filter { index in
                index >= row.addresses.count && !draining.withLock { $0.contains("\(spec.revisionID)#\(index)") }
            }
            if !strays.isEmpty {
                logger.warning(
                    "stopping unrecorded revision instances", metadata: [LogKey.revisionID: "\(spec.revisionID)", LogKey.instances: "\(strays)"])
                actions.changes.append(.stopStrays(spec, indices: strays))
                continue
            }
            var crashed: Int?
            for index in row.addresses.indices.dropFirst() where !(await target.isRunning(spec.revisionID, instance: index)) {
                crashed = index
                break
            }
            if let crashed {
                if restartDue("\(spec.revisionID)#\(crashed)") {
                    logger.warning("restarting revision instance", metadata: [LogKey.revisionID: "\(spec.revisionID)#\(crashed)"])
                    actions.changes.append(.restart(spec, addresses: row.addresses, index: crashed))
                }
                continue
            }
            let observation = Autoscaler.Observation(
                instances: row.addresses.count, bounds: row.bounds, serving: row.traffic > 0,
                inFlight: load.withLock { $0.inFlight(spec.revisionID, at: now) },
                idleSeconds: min(now - (load.withLock { $0.lastActive(spec.revisionID) } ?? 0), row.sinceScaled),
                sinceLastScaleSeconds: row.sinceScaled)
            guard let decision = settings.autoscaler.decide(observation) else { continue }
            logger.info(
                "scaling revision",
                metadata: [
                    LogKey.revisionID: "\(spec.revisionID)", LogKey.instances: "\(row.addresses.count)->\(decision.instances)",
                    LogKey.reason: "\(decision.reason)",
                ])
            if decision.instances > row.addresses.count {
                actions.changes.append(.grow(spec, addresses: row.addresses, to: decision.instances, cause: decision.cause, reason: decision.reason))
            } else {
                actions.changes.append(
                    .shrink(spec, addresses: row.addresses, to: decision.instances, cause: decision.cause, reason: decision.reason))
            }
        }
        return actions
    }

    // MARK: - Scaling

    /// Carries out an instance change as a child task of `run()`; one at a time per revision. Instances a shrink removed
    /// are stopped after the drain, outside that one-at-a-time: a request may wake the revision meanwhile.
    func apply(_ change: InstanceChange, in group: inout DiscardingTaskGroup) {
        let spec = change.spec
        guard scaling.withLock({ $0.insert(spec.revisionID).inserted }) else { return }
        group.addTask { [self] in
            var removed: [(index: Int, address: String)] = []
            do {
                defer { _ = scaling.withLock { $0.remove(spec.revisionID) } }
                removed = try await carryOut(change)
            } catch {
                if error is CancellationError || Task.isCancelled { return }
                logger.warning("revision instance change failed", metadata: [LogKey.revisionID: "\(spec.revisionID)", LogKey.error: "\(error)"])
            }
            guard !removed.isEmpty else { return }
            let keys = removed.map { "\(spec.revisionID)#\($0.index)" }
            draining.withLock { $0.formUnion(keys) }
            defer { draining.withLock { $0.subtract(keys) } }
            // Requests already sent to the removed instances finish first: the routers learn of the change through Kafka.
            do { try await Task.sleep(for: .seconds(Self.drainSeconds)) } catch { return }
            await stopDrained(spec, removed)
        }
    }

    /// Stops the instances a shrink removed — unless the revision took them back meanwhile (a wake or a grow adopts the
    /// process that still runs, so a request right after scaling to zero finds it warm).
    func stopDrained(_ spec: RevisionSpec, _ removed: [(index: Int, address: String)]) async {
        while !scaling.withLock({ $0.insert(spec.revisionID).inserted }) {
            do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
        }
        defer { _ = scaling.withLock { $0.remove(spec.revisionID) } }
        var recorded: [String] = []
        do {
            let rows = try await environment.postgres.query(
                "SELECT addresses FROM revisions WHERE id = \(spec.revisionID) AND status <> 'stopped'", logger: logger)
            for try await addresses in rows.decode([String].self) { recorded = addresses }
        } catch {
            logger.warning("cannot read a revision's instances; stopping the drained ones", metadata: [LogKey.error: "\(error)"])
        }
        for (index, address) in removed where !recorded.contains(address) { await target.stop(spec.revisionID, instance: index) }
    }

    /// Carries the change out; returns the instances it removed from the record, still running until drained.
    func carryOut(_ change: InstanceChange) async throws -> [(index: Int, address: String)] {
        switch change {
        case .grow(let spec, let addresses, let count, let cause, let reason):
            // The new instances start together; the ones up to the first that failed are recorded (instance k is always
            // addresses[k]), any started past it stopped.
            var started: [Int: (address: String, startupMs: Int64)] = [:]
            try await withThrowingTaskGroup(of: (Int, String, Int64)?.self) { group in
                for index in addresses.count..<count {
                    group.addTask { [self] in
                        do {
                            let (address, ms) = try await target.start(spec, instance: index)
                            return (index, address, ms)
                        } catch {
                            if error is CancellationError { throw error }
                            logger.warning(
                                "revision instance failed to start",
                                metadata: [LogKey.revisionID: "\(spec.revisionID)#\(index)", LogKey.error: "\(error)"])
                            return nil
                        }
                    }
                }
                for try await result in group { if let (index, address, ms) = result { started[index] = (address, ms) } }
            }
            var grown = addresses
            var startupMs: Int64 = 0
            while let next = started[grown.count] {
                grown.append(next.address)
                startupMs = max(startupMs, next.startupMs)
            }
            for index in started.keys where index >= grown.count { await target.stop(spec.revisionID, instance: index) }
            guard grown.count > addresses.count else { return [] }
            try await execute(
                spec.endpoint,
                .scaleRevision(.init(revisionID: spec.revisionID, addresses: grown, cause: cause, reason: reason, startupMs: startupMs)))
            touch(spec.revisionID)
            return []
        case .shrink(let spec, let addresses, let count, let cause, let reason):
            try await execute(
                spec.endpoint,
                .scaleRevision(.init(revisionID: spec.revisionID, addresses: Array(addresses.prefix(count)), cause: cause, reason: reason)))
            return (count..<addresses.count).map { ($0, addresses[$0]) }
        case .restart(var spec, let addresses, let index):
            spec.previousAddress = addresses[index]
            let (address, _) = try await target.start(spec, instance: index)
            guard address != addresses[index] else { return [] }
            var moved = addresses
            moved[index] = address
            try await execute(
                spec.endpoint,
                .scaleRevision(
                    .init(revisionID: spec.revisionID, addresses: moved, cause: .restart, reason: "instance \(index) restarted at a new address")))
            return []
        case .stopStrays(let spec, let indices):
            for index in indices { await target.stop(spec.revisionID, instance: index) }
            return []
        }
    }

    /// How a wake request ended.
    public enum WakeOutcome: String, Sendable {
        /// Its first instance started now.
        case woken
        /// It had an instance already.
        case running
        /// Another change of its instances is in progress (a wake among them): the caller waits for the routing table.
        case starting
    }

    /// Starts the first instance of a revision scaled to zero, for a request serving-router holds
    /// (`POST /internal/revisions/{id}/wake`). Returns once it is recorded, with how long the start took.
    public func wake(_ revisionID: String) async throws -> (outcome: WakeOutcome, startupMs: Int64) {
        guard leadership.isLeading else {
            throw APIError(.serviceUnavailable, code: "not_leading", message: "this deploy-svc replica does not run the controller; try another")
        }
        let rows = try await environment.postgres.query(
            """
            SELECT endpoint_name, model_name, version_number, artifact_uri, address, status, addresses FROM revisions WHERE id = \(revisionID)
            """, logger: logger)
        var found: (RevisionSpec, String, [String])?
        for try await (endpoint, model, version, artifact, address, status, addresses) in rows.decode(
            (String, String, Int32, String, String?, String, [String]).self)
        {
            let spec = RevisionSpec(
                revisionID: revisionID, endpoint: endpoint, modelName: model, versionNumber: version, artifactURI: artifact,
                resources: ServingResources(), previousAddress: address)
            found = (spec, status, addresses)
        }
        guard let (spec, status, addresses) = found, status != "stopped" else {
            throw CommandRejected(.notFound, field: "revision", "no running revision \(revisionID)")
        }
        guard addresses.isEmpty else { return (.running, 0) }
        guard status == "ready", scaling.withLock({ $0.insert(revisionID).inserted }) else { return (.starting, 0) }
        defer { _ = scaling.withLock { $0.remove(revisionID) } }
        let (address, startupMs) = try await target.start(spec, instance: 0)
        try await execute(
            spec.endpoint,
            .scaleRevision(
                .init(
                    revisionID: revisionID, addresses: [address], cause: .wake, reason: "a request arrived while it was scaled to zero",
                    startupMs: startupMs)))
        touch(revisionID)
        logger.info("woke revision", metadata: [LogKey.revisionID: "\(revisionID)", LogKey.startupMs: "\(startupMs)"])
        return (.woken, startupMs)
    }

    /// Reads every serving-router's load once a second into the window.
    func pollRouterLoad() async {
        let now = ContinuousClock.now
        let due = lastPoll.withLock { last in
            guard last.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return }
        var reports: [String: RouterLoadReport?] = [:]
        await withTaskGroup(of: (String, RouterLoadReport?).self) { group in
            for url in settings.routerAdminURLs {
                group.addTask { [environment] in
                    do {
                        let response = try await environment.httpClient.execute(HTTPClientRequest(url: url + "/internal/load"), timeout: .seconds(1))
                        guard response.status == .ok else { return (url, nil) }
                        let body = try await response.body.collect(upTo: 4 << 20)
                        return (url, try JSONDecoder().decode(RouterLoadReport.self, from: body))
                    } catch {
                        return (url, nil)
                    }
                }
            }
            for await (url, report) in group { reports[url] = report }
        }
        let at = secondsSinceStart()
        load.withLock { $0.add(reports, at: at) }
    }

    func touch(_ revisionID: String) {
        let at = secondsSinceStart()
        load.withLock { $0.touch(revisionID, at: at) }
    }

    func secondsSinceStart() -> Double {
        let elapsed = ContinuousClock.now - started
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
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
