import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// An endpoint and everything that happens on it: its deployments (v1..vN attempts to put a model
/// version on it), the revisions that serve them (one model-server per deployment), and the traffic
/// split between those revisions. One aggregate, so "what serves this endpoint" always changes in one
/// ordered stream — which is also what serving-router folds. The aggregate id is the endpoint's name.
///
/// Commands are intents with the facts they need (a version's facts come from the `known_versions` read
/// model, the router's URL from the settings); every rule about them is decided here, before anything is
/// written, so a refused command leaves nothing behind.
public enum EndpointDecider: Decider {
    public enum Command: Sendable, Equatable {
        case create(NewEndpoint)
        case update(EndpointChange)
        /// Creates the endpoint first when it does not exist yet (with `DeployRequest.endpoint`'s settings),
        /// in the same decision, so a refused deploy creates nothing either.
        case deploy(DeployRequest)
        /// The controller starts the revision of a requested deployment on `target`.
        case startRevision(deploymentID: String, target: DeployTarget)
        case revisionReady(revisionID: String, address: String, startupMs: Int64)
        case revisionFailed(revisionID: String, error: String, logTail: String)
        /// The controller changed a ready revision's instances (autoscaling, scale to zero, wake): `addresses` is every
        /// instance serving it now. The revision's `min_instances`/`max_instances` bound it.
        case scaleRevision(ScaleChange)
        case stopRevision(revisionID: String, reason: String)
        case passStep(deploymentID: String, stepIndex: Int32, observed: [String: Double])
        case failGate(GateFailure)
        /// The step passed its deadline with too little to judge it: it holds, if the rollout asked to, else fails.
        case stepUnjudged(GateFailure)
        /// An alert fired on the endpoint during the rollout (metrics-svc's figures): rolled back if the rollout asked to.
        case alertFired(deploymentID: String, alerts: Int, reason: String)
        case rollback(Rollback)
        /// A manual split: deployment reference (`vN` or a deployment id) → percent, summing to 100.
        case setTraffic(split: [String: Int32], actor: String)
        case undeploy(reason: String, actor: String)
        case delete(actor: String)
        /// The spec's one-call delete: an endpoint that still serves is undeployed first, in the same decision.
        case undeployAndDelete(actor: String)
        /// An auto-deploy that could not even be requested (the endpoint belongs to another model, …): recorded
        /// as a `DeploymentFailed` without a deployment, so the training run learns why.
        case rejectRunDeploy(RunDeployRejection)
    }

    /// A revision's instances as the controller changed them.
    public struct ScaleChange: Sendable, Equatable {
        public var revisionID: String
        public var addresses: [String]
        public var cause: RevisionScaleCause
        public var reason: String
        /// How long the added instance took to start (0 when none was added).
        public var startupMs: Int64 = 0

        public init(revisionID: String, addresses: [String], cause: RevisionScaleCause, reason: String, startupMs: Int64 = 0) {
            self.revisionID = revisionID
            self.addresses = addresses
            self.cause = cause
            self.reason = reason
            self.startupMs = startupMs
        }
    }

    /// An endpoint as a request describes it; its preset and resources are resolved and checked here.
    public struct NewEndpoint: Sendable, Equatable {
        /// The aggregate id.
        public var name: String
        public var model: String
        /// A preset's name (`development`, `production`, `high_traffic`, `custom`); nil: production.
        public var preset: String?
        public var overrides: ServingPresets.Overrides
        public var description: String
        /// The public URL through serving-router.
        public var url: String
        public var createdBy: String

        public init(
            name: String, model: String, preset: String? = nil, overrides: ServingPresets.Overrides = .init(),
            description: String = "", url: String = "", createdBy: String
        ) {
            self.name = name
            self.model = model
            self.preset = preset
            self.overrides = overrides
            self.description = description
            self.url = url
            self.createdBy = createdBy
        }
    }

    /// A change to an endpoint's settings; nil fields stay as they are. A new preset starts from its own
    /// resources; without one, the overrides change the current resources.
    public struct EndpointChange: Sendable, Equatable {
        /// When given, it must be the endpoint's own name: endpoints are not renamed.
        public var name: String?
        public var preset: String?
        public var overrides: ServingPresets.Overrides
        public var description: String?
        public var updatedBy: String

        public init(
            name: String? = nil, preset: String? = nil, overrides: ServingPresets.Overrides = .init(), description: String? = nil,
            updatedBy: String
        ) {
            self.name = name
            self.preset = preset
            self.overrides = overrides
            self.description = description
            self.updatedBy = updatedBy
        }
    }

