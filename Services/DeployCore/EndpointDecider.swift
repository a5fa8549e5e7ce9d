import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// An endpoint and everything that happens on it: its deployments (v1..vN attempts to put a model
/// version on it), the revisions that serve them (one model-server per deployment), and the traffic
/// split between those revisions. One aggregate, so "what serves this endpoint" always changes in one
/// ordered stream — which is also what serving-router folds. The aggregate id is the endpoint's name.
public enum EndpointDecider: Decider {
    public enum Command: Sendable {
        case create(EndpointCreated)
        case update(EndpointUpdated)
        /// `deployment_id` and `deployment_number` are assigned here (the endpoint's next number).
        case requestDeployment(DeploymentRequested)
        case startRevision(deploymentID: String, target: DeployTarget, resources: ServingResources)
        case revisionReady(RevisionReady)
        case revisionFailed(RevisionFailed)
        case stopRevision(revisionID: String, reason: String)
        case passStep(deploymentID: String, stepIndex: Int32, observed: [String: Double])
        case failGate(RolloutGateFailed)
        case rollback(toDeploymentID: String, trigger: RollbackTrigger, reason: String, by: String)
        /// Manual split: deployment id → percent (sums to 100).
        case setTraffic([String: Int32], by: String)
        case undeploy(reason: String, by: String)
        case delete(by: String)
        /// An auto-deploy that could not even be requested (e.g. the endpoint belongs to another model):
        /// recorded as a `DeploymentFailed` without a deployment, so the training run learns why.
        case rejectRunDeploy(DeploymentFailed)
    }

    /// The endpoint's fold, shared with serving-router.
    public typealias State = EndpointState
    public typealias Deployment = EndpointState.Deployment

    public static let aggregateType = "Endpoint"
    public static let initial = State()

    public static func revisionID(forDeployment deploymentID: String) -> String { "\(deploymentID)-r1" }

