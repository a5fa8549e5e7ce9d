/// An endpoint and what serves it, folded from the Endpoint aggregate's deploy events: its deployments
/// (attempts to put a model version on it), their revisions (one model-server each) and the traffic split.
/// The one fold of that stream: deploy-svc decides against it, serving-router routes by it.
///
/// It also folds a partial history (serving-router starts from a snapshot of running revisions, then
/// applies newer events): a revision or deployment an event refers to but the state has not seen is
/// created from what the event carries.
public struct EndpointState: Sendable {
    /// The aggregate type of an endpoint's events (the aggregate id is the endpoint's name).
    public static let aggregateType = "Endpoint"

    public struct Deployment: Sendable {
        public var requested: DeploymentRequested
        public var status: DeployStatus = .requested
        public var revisionID: String?
        /// Index of the rollout step in progress (gradual), -1 before the first.
        public var stepIndex: Int32 = -1
        /// The step (index) that passed its deadline unjudged and holds, if the current one does.
        public var heldStepIndex: Int32?

        public init(requested: DeploymentRequested) { self.requested = requested }

        public var id: String { requested.deploymentID }
        public var isInProgress: Bool { [.requested, .deploying, .rollingOut].contains(status) }
    }

    public struct Revision: Sendable, Equatable {
        public var id: String
        public var deploymentID: String
        /// The first instance's address (`RevisionReady`'s); nil before it was ready, or while scaled to zero.
        public var address: String? { addresses.first }
        /// Every instance serving it (one until a `RevisionScaled`); empty before it is ready or while scaled to zero.
        public var addresses: [String] = []
        public var modelVersionID = ""
        public var versionNumber: Int32 = 0
        public var ready = false
        public var stopped = false
        /// Its instances' bounds, from the endpoint's resources when it started (0 and 0 when unknown: one instance).
        public var minInstances: Int32 = 0
        public var maxInstances: Int32 = 0

        public init(id: String, deploymentID: String, address: String? = nil) {
            self.id = id
            self.deploymentID = deploymentID
            self.addresses = address.map { [$0] } ?? []
        }

        /// Running and healthy: traffic can go (back) to it at once (scaled to zero, the first request wakes it).
        public var isWarm: Bool { ready && !stopped }
    }

    /// The creation event, with later updates (preset, resources, description) applied.
    public var endpoint: EndpointCreated?
    public var name = ""
    public var modelName = ""
    public var deleted = false
    /// In request order: `deployments[i].requested.deploymentNumber == i + 1` for a complete history.
    public var deployments: [Deployment] = []
    public var revisions: [String: Revision] = [:]
    /// revision id → percent; empty when nothing serves.
    public var traffic: [String: Int32] = [:]
    public var activeDeploymentID: String?

    public init() {}

    public var exists: Bool { endpoint != nil && !deleted }
    public func deployment(_ id: String) -> Deployment? { deployments.first { $0.id == id } }
    public var inProgress: Deployment? { deployments.last { $0.isInProgress } }
    public var active: Deployment? { activeDeploymentID.flatMap(deployment) }
    /// What the endpoint is moving to (the deployment in progress) or serves (the active one).
    public var current: Deployment? { inProgress ?? active }

    public mutating func apply(_ event: DeployEvent) {
        switch event {
        case .endpointCreated(let e):
            endpoint = e
            name = e.name
            modelName = e.registeredModelID.isEmpty ? e.modelName : e.registeredModelID
            deleted = false
        case .endpointUpdated(let e):
            if e.hasResources { endpoint?.resources = e.resources }
            if e.preset != .unspecified { endpoint?.preset = e.preset }
            if e.updatedFields.contains("description") { endpoint?.descriptionText = e.descriptionText }
        case .endpointDeleted(let e):
            if name.isEmpty { name = e.name }
            deleted = true
            traffic = [:]
        case .deploymentRequested(let e):
            deployments.append(Deployment(requested: e))
        case .revisionStarted(let e):
            var revision = revisions[e.revisionID] ?? Revision(id: e.revisionID, deploymentID: e.deploymentID)
            revision.deploymentID = e.deploymentID
            revision.modelVersionID = e.modelVersionID
            revision.versionNumber = e.versionNumber
            revision.minInstances = e.resources.minInstances
            revision.maxInstances = e.resources.maxInstances
            revisions[e.revisionID] = revision
            updateDeployment(e.deploymentID) {
                $0.status = .deploying; $0.revisionID = e.revisionID
            }
        case .revisionReady(let e):
            var revision = revisions[e.revisionID] ?? Revision(id: e.revisionID, deploymentID: e.deploymentID)
            revision.ready = true
            // A restarted first instance may come back on another port; the others keep theirs.
            if revision.addresses.isEmpty { revision.addresses = [e.address] } else { revision.addresses[0] = e.address }
            if !e.deploymentID.isEmpty { revision.deploymentID = e.deploymentID }
            if !e.modelVersionID.isEmpty { revision.modelVersionID = e.modelVersionID }
            revisions[e.revisionID] = revision
        case .revisionScaled(let e):
            var revision = revisions[e.revisionID] ?? Revision(id: e.revisionID, deploymentID: e.deploymentID)
            revision.ready = true
            revision.addresses = e.addresses
            revisions[e.revisionID] = revision
        case .revisionFailed(let e):
            revisions[e.revisionID]?.ready = false
        case .revisionStopped(let e):
            revisions[e.revisionID]?.stopped = true
            revisions[e.revisionID]?.ready = false
            traffic[e.revisionID] = nil
        case .trafficShifted(let e):
            traffic = e.traffic
            for (revisionID, modelVersionID) in e.revisionVersions {
                var revision = revisions[revisionID] ?? Revision(id: revisionID, deploymentID: "")
                revision.modelVersionID = modelVersionID
                revisions[revisionID] = revision
            }
            if e.reason == .manualSplit { settleSplit(e.traffic) }
        case .rolloutStepStarted(let e):
            updateDeployment(e.deploymentID) {
                $0.status = .rollingOut; $0.stepIndex = e.stepIndex; $0.heldStepIndex = nil
            }
        case .rolloutStepHeld(let e):
            updateDeployment(e.deploymentID) { $0.heldStepIndex = e.stepIndex }
        case .deploymentActivated(let e):
            if let previous = activeDeploymentID, previous != e.deploymentID { updateDeployment(previous) { $0.status = .inactive } }
            updateDeployment(e.deploymentID) { $0.status = .active }
            activeDeploymentID = e.deploymentID
        case .deploymentFailed(let e):
            updateDeployment(e.deploymentID) { $0.status = .failed }
        case .rolledBack(let e):
            // A rollback that started its version again follows that deployment's activation, which has
            // already superseded the deployment it replaced (inactive, kept warm like any superseded one).
            updateDeployment(e.fromDeploymentID) { if $0.status == .active || $0.isInProgress { $0.status = .rolledBack } }
            updateDeployment(e.toDeploymentID) { $0.status = .active }
            activeDeploymentID = e.toDeploymentID
        case .undeployed:
            for index in deployments.indices where deployments[index].isInProgress || deployments[index].status == .active {
                deployments[index].status = .undeployed
            }
            activeDeploymentID = nil
            traffic = [:]
        case .rolloutStepPassed, .rolloutGateFailed:
            break  // the step's traffic and the deployment's end arrive as their own events
        case .apiKeyCreated, .apiKeyRevoked, .apiKeyUsed:
            break  // events of the ApiKey aggregate, never in an endpoint's stream
        }
    }