    /// What deploy-svc knows of a registered model version (registry-svc's events, projected).
    public struct KnownVersion: Sendable, Equatable {
        public var id: String
        public var number: Int32
        public var artifactURI: String
        public var blessed: Bool
        public var metrics: [String: Double]
        public var sourceRunID: String

        public init(id: String, number: Int32, artifactURI: String, blessed: Bool, metrics: [String: Double] = [:], sourceRunID: String = "") {
            self.id = id
            self.number = number
            self.artifactURI = artifactURI
            self.blessed = blessed
            self.metrics = metrics
            self.sourceRunID = sourceRunID
        }
    }

    /// A gradual rollout's parameters as asked; nil fields take `RolloutPlan`'s defaults.
    public struct RolloutParameters: Sendable, Equatable {
        public var steps: [Int32]?
        public var stepSeconds: Int32?
        public var minRequests: Int64?
        public var maxErrorRate: Double?
        public var maxP99Ms: Double?
        /// An alert firing on the endpoint during the rollout rolls it back at once (default false).
        public var rollbackOnAlert: Bool?
        /// A step still unjudgeable at its deadline holds instead of failing (default false: it fails).
        public var holdWhenInconclusive: Bool?
        /// The first step waits for testing-svc's test of the new revision, and a failed test rolls back (default false).
        public var endpointTest: Bool?

        public init(
            steps: [Int32]? = nil, stepSeconds: Int32? = nil, minRequests: Int64? = nil, maxErrorRate: Double? = nil, maxP99Ms: Double? = nil,
            rollbackOnAlert: Bool? = nil, holdWhenInconclusive: Bool? = nil, endpointTest: Bool? = nil
        ) {
            self.endpointTest = endpointTest
            self.steps = steps
            self.stepSeconds = stepSeconds
            self.minRequests = minRequests
            self.maxErrorRate = maxErrorRate
            self.maxP99Ms = maxP99Ms
            self.rollbackOnAlert = rollbackOnAlert
            self.holdWhenInconclusive = holdWhenInconclusive
        }
    }

    /// Put a model version on an endpoint.
    public struct DeployRequest: Sendable, Equatable {
        /// The endpoint; created with these settings when it does not exist yet (ignored otherwise).
        public var endpoint: NewEndpoint
        public var version: KnownVersion
        /// `immediate` or `gradual` as the request spelled it; nil: gradual when steps are given.
        public var strategy: String?
        public var rollout: RolloutParameters
        /// Deploys a version that is not blessed, or the one already serving.
        public var force: Bool
        public var reason: String
        /// The training run that asked (auto-deploy); nil: the run the version came from.
        public var sourceRunID: String?
        public var requestedBy: String

        public init(
            endpoint: NewEndpoint, version: KnownVersion, strategy: String? = nil, rollout: RolloutParameters = .init(), force: Bool = false,
            reason: String = "", sourceRunID: String? = nil, requestedBy: String
        ) {
            self.endpoint = endpoint
            self.version = version
            self.strategy = strategy
            self.rollout = rollout
            self.force = force
            self.reason = reason
            self.sourceRunID = sourceRunID
            self.requestedBy = requestedBy
        }
    }

    /// A rollout gate that failed: the step is rolled back.
    public struct GateFailure: Sendable, Equatable {
        public var deploymentID: String
        public var stepIndex: Int32
        public var gate: RolloutGateKind
        public var threshold: Double
        public var observed: Double
        public var reason: String

        public init(deploymentID: String, stepIndex: Int32, gate: RolloutGateKind, threshold: Double = 0, observed: Double = 0, reason: String) {
            self.deploymentID = deploymentID
            self.stepIndex = stepIndex
            self.gate = gate
            self.threshold = threshold
            self.observed = observed
            self.reason = reason
        }
    }

    /// Back to an earlier deployment (nil: the one that served before, `EndpointState.defaultRollbackTarget`):
    /// instant while its revision runs, otherwise its version is deployed again (`EndpointState.rollbackPath`).
    public struct Rollback: Sendable, Equatable {
        public var to: DeploymentReference?
        public var trigger: RollbackTrigger
        public var reason: String
        public var actor: String

        public init(to: DeploymentReference? = nil, trigger: RollbackTrigger = .manual, reason: String = "", actor: String) {
            self.to = to
            self.trigger = trigger
            self.reason = reason
            self.actor = actor
        }
    }

    public struct RunDeployRejection: Sendable, Equatable {
        public var endpoint: String
        public var runID: String
        public var error: String