    public static func decide(_ command: Command, _ state: State) throws -> [DeployEvent] {
        if case .rejectRunDeploy(var failed) = command {
            failed.deploymentID = ""
            return [.deploymentFailed(failed)]
        }
        if case .create(let created) = command {
            guard !state.exists else { throw CommandRejected(.conflict, field: "name", "endpoint '\(created.name)' already exists") }
            return [.endpointCreated(created)]
        }
        guard let endpoint = state.endpoint, !state.deleted else { throw CommandRejected(.notFound, "no such endpoint") }
        let name = endpoint.name

        switch command {
        case .create, .rejectRunDeploy:
            return []

        case .update(let updated):
            return [.endpointUpdated(updated)]

        case .requestDeployment(var requested):
            if let running = state.inProgress {
                throw CommandRejected(.conflict, "deployment \(running.id) (v\(running.requested.versionNumber)) is still in progress on '\(name)'")
            }
            if requested.strategy == .gradual {
                guard let active = state.active, let revision = active.revisionID, state.traffic[revision, default: 0] > 0 else {
                    throw CommandRejected(.invalid, field: "strategy", "a gradual rollout needs a version already serving on '\(name)' to shift traffic from; deploy immediately first")
                }
            }
            if !requested.force, let active = state.active, active.requested.versionNumber == requested.versionNumber,
               state.traffic.count == 1 {
                throw CommandRejected(.conflict, field: "version", "v\(requested.versionNumber) is already serving on '\(name)'; pass force to redeploy it")
            }
            let number = Int32(state.deployments.count + 1)
            requested.deploymentNumber = number
            requested.deploymentID = "\(name)-\(number)"
            requested.endpointID = name
            requested.endpointName = name
            return [.deploymentRequested(requested)]

        case .startRevision(let deploymentID, let target, let resources):
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
            started.resources = resources
            return [.revisionStarted(started)]

        case .revisionReady(var ready):
            guard let revision = state.revisions[ready.revisionID], !revision.stopped,
                  let deployment = state.deployment(revision.deploymentID) else { return [] }
            if revision.ready, revision.address == ready.address { return [] }  // repeated report
            ready.endpointID = name
            ready.deploymentID = deployment.id
            ready.modelVersionID = deployment.requested.modelVersionID
            var events: [DeployEvent] = [.revisionReady(ready)]
            guard deployment.status == .deploying else { return events }  // a restart or re-adoption of a serving revision
            if deployment.requested.strategy == .gradual, let step = deployment.requested.steps.first {
                events += startStep(0, step.trafficPercent, of: deployment, revisionID: revision.id, state: state)
            } else {
                events.append(shift([revision.id: 100], reason: .activation, deploymentID: deployment.id, by: deployment.requested.requestedBy, state: state))
                events.append(activated(deployment, revisionID: revision.id, endpoint: endpoint, state: state))
            }
            return events

        case .revisionFailed(var failed):
            guard let revision = state.revisions[failed.revisionID], !revision.stopped,
                  let deployment = state.deployment(revision.deploymentID) else { return [] }
            failed.endpointID = name
            failed.deploymentID = deployment.id
            var events: [DeployEvent] = [.revisionFailed(failed)]
            switch deployment.status {
            case .deploying:
                var deploymentFailed = DeploymentFailed()
                deploymentFailed.endpointID = name
                deploymentFailed.deploymentID = deployment.id
                deploymentFailed.modelVersionID = deployment.requested.modelVersionID
                deploymentFailed.error = failed.error
                deploymentFailed.sourceRunID = deployment.requested.sourceRunID
                events.append(.deploymentFailed(deploymentFailed))
            case .rollingOut:
                events += try rollBack(from: deployment, trigger: .gateFailed, reason: "revision failed: \(failed.error)", by: "deploy-svc", state: state)
            default:
                break  // a serving revision died: the target restarts it, traffic stays
            }
            return events

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
                  deployment.stepIndex == stepIndex, let revisionID = deployment.revisionID else { return [] }
            var passed = RolloutStepPassed()
            passed.endpointID = name
            passed.deploymentID = deploymentID
            passed.stepIndex = stepIndex
            passed.observed = observed
            var events: [DeployEvent] = [.rolloutStepPassed(passed)]
            let next = Int(stepIndex) + 1
            if next < deployment.requested.steps.count {
                events += startStep(Int32(next), deployment.requested.steps[next].trafficPercent, of: deployment, revisionID: revisionID, state: state)
            } else {
                if state.traffic != [revisionID: 100] {
                    events.append(shift([revisionID: 100], reason: .rolloutStep, deploymentID: deploymentID, by: deployment.requested.requestedBy, state: state))
                }
                events.append(activated(deployment, revisionID: revisionID, endpoint: endpoint, state: state))
            }
            return events

        case .failGate(var failed):
            guard let deployment = state.deployment(failed.deploymentID), deployment.status == .rollingOut else { return [] }
            failed.endpointID = name
            return [.rolloutGateFailed(failed)]
                + (try rollBack(from: deployment, trigger: .gateFailed, reason: failed.reason, by: "deploy-svc", state: state))

        case .rollback(let toDeploymentID, let trigger, let reason, let by):
            guard let target = state.deployment(toDeploymentID) else {
                throw CommandRejected(.notFound, "no deployment \(toDeploymentID) on '\(name)'")
            }
            guard let from = state.inProgress ?? state.active, from.id != target.id else {
                throw CommandRejected(.conflict, "deployment \(toDeploymentID) (v\(target.requested.versionNumber)) is already what '\(name)' serves")
            }
            guard from.status == .rollingOut || from.status == .active || state.inProgress == nil else {
                throw CommandRejected(.conflict, "deployment \(from.id) is still starting; wait for it or undeploy")
            }
            return try rollBack(from: from, to: target, trigger: trigger, reason: reason, by: by, state: state)

        case .setTraffic(let split, let by):
            if let running = state.inProgress {
                throw CommandRejected(.conflict, "deployment \(running.id) is in progress on '\(name)'; set the split after it finishes")
            }
            guard split.values.reduce(0, +) == 100, split.values.allSatisfy({ (0...100).contains($0) }) else {
                throw CommandRejected(.invalid, field: "traffic", "percentages must be between 0 and 100 and sum to 100")
            }
            var traffic: [String: Int32] = [:]
            for (deploymentID, percent) in split where percent > 0 {
                guard let deployment = state.deployment(deploymentID) else {
                    throw CommandRejected(.invalid, field: "traffic", "no deployment \(deploymentID) on '\(name)'")
                }
                guard let revisionID = deployment.revisionID, state.revisions[revisionID]?.isWarm == true else {
                    throw CommandRejected(.conflict, field: "traffic",
                                          "v\(deployment.requested.versionNumber) (\(deploymentID)) has no running revision; roll back to it or redeploy it first")
                }
                traffic[revisionID] = percent
            }
            return [shift(traffic, reason: .manualSplit, deploymentID: "", by: by, state: state)]

        case .undeploy(let reason, let by):
            guard !state.traffic.isEmpty || state.inProgress != nil else {
                throw CommandRejected(.conflict, "'\(name)' serves nothing")
            }
            var undeployed = Undeployed()
            undeployed.endpointID = name
            undeployed.deploymentID = state.activeDeploymentID ?? state.inProgress?.id ?? ""
            undeployed.modelVersionID = (state.active ?? state.inProgress)?.requested.modelVersionID ?? ""
            undeployed.requestedBy = by
            undeployed.reason = reason
            return [shift([:], reason: .undeploy, deploymentID: undeployed.deploymentID, by: by, state: state), .undeployed(undeployed)]

        case .delete(let by):
            guard state.traffic.isEmpty, state.inProgress == nil else {
                throw CommandRejected(.conflict, "'\(name)' is deployed; undeploy it before deleting it")
            }
            var deleted = EndpointDeleted()
            deleted.endpointID = name
            deleted.name = name
            deleted.deletedBy = by
            return [.endpointDeleted(deleted)]
        }
    }