    // MARK: Rollback

    /// What a rollback to a deployment does. The one rule: deploy-svc decides rollbacks by it and shows it
    /// on every deployment (`rollback_available`, `rollback_instant`).
    public enum RollbackPath: Sendable, Equatable {
        /// Its revision still runs: the traffic moves back to it at once.
        case instant(revisionID: String)
        /// Its revision has stopped or failed: its version is deployed again, recorded as a rollback.
        case redeploy
        /// It is what the endpoint serves or is moving to.
        case unavailable
    }

    public func rollbackPath(to target: Deployment) -> RollbackPath {
        if target.isInProgress || target.id == current?.id { return .unavailable }
        if let revisionID = target.revisionID, revisions[revisionID]?.isWarm == true { return .instant(revisionID: revisionID) }
        return .redeploy
    }

    /// Where a rollback goes when none is named: the deployment that served before the current one. During
    /// a rollout that is the active deployment (it still takes the rest of the traffic); otherwise the most
    /// recent other deployment that has served (superseded, or sharing a split).
    public var defaultRollbackTarget: Deployment? {
        let current = self.current
        if let current, current.isInProgress, let active, active.id != current.id { return active }
        return deployments.last { $0.id != current?.id && ($0.status == .active || $0.status == .inactive) }
    }

    /// In an A/B split every deployment with a share is serving; the one with the largest share is "the"
    /// active one (what a rollback rolls back from).
    private mutating func settleSplit(_ split: [String: Int32]) {
        let serving = Set(split.keys.compactMap { revisions[$0]?.deploymentID })
        for index in deployments.indices {
            if serving.contains(deployments[index].id) {
                deployments[index].status = .active
            } else if deployments[index].status == .active {
                deployments[index].status = .inactive
            }
        }
        if let top = split.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }), let id = revisions[top.key]?.deploymentID {
            activeDeploymentID = id
        }
    }

    private mutating func updateDeployment(_ id: String, _ change: (inout Deployment) -> Void) {
        if let index = deployments.firstIndex(where: { $0.id == id }) { change(&deployments[index]) }
    }
}

/// An API key as serving-router checks it and deploy-svc decides about it, folded from its events.
public struct ApiKeyState: Sendable, Equatable {
    /// The aggregate type of a key's events (the aggregate id is the key's id).
    public static let aggregateType = "ApiKey"

    public var created: ApiKeyCreated?
    public var revoked = false

    public init() {}

    public var modelName: String { created?.registeredModelID ?? "" }
    public var isActive: Bool { created != nil && !revoked }

    public mutating func apply(_ event: DeployEvent) {
        switch event {
        case .apiKeyCreated(let e): created = e
        case .apiKeyRevoked: revoked = true
        case .apiKeyUsed: break  // usage is the read model's (last used, counts), not a rule's
        case .endpointCreated, .endpointUpdated, .endpointDeleted, .deploymentRequested, .revisionStarted, .revisionReady,
            .revisionScaled, .revisionFailed, .revisionStopped, .trafficShifted, .rolloutStepStarted, .rolloutStepPassed, .rolloutGateFailed,
            .rolloutStepHeld, .deploymentActivated, .deploymentFailed, .rolledBack, .undeployed:
            break  // events of the Endpoint aggregate, never in a key's stream
        }
    }
}