        public init(endpoint: String, runID: String, error: String) {
            self.endpoint = endpoint
            self.runID = runID
            self.error = error
        }
    }

    /// The endpoint's fold, shared with serving-router.
    public typealias State = EndpointState
    public typealias Deployment = EndpointState.Deployment

    public static let aggregateType = EndpointState.aggregateType
    public static let initial = State()

    /// How many instances a revision may run: its `min_instances` to `max_instances` (one revision started before
    /// they were recorded runs exactly one). A min of 0 lets it scale to zero when idle.
    public static func instanceBounds(_ revision: EndpointState.Revision) -> ClosedRange<Int> {
        instanceBounds(min: revision.minInstances, max: revision.maxInstances)
    }

    public static func instanceBounds(min minInstances: Int32, max maxInstances: Int32) -> ClosedRange<Int> {
        let upper = max(1, Int(maxInstances))
        return min(Int(minInstances), upper)...upper
    }

    public static func revisionID(forDeployment deploymentID: String) -> String { "\(deploymentID)-r1" }

    /// The actor of decisions deploy-svc takes on its own (a failed gate's rollback).
    static let serviceActor = "deploy-svc"

    // MARK: Decide

    public static func decide(_ command: Command, _ state: State) throws -> [DeployEvent] {
        switch command {
        case .rejectRunDeploy(let rejection):
            var failed = DeploymentFailed()
            failed.endpointID = rejection.endpoint
            failed.sourceRunID = rejection.runID
            failed.error = rejection.error
            return [.deploymentFailed(failed)]

        case .create(let new):
            let created = try endpointCreated(new, nameField: "name")
            guard !state.exists else { throw CommandRejected(.conflict, field: "name", "endpoint '\(new.name)' already exists") }
            return [.endpointCreated(created)]

        case .deploy(let request):
            return try decideDeploy(request, state)

        case .update, .startRevision, .revisionReady, .revisionFailed, .scaleRevision, .stopRevision, .passStep, .failGate, .stepUnjudged,
            .alertFired, .rollback,
            .setTraffic, .undeploy, .delete, .undeployAndDelete:
            guard let endpoint = state.endpoint, !state.deleted else { throw endpointNotFound }
            return try decide(command, on: endpoint, state)
        }
    }