    static func shift(_ traffic: [String: Int32], reason: TrafficShiftReason, deploymentID: String, by: String, state: State) -> DeployEvent {
        var shifted = TrafficShifted()
        shifted.endpointID = state.endpoint?.name ?? ""
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
        started.endpointID = state.endpoint?.name ?? ""
        started.deploymentID = deployment.id
        started.stepIndex = index
        started.trafficPercent = percent
        started.revisionID = revisionID
        var traffic: [String: Int32] = [revisionID: percent]
        if percent < 100, let previous = state.active?.revisionID, previous != revisionID { traffic[previous] = 100 - percent }
        return [.rolloutStepStarted(started), shift(traffic, reason: .rolloutStep, deploymentID: deployment.id, by: deployment.requested.requestedBy, state: state)]
    }

    static func activated(_ deployment: Deployment, revisionID: String, endpoint: EndpointCreated, state: State) -> DeployEvent {
        var activated = DeploymentActivated()
        activated.endpointID = endpoint.name
        activated.endpointName = endpoint.name
        activated.deploymentID = deployment.id
        activated.registeredModelID = deployment.requested.registeredModelID
        activated.modelVersionID = deployment.requested.modelVersionID
        activated.versionNumber = deployment.requested.versionNumber
        activated.revisionID = revisionID
        activated.endpointURL = endpoint.url
        activated.previousDeploymentID = state.activeDeploymentID ?? ""
        activated.sourceRunID = deployment.requested.sourceRunID
        return .deploymentActivated(activated)
    }

    /// Traffic back to `to` (default: the deployment that served before `from`), which must still have a
    /// warm revision — that is what makes a rollback instant.
    static func rollBack(from: Deployment, to explicitTarget: Deployment? = nil, trigger: RollbackTrigger, reason: String, by: String,
                         state: State) throws -> [DeployEvent] {
        let name = state.endpoint?.name ?? ""
        let target: Deployment
        if let explicitTarget {
            target = explicitTarget
        } else if let active = state.active, active.id != from.id {
            target = active
        } else {
            throw CommandRejected(.conflict, "no earlier deployment to roll back to on '\(name)'")
        }
        guard let revisionID = target.revisionID, state.revisions[revisionID]?.isWarm == true else {
            throw CommandRejected(.conflict, "v\(target.requested.versionNumber) (\(target.id)) has no running revision to roll back to")
        }
        var rolledBack = RolledBack()
        rolledBack.endpointID = name
        rolledBack.fromDeploymentID = from.id
        rolledBack.toDeploymentID = target.id
        rolledBack.fromModelVersionID = from.requested.modelVersionID
        rolledBack.toModelVersionID = target.requested.modelVersionID
        rolledBack.fromVersionNumber = from.requested.versionNumber
        rolledBack.toVersionNumber = target.requested.versionNumber
        rolledBack.revisionID = revisionID
        rolledBack.trigger = trigger
        rolledBack.reason = reason
        rolledBack.requestedBy = by
        return [shift([revisionID: 100], reason: .rollback, deploymentID: target.id, by: by, state: state), .rolledBack(rolledBack)]
    }

    public static func evolve(_ state: State, _ event: DeployEvent) -> State {
        var state = state
        state.apply(event)
        return state
    }
}