    /// The commands about an endpoint that exists.
    static func decide(_ command: Command, on endpoint: EndpointCreated, _ state: State) throws -> [DeployEvent] {
        let name = endpoint.name
        switch command {
        case .create, .deploy, .rejectRunDeploy:
            return []  // decided in `decide(_:_:)`

        case .update(let change):
            return [.endpointUpdated(try endpointUpdated(change, endpoint))]

        case .startRevision(let deploymentID, let target):
            guard let deployment = state.deployment(deploymentID) else { throw CommandRejected(.notFound, "no deployment \(deploymentID)") }
            guard deployment.status == .requested else { return [] }  // already started: idempotent
            var started = RevisionStarted()
            started.endpointID = name
            started.deploymentID = deploymentID
            started.revisionID = revisionID(forDeployment: deploymentID)
            started.modelVersionID = deployment.requested.modelVersionID
            started.versionNumber = deployment.requested.versionNumber
            started.target = target
            started.artifactUri = deployment.requested.artifactUri
            started.resources = endpoint.resources
            return [.revisionStarted(started)]

        case .revisionReady(let revisionID, let address, let startupMs):
            guard let revision = state.revisions[revisionID], !revision.stopped,
                let deployment = state.deployment(revision.deploymentID)
            else { return [] }
            if revision.ready, revision.address == address { return [] }  // repeated report
            var ready = RevisionReady()
            ready.endpointID = name
            ready.deploymentID = deployment.id
            ready.revisionID = revisionID
            ready.address = address
            ready.startupMs = startupMs
            ready.modelVersionID = deployment.requested.modelVersionID
            var events: [DeployEvent] = [.revisionReady(ready)]
            guard deployment.status == .deploying else { return events }  // a restart or re-adoption of a serving revision
            if deployment.requested.strategy == .gradual, let step = deployment.requested.steps.first {
                events += startStep(0, step.trafficPercent, of: deployment, revisionID: revisionID, state: state)
            } else {
                events += activation(deployment, revisionID: revisionID, shift: .activation, endpoint: endpoint, state: state)
            }
            return events

        case .revisionFailed(let revisionID, let error, let logTail):
            guard let revision = state.revisions[revisionID], !revision.stopped,
                let deployment = state.deployment(revision.deploymentID)
            else { return [] }
            var failed = RevisionFailed()
            failed.endpointID = name
            failed.deploymentID = deployment.id
            failed.revisionID = revisionID
            failed.error = error
            failed.logTail = logTail
            var events: [DeployEvent] = [.revisionFailed(failed)]
            switch deployment.status {
            case .deploying:
                var deploymentFailed = DeploymentFailed()
                deploymentFailed.endpointID = name
                deploymentFailed.deploymentID = deployment.id
                deploymentFailed.modelVersionID = deployment.requested.modelVersionID
                deploymentFailed.error = error
                deploymentFailed.sourceRunID = deployment.requested.sourceRunID
                events.append(.deploymentFailed(deploymentFailed))
            case .rollingOut:
                events += try rollBack(Rollback(trigger: .gateFailed, reason: "revision failed: \(error)", actor: serviceActor), state)
            default:
                break  // a serving revision died: the target restarts it, traffic stays
            }
            return events

        case .scaleRevision(let change):
            guard let revision = state.revisions[change.revisionID], !revision.stopped else {
                throw CommandRejected(.conflict, "revision \(change.revisionID) is not running")
            }
            guard revision.ready else { throw CommandRejected(.conflict, "revision \(change.revisionID) is not ready") }
            if revision.addresses == change.addresses { return [] }  // repeated report
            let bounds = instanceBounds(revision)
            guard change.addresses.count <= bounds.upperBound else {
                throw CommandRejected(.invalid, field: "instances", "revision \(change.revisionID) runs at most \(bounds.upperBound) instance(s)")
            }
            guard !change.addresses.isEmpty || bounds.lowerBound == 0 else {
                throw CommandRejected(
                    .invalid, field: "instances", "revision \(change.revisionID) has min_instances \(bounds.lowerBound): it cannot scale to zero")
            }
            guard Set(change.addresses).count == change.addresses.count, !change.addresses.contains(where: \.isEmpty) else {
                throw CommandRejected(.invalid, field: "addresses", "every instance needs its own address")
            }
            var scaled = RevisionScaled()
            scaled.endpointID = name
            scaled.deploymentID = revision.deploymentID
            scaled.revisionID = change.revisionID
            scaled.addresses = change.addresses
            scaled.previousInstances = Int32(revision.addresses.count)
            scaled.cause = change.cause
            scaled.reason = change.reason
            scaled.startupMs = change.startupMs
            return [.revisionScaled(scaled)]

        case .stopRevision(let revisionID, let reason):
            guard let revision = state.revisions[revisionID], !revision.stopped else { return [] }
            guard state.traffic[revisionID, default: 0] == 0 else {
                throw CommandRejected(.conflict, "revision \(revisionID) still serves traffic")
            }
            var stopped = RevisionStopped()
            stopped.endpointID = name
            stopped.revisionID = revisionID
            stopped.reason = reason
            return [.revisionStopped(stopped)]

        case .passStep(let deploymentID, let stepIndex, let observed):
            guard let deployment = state.deployment(deploymentID), deployment.status == .rollingOut,
                deployment.stepIndex == stepIndex, let revisionID = deployment.revisionID
            else { return [] }
            var passed = RolloutStepPassed()
            passed.endpointID = name
            passed.deploymentID = deploymentID
            passed.stepIndex = stepIndex
            passed.observed = observed
            var events: [DeployEvent] = [.rolloutStepPassed(passed)]
            let next = Int(stepIndex) + 1
            if next < deployment.requested.steps.count {
                events += startStep(
                    Int32(next), deployment.requested.steps[next].trafficPercent, of: deployment, revisionID: revisionID, state: state)
            } else {
                let shift: TrafficShiftReason? = state.traffic != [revisionID: 100] ? .rolloutStep : nil
                events += activation(deployment, revisionID: revisionID, shift: shift, endpoint: endpoint, state: state)
            }
            return events

        case .failGate(let failure):
            guard let deployment = state.deployment(failure.deploymentID), deployment.status == .rollingOut else { return [] }
            var failed = RolloutGateFailed()
            failed.endpointID = name
            failed.deploymentID = failure.deploymentID
            failed.stepIndex = failure.stepIndex
            failed.gate = failure.gate
            failed.threshold = failure.threshold
            failed.observedValue = failure.observed
            failed.reason = failure.reason
            // A failed endpoint test is its own trigger: the new version answered wrongly, not too slowly or too often in error.
            let trigger: RollbackTrigger = failure.gate == .endpointTest ? .testFailed : .gateFailed
            return [.rolloutGateFailed(failed)] + (try rollBack(Rollback(trigger: trigger, reason: failure.reason, actor: serviceActor), state))

        case .stepUnjudged(let failure):
            guard let deployment = state.deployment(failure.deploymentID), deployment.status == .rollingOut,
                deployment.stepIndex == failure.stepIndex
            else { return [] }
            guard deployment.requested.holdWhenInconclusive else { return try decide(.failGate(failure), on: endpoint, state) }
            guard deployment.heldStepIndex != failure.stepIndex else { return [] }  // held once per step
            var held = RolloutStepHeld()
            held.endpointID = name
            held.deploymentID = failure.deploymentID
            held.stepIndex = failure.stepIndex
            held.reason = failure.reason
            return [.rolloutStepHeld(held)]

        case .alertFired(let deploymentID, let alerts, let reason):
            guard let deployment = state.deployment(deploymentID), deployment.status == .rollingOut, deployment.requested.rollbackOnAlert,
                alerts > 0
            else { return [] }
            return try rollBack(Rollback(trigger: .alert, reason: reason, actor: serviceActor), state)

        case .rollback(let rollback):
            return try rollBack(rollback, state)

        case .setTraffic(let requested, let actor):
            var split: [String: Int32] = [:]
            for (text, percent) in requested.sorted(by: { $0.key < $1.key }) {
                let reference = DeploymentReference(text, field: "traffic.\(text)")
                split[try deployment(reference, state).id, default: 0] += percent
            }
            if let running = state.inProgress {
                throw CommandRejected(.conflict, "deployment \(running.id) is in progress on '\(name)'; set the split after it finishes")
            }
            guard split.values.reduce(0, +) == 100, split.values.allSatisfy({ (0...100).contains($0) }) else {
                throw CommandRejected(.invalid, field: "traffic", "percentages must be between 0 and 100 and sum to 100")
            }
            var traffic: [String: Int32] = [:]
            for (deploymentID, percent) in split.sorted(by: { $0.key < $1.key }) where percent > 0 {
                guard let deployment = state.deployment(deploymentID) else {
                    throw CommandRejected(.invalid, field: "traffic", "no deployment \(deploymentID) on '\(name)'")
                }
                guard let revisionID = deployment.revisionID, state.revisions[revisionID]?.isWarm == true else {
                    throw CommandRejected(
                        .conflict, field: "traffic",
                        "v\(deployment.requested.versionNumber) (\(deploymentID)) has no running revision; roll back to it or redeploy it first")
                }
                traffic[revisionID] = percent
            }
            return [shift(traffic, reason: .manualSplit, deploymentID: "", by: actor, state: state)]

        case .undeploy(let reason, let actor):
            guard !state.traffic.isEmpty || state.inProgress != nil else {
                throw CommandRejected(.conflict, "'\(name)' serves nothing")
            }
            var undeployed = Undeployed()
            undeployed.endpointID = name
            undeployed.deploymentID = state.activeDeploymentID ?? state.inProgress?.id ?? ""
            undeployed.modelVersionID = (state.active ?? state.inProgress)?.requested.modelVersionID ?? ""
            undeployed.requestedBy = actor
            undeployed.reason = reason
            return [shift([:], reason: .undeploy, deploymentID: undeployed.deploymentID, by: actor, state: state), .undeployed(undeployed)]

        case .undeployAndDelete(let actor):
            guard !state.traffic.isEmpty || state.inProgress != nil else { return try decide(.delete(actor: actor), state) }
            let undeployed = try decide(.undeploy(reason: "endpoint deleted", actor: actor), state)
            return undeployed + (try decide(.delete(actor: actor), undeployed.reduce(state, evolve)))

        case .delete(let actor):
            guard state.traffic.isEmpty, state.inProgress == nil else {
                throw CommandRejected(.conflict, "'\(name)' is deployed; undeploy it before deleting it")
            }
            var deleted = EndpointDeleted()
            deleted.endpointID = name
            deleted.name = name
            deleted.deletedBy = actor
            return [.endpointDeleted(deleted)]
        }
    }

    /// The aggregate id (the name) is not part of most commands; the routes put it into their message.
    static let endpointNotFound = CommandRejected(.notFound, "no such endpoint")

    // MARK: Endpoints

    /// The creation event of a new endpoint: its name, preset and resources checked. `nameField` is what a
    /// bad name is reported as (`name` when creating, `endpoint` when deploying).
    static func endpointCreated(_ new: NewEndpoint, nameField: String) throws -> EndpointCreated {
        if let problem = EndpointName.problem(new.name) { throw CommandRejected(.invalid, field: nameField, "endpoint name \(problem)") }
        let preset = try preset(named: new.preset ?? "production")
        var created = EndpointCreated()
        created.endpointID = new.name
        created.name = new.name
        created.registeredModelID = new.model
        created.modelName = new.model
        created.preset = preset
        created.resources = try ServingPresets.resolve(preset: preset, overrides: new.overrides)
        created.target = .local
        created.descriptionText = new.description
        created.createdBy = new.createdBy
        created.url = new.url
        return created
    }

    static func endpointUpdated(_ change: EndpointChange, _ endpoint: EndpointCreated) throws -> EndpointUpdated {
        if let renamed = change.name, renamed != endpoint.name { throw CommandRejected(.invalid, field: "name", "an endpoint cannot be renamed") }
        var updated = EndpointUpdated()
        updated.endpointID = endpoint.name
        if let presetName = change.preset {
            updated.preset = try preset(named: presetName)
            updated.resources = try ServingPresets.resolve(preset: updated.preset, overrides: change.overrides)
        } else {
            updated.preset = endpoint.preset
            updated.resources = try ServingPresets.resolve(base: endpoint.resources, overrides: change.overrides)
        }
        updated.descriptionText = change.description ?? endpoint.descriptionText
        updated.updatedFields =
            (change.preset != nil ? ["preset"] : []) + (change.overrides.isEmpty ? [] : ["resources"])
            + (change.description != nil ? ["description"] : [])
        updated.updatedBy = change.updatedBy
        return updated
    }

    static func preset(named name: String) throws -> EndpointPreset {
        guard let preset = ServingPresets.preset(named: name) else {
            throw CommandRejected(.invalid, field: "preset", "unknown preset '\(name)' (development, production, high_traffic, custom)")
        }
        return preset
    }

    // MARK: Deploying

    /// Everything is checked before anything is decided — the version's blessing, the strategy and its
    /// steps, the endpoint's owner, a new endpoint's settings — so a refused deploy writes nothing.
    static func decideDeploy(_ request: DeployRequest, _ state: State) throws -> [DeployEvent] {
        let version = request.version
        let model = request.endpoint.model
        let name = request.endpoint.name
        if !version.blessed && !request.force {
            throw CommandRejected(
                .conflict, field: "force", "v\(version.number) of '\(model)' is not blessed; pass \"force\": true to deploy it anyway")
        }
        let strategyName = (request.strategy ?? (request.rollout.steps == nil ? "immediate" : "gradual")).lowercased()
        guard ["immediate", "gradual"].contains(strategyName) else {
            throw CommandRejected(.invalid, field: "strategy", "strategy is immediate or gradual")
        }
        var requested = DeploymentRequested()
        requested.strategy = strategyName == "gradual" ? .gradual : .immediate
        if requested.strategy == .gradual {
            let rollout = request.rollout
            requested.steps = try RolloutPlan.steps(
                percents: rollout.steps ?? [10, 50, 100], stepSeconds: rollout.stepSeconds ?? 60,
                minRequests: rollout.minRequests ?? RolloutPlan.defaultMinRequests,
                maxErrorRate: rollout.maxErrorRate ?? RolloutPlan.defaultMaxErrorRate, maxP99Ms: rollout.maxP99Ms ?? RolloutPlan.defaultMaxP99Ms,
                endpointTest: rollout.endpointTest ?? false)
            requested.rollbackOnAlert = rollout.rollbackOnAlert ?? false
            requested.holdWhenInconclusive = rollout.holdWhenInconclusive ?? false
        } else if request.rollout.rollbackOnAlert == true {
            throw CommandRejected(
                .invalid, field: "rollback_on_alert", "only a gradual rollout can roll back on an alert; an immediate deploy has no steps")
        } else if request.rollout.holdWhenInconclusive == true {
            throw CommandRejected(.invalid, field: "on_inconclusive", "only a gradual rollout has steps to hold")
        }
        var events: [DeployEvent] = []
        var state = state
        if state.exists, let endpoint = state.endpoint {
            guard state.modelName == model else {
                throw CommandRejected(
                    .conflict, field: "endpoint",
                    "endpoint '\(name)' belongs to model '\(state.modelName)'; choose one of '\(model)''s endpoints or a new name")
            }
            // A preset or resources on the deploy change the endpoint first, in the same decision: its new revision runs with them.
            let preset = request.endpoint.preset.flatMap { $0.isEmpty ? nil : $0 }
            if preset != nil || !request.endpoint.overrides.isEmpty {
                let change = EndpointChange(preset: preset, overrides: request.endpoint.overrides, updatedBy: request.requestedBy)
                let updated = try endpointUpdated(change, endpoint)
                if updated.preset != endpoint.preset || updated.resources != endpoint.resources {
                    events.append(.endpointUpdated(updated))
                    state = evolve(state, .endpointUpdated(updated))
                }
            }
        } else {
            if let problem = EndpointName.problem(name) { throw CommandRejected(.invalid, field: "endpoint", "endpoint name \(problem)") }
            if requested.strategy == .gradual {
                throw CommandRejected(
                    .invalid, field: "strategy", "a gradual rollout needs a version already serving; deploy the first version immediately")
            }
            let created = DeployEvent.endpointCreated(try endpointCreated(request.endpoint, nameField: "endpoint"))
            events.append(created)
            state = evolve(state, created)
        }
        requested.registeredModelID = model
        requested.modelVersionID = version.id
        requested.versionNumber = version.number
        requested.artifactUri = version.artifactURI
        requested.force = request.force
        requested.requestedBy = request.requestedBy
        requested.reason = request.reason
        requested.sourceRunID = request.sourceRunID ?? version.sourceRunID
        requested.metrics = version.metrics
        return events + [try deploymentRequested(requested, state)]
    }

    /// The endpoint's next deployment, if the endpoint can take one now.
    static func deploymentRequested(_ requested: DeploymentRequested, _ state: State) throws -> DeployEvent {
        let name = state.name
        if let running = state.inProgress {
            throw CommandRejected(.conflict, "deployment \(running.id) (v\(running.requested.versionNumber)) is still in progress on '\(name)'")
        }
        if requested.strategy == .gradual {
            guard let active = state.active, let revision = active.revisionID, state.traffic[revision, default: 0] > 0 else {
                throw CommandRejected(
                    .invalid, field: "strategy",
                    "a gradual rollout needs a version already serving on '\(name)' to shift traffic from; deploy immediately first")
            }
        }
        if !requested.force, let active = state.active, active.requested.versionNumber == requested.versionNumber, state.traffic.count == 1 {
            throw CommandRejected(
                .conflict, field: "version", "v\(requested.versionNumber) is already serving on '\(name)'; pass force to redeploy it")
        }
        var requested = requested
        let number = Int32(state.deployments.count + 1)
        requested.deploymentNumber = number
        requested.deploymentID = "\(name)-\(number)"
        requested.endpointID = name
        requested.endpointName = name
        return .deploymentRequested(requested)
    }

    static func shift(_ traffic: [String: Int32], reason: TrafficShiftReason, deploymentID: String, by: String, state: State) -> DeployEvent {
        var shifted = TrafficShifted()
        shifted.endpointID = state.name
        shifted.deploymentID = deploymentID
        shifted.traffic = traffic
        shifted.reason = reason
        shifted.shiftedBy = by
        for revisionID in traffic.keys {
            if let deployment = state.revisions[revisionID].flatMap({ state.deployment($0.deploymentID) }) {
                shifted.revisionVersions[revisionID] = deployment.requested.modelVersionID
            }
        }
        return .trafficShifted(shifted)
    }

    /// A gradual step: `percent` to the new revision, the rest to the revision serving before.
    static func startStep(_ index: Int32, _ percent: Int32, of deployment: Deployment, revisionID: String, state: State) -> [DeployEvent] {
        var started = RolloutStepStarted()
        started.endpointID = state.name
        started.deploymentID = deployment.id
        started.stepIndex = index
        started.trafficPercent = percent
        started.revisionID = revisionID
        var traffic: [String: Int32] = [revisionID: percent]
        if percent < 100, let previous = state.active?.revisionID, previous != revisionID { traffic[previous] = 100 - percent }
        return [
            .rolloutStepStarted(started),
            shift(traffic, reason: .rolloutStep, deploymentID: deployment.id, by: deployment.requested.requestedBy, state: state),
        ]
    }

    /// The deployment's revision takes all traffic (shifted for `reason`; nil when it has it already) and the
    /// deployment becomes the active one. A deployment that is a rollback says so: `RolledBack` follows.
    static func activation(
        _ deployment: Deployment, revisionID: String, shift reason: TrafficShiftReason?, endpoint: EndpointCreated,
        state: State
    ) -> [DeployEvent] {
        let requested = deployment.requested
        let isRollback = !requested.rollbackToDeploymentID.isEmpty
        var events: [DeployEvent] = []
        if let reason {
            events.append(
                shift(
                    [revisionID: 100], reason: isRollback ? .rollback : reason, deploymentID: deployment.id, by: requested.requestedBy,
                    state: state))
        }
        var activated = DeploymentActivated()
        activated.endpointID = endpoint.name
        activated.endpointName = endpoint.name
        activated.deploymentID = deployment.id
        activated.registeredModelID = requested.registeredModelID
        activated.modelVersionID = requested.modelVersionID
        activated.versionNumber = requested.versionNumber
        activated.revisionID = revisionID
        activated.endpointURL = endpoint.url
        activated.previousDeploymentID = state.activeDeploymentID ?? ""
        activated.sourceRunID = requested.sourceRunID
        events.append(.deploymentActivated(activated))
        if isRollback {
            events.append(
                rolledBack(
                    from: state.active, to: deployment, revisionID: revisionID, trigger: .manual,
                    reason: requested.reason, by: requested.requestedBy, state: state))
        }
        return events
    }

    // MARK: Rolling back

    /// Traffic back to the target (named, or `defaultRollbackTarget`). `EndpointState.rollbackPath` says how:
    /// at once to a warm revision, or by deploying the target's version again — a deployment that records
    /// the rollback (`rollback_to_deployment_id`) and emits `RolledBack` when it activates.
    static func rollBack(_ rollback: Rollback, _ state: State) throws -> [DeployEvent] {
        let name = state.name
        let target: Deployment
        if let reference = rollback.to {
            target = try deployment(reference, state)
        } else if let previous = state.defaultRollbackTarget {
            target = previous
        } else {
            throw CommandRejected(.conflict, "'\(name)' has no earlier deployment to roll back to")
        }
        switch state.rollbackPath(to: target) {
        case .unavailable:
            throw CommandRejected(.conflict, "deployment \(target.id) (v\(target.requested.versionNumber)) is already what '\(name)' serves")

        case .instant(let revisionID):
            let from = state.current
            if let from, from.status != .active, from.status != .rollingOut {
                throw CommandRejected(.conflict, "deployment \(from.id) is still starting; wait for it or undeploy")
            }
            return [
                shift([revisionID: 100], reason: .rollback, deploymentID: target.id, by: rollback.actor, state: state),
                rolledBack(
                    from: from, to: target, revisionID: revisionID, trigger: rollback.trigger, reason: rollback.reason,
                    by: rollback.actor, state: state),
            ]

        case .redeploy:
            // Only a rollback someone asked for deploys a version again; an automatic one (a failed gate during a
            // rollout) needs the revision that still serves the rest of the traffic.
            guard rollback.trigger == .manual else {
                throw CommandRejected(.conflict, "v\(target.requested.versionNumber) (\(target.id)) has no running revision to roll back to")
            }
            var requested = target.requested
            requested.strategy = .immediate
            requested.steps = []
            requested.force = true
            requested.requestedBy = rollback.actor
            requested.reason = "rollback to v\(target.requested.versionNumber)" + (rollback.reason.isEmpty ? "" : ": \(rollback.reason)")
            requested.rollbackToDeploymentID = target.id
            return [try deploymentRequested(requested, state)]
        }
    }

    static func rolledBack(
        from: Deployment?, to target: Deployment, revisionID: String, trigger: RollbackTrigger, reason: String, by: String,
        state: State
    ) -> DeployEvent {
        var rolledBack = RolledBack()
        rolledBack.endpointID = state.name
        rolledBack.fromDeploymentID = from?.id ?? ""
        rolledBack.toDeploymentID = target.id
        rolledBack.fromModelVersionID = from?.requested.modelVersionID ?? ""
        rolledBack.toModelVersionID = target.requested.modelVersionID
        rolledBack.fromVersionNumber = from?.requested.versionNumber ?? 0
        rolledBack.toVersionNumber = target.requested.versionNumber
        rolledBack.revisionID = revisionID
        rolledBack.trigger = trigger
        rolledBack.reason = reason
        rolledBack.requestedBy = by
        return .rolledBack(rolledBack)
    }

    static func deployment(_ reference: DeploymentReference, _ state: State) throws -> Deployment {
        guard let deployment = reference.resolve(in: state) else {
            throw CommandRejected(
                .invalid, field: reference.field, "'\(state.name)' has no deployment '\(reference.text)' (give a deployment id or vN)")
        }
        return deployment
    }

    // MARK: Evolve

    public static func evolve(_ state: State, _ event: DeployEvent) -> State {
        var state = state
        state.apply(event)
        return state
    }
}
