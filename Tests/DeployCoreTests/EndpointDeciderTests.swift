import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

@testable import DeployCore

/// The endpoint aggregate's rules, without I/O: given earlier events (written as the commands that made
/// them), when a command, then events or a rejection.
@Suite("endpoint decider")
struct EndpointDeciderTests {
    typealias D = EndpointDecider

    // MARK: Commands of a story

    static func version(_ number: Int32, blessed: Bool = true) -> D.KnownVersion {
        D.KnownVersion(
            id: "m/v\(number)", number: number, artifactURI: "file:///bundles/v\(number)", blessed: blessed,
            metrics: ["recall_at_100": 0.4], sourceRunID: "run-\(number)")
    }

    static func endpoint(_ name: String = "shop", model: String = "m", preset: String? = nil, overrides: ServingPresets.Overrides = .init())
        -> D.NewEndpoint
    {
        D.NewEndpoint(name: name, model: model, preset: preset, overrides: overrides, url: "http://router/\(name)", createdBy: "t")
    }

    static func deploy(
        _ number: Int32, gradual: Bool = false, force: Bool = false, blessed: Bool = true, strategy: String? = nil,
        steps: [Int32]? = nil, endpoint: D.NewEndpoint = endpoint()
    ) -> D.Command {
        let rollout = D.RolloutParameters(steps: steps ?? (gradual ? [10, 50, 100] : nil), stepSeconds: 0)
        return .deploy(
            D.DeployRequest(
                endpoint: endpoint, version: version(number, blessed: blessed), strategy: strategy ?? (gradual ? "gradual" : nil),
                rollout: rollout, force: force, reason: "test", requestedBy: "t"))
    }

    static func start(_ deployment: Int) -> D.Command { .startRevision(deploymentID: "shop-\(deployment)", target: .local) }
    static func ready(_ deployment: Int) -> D.Command {
        .revisionReady(revisionID: "shop-\(deployment)-r1", address: "http://127.0.0.1:\(9000 + deployment)", startupMs: 5)
    }

    /// Version `number` deployed as the endpoint's `deployment`-th deployment: requested, started, ready.
    static func deployed(_ number: Int32, as deployment: Int, gradual: Bool = false) -> [D.Command] {
        [deploy(number, gradual: gradual), start(deployment), ready(deployment)]
    }

    static func stop(_ deployment: Int) -> D.Command { .stopRevision(revisionID: "shop-\(deployment)-r1", reason: "not serving") }
    static func rollback(to reference: String? = nil, field: String = "to_version", reason: String = "") -> D.Command {
        .rollback(D.Rollback(to: reference.map { DeploymentReference($0, field: field) }, reason: reason, actor: "t"))
    }

    /// v1 then v2, each immediately: v2 serves, v1 is superseded and warm.
    static let twoVersions = deployed(1, as: 1) + deployed(2, as: 2)

    func history(_ commands: [D.Command]) throws -> [DeployEvent] { try SlipwayTestSupport.history(D.self, commands) }
    func state(_ commands: [D.Command]) throws -> D.State { D.fold(try history(commands)) }

    func types(_ events: [DeployEvent]) -> [String] { events.map(\.eventType) }

    // MARK: Deploy

    @Test("deploying to a missing endpoint creates it and requests the deployment in one decision")
    func deployCreates() throws {
        let events = try decide(D.self, given: [], when: Self.deploy(1))
        guard events.count == 2, case .endpointCreated(let created) = events[0], case .deploymentRequested(let requested) = events[1] else {
            Issue.record("got \(events)"); return
        }
        #expect(created.name == "shop" && created.registeredModelID == "m" && created.url == "http://router/shop")
        #expect(created.preset == .production && created.resources.memory == "4Gi")
        #expect(requested.deploymentID == "shop-1" && requested.deploymentNumber == 1 && requested.endpointID == "shop")
        #expect(requested.modelVersionID == "m/v1" && requested.versionNumber == 1 && requested.artifactUri == "file:///bundles/v1")
        #expect(requested.strategy == .immediate && requested.steps.isEmpty && !requested.force)
        #expect(requested.sourceRunID == "run-1" && requested.metrics == ["recall_at_100": 0.4] && requested.reason == "test")
        #expect(requested.rollbackToDeploymentID.isEmpty)
    }

    @Test("a deploy with a preset or resources onto an existing endpoint changes the endpoint first, in the same decision")
    func deployChangesResources() throws {
        let history = try history(Self.deployed(1, as: 1))
        var overrides = ServingPresets.Overrides()
        overrides.maxInstances = 4
        let events = try decide(D.self, given: history, when: Self.deploy(2, endpoint: Self.endpoint(preset: "development", overrides: overrides)))
        guard events.count == 2, case .endpointUpdated(let updated) = events[0], case .deploymentRequested = events[1] else {
            Issue.record("got \(types(events))"); return
        }
        #expect(updated.preset == .development && updated.resources.minInstances == 0 && updated.resources.maxInstances == 4)
        #expect(updated.updatedFields == ["preset", "resources"] && updated.updatedBy == "t")
        // The revision it starts carries them.
        let started = try decide(D.self, given: history + events, when: Self.start(2))
        guard case .revisionStarted(let revision) = started.first else { Issue.record("got \(started)"); return }
        #expect(revision.resources.maxInstances == 4)
        // What the endpoint has already, or nothing named: no change.
        #expect(
            try types(decide(D.self, given: history, when: Self.deploy(2, endpoint: Self.endpoint(preset: "production")))) == [
                DeploymentRequested.protoMessageName
            ])
        #expect(try types(decide(D.self, given: history, when: Self.deploy(2))) == [DeploymentRequested.protoMessageName])
        // A bad value is refused, naming the field, and nothing is requested.
        overrides.maxInstances = 0
        expectRejection(
            D.self, given: history, when: Self.deploy(2, endpoint: Self.endpoint(overrides: overrides)), kind: .invalid, field: "max_instances")
    }

    @Test("an immediate deploy takes all traffic once its revision is ready; the previous deployment becomes inactive")
    func immediate() throws {
        let events = try decide(D.self, given: try history(Self.deployed(1, as: 1) + [Self.deploy(2), Self.start(2)]), when: Self.ready(2))
        #expect(types(events) == [RevisionReady.protoMessageName, TrafficShifted.protoMessageName, DeploymentActivated.protoMessageName])
        guard case .trafficShifted(let shifted) = events[1], case .deploymentActivated(let activated) = events[2] else { return }
        #expect(shifted.traffic == ["shop-2-r1": 100] && shifted.reason == .activation && shifted.revisionVersions == ["shop-2-r1": "m/v2"])
        #expect(activated.deploymentID == "shop-2" && activated.previousDeploymentID == "shop-1" && activated.endpointURL == "http://router/shop")
        let state = D.fold(try history(Self.twoVersions))
        #expect(state.deployment("shop-1")?.status == .inactive)
        #expect(state.activeDeploymentID == "shop-2")
    }

    typealias Refusal = SlipwayTestSupport.Refusal<D>

    @Test(
        "a refused deploy names the field and decides nothing",
        arguments: [
            Refusal(name: "not blessed", given: [], when: deploy(3, blessed: false), kind: .conflict, field: "force"),
            Refusal(name: "unknown strategy", given: [], when: deploy(1, strategy: "sideways"), kind: .invalid, field: "strategy"),
            Refusal(name: "gradual onto a new endpoint", given: [], when: deploy(1, gradual: true), kind: .invalid, field: "strategy"),
            Refusal(name: "bad endpoint name", given: [], when: deploy(1, endpoint: endpoint("Bad_Name")), kind: .invalid, field: "endpoint"),
            Refusal(name: "unknown preset", given: [], when: deploy(1, endpoint: endpoint(preset: "huge")), kind: .invalid, field: "preset"),
            Refusal(
                name: "bad memory", given: [],
                when: deploy(
                    1,
                    endpoint: endpoint(
                        overrides: {
                            var o = ServingPresets.Overrides(); o.memory = "a lot"; return o
                        }())),
                kind: .invalid, field: "memory"),
            Refusal(
                name: "steps that do not increase", given: deployed(1, as: 1), when: deploy(2, gradual: true, steps: [50, 10]), kind: .invalid,
                field: "steps"),
            Refusal(
                name: "another model's endpoint", given: deployed(1, as: 1), when: deploy(1, endpoint: endpoint(model: "other")), kind: .conflict,
                field: "endpoint"),
            Refusal(name: "a deployment in progress", given: [deploy(1)], when: deploy(2), kind: .conflict, field: nil),
            Refusal(
                name: "gradual with nothing serving", given: deployed(1, as: 1) + [.undeploy(reason: "", actor: "t")], when: deploy(2, gradual: true),
                kind: .invalid, field: "strategy"),
            Refusal(name: "the version already serving", given: deployed(1, as: 1), when: deploy(1), kind: .conflict, field: "version"),
        ])
    func refusedDeploy(_ refusal: Refusal) throws {
        try expectRejection(refusal)
    }

    @Test("force deploys an unblessed version and the version already serving")
    func force() throws {
        #expect(
            types(try decide(D.self, given: [], when: Self.deploy(3, force: true, blessed: false)))
                == [EndpointCreated.protoMessageName, DeploymentRequested.protoMessageName])
        #expect(
            types(try decide(D.self, given: try history(Self.deployed(1, as: 1)), when: Self.deploy(1, force: true)))
                == [DeploymentRequested.protoMessageName])
    }

    // MARK: Endpoints

    @Test(
        "creating checks the name, preset and resources; an existing name is a conflict",
        arguments: [
            Refusal(name: "bad name", given: [], when: .create(endpoint("-x")), kind: .invalid, field: "name"),
            Refusal(name: "unknown preset", given: [], when: .create(endpoint(preset: "huge")), kind: .invalid, field: "preset"),
            Refusal(
                name: "min above max", given: [],
                when: .create(
                    endpoint(
                        overrides: {
                            var o = ServingPresets.Overrides(); o.minInstances = 30; return o
                        }())),
                kind: .invalid, field: "min_instances"),
            Refusal(name: "exists", given: [.create(endpoint())], when: .create(endpoint()), kind: .conflict, field: "name"),
            Refusal(name: "rename", given: [.create(endpoint())], when: .update(.init(name: "other", updatedBy: "t")), kind: .invalid, field: "name"),
            Refusal(
                name: "unknown preset on update", given: [.create(endpoint())], when: .update(.init(preset: "huge", updatedBy: "t")), kind: .invalid,
                field: "preset"),
            Refusal(
                name: "update of a missing endpoint", given: [], when: .update(.init(description: "x", updatedBy: "t")), kind: .notFound, field: nil),
        ])
    func endpointRules(_ refusal: Refusal) throws {
        try expectRejection(refusal)
    }

    @Test("an update without a preset changes the current resources; with one, it starts from the preset's")
    func update() throws {
        let given = try history([.create(Self.endpoint(preset: "high_traffic"))])
        var overrides = ServingPresets.Overrides()
        overrides.minInstances = 4
        let events = try decide(D.self, given: given, when: .update(.init(overrides: overrides, description: "peak", updatedBy: "t")))
        guard case .endpointUpdated(let updated)? = events.first, events.count == 1 else { Issue.record("got \(events)"); return }
        #expect(updated.preset == .highTraffic && updated.resources.minInstances == 4 && updated.resources.maxInstances == 50)
        #expect(updated.descriptionText == "peak" && updated.updatedFields == ["resources", "description"])
        let reset = try decide(D.self, given: given, when: .update(.init(preset: "development", updatedBy: "t")))
        guard case .endpointUpdated(let development)? = reset.first else { return }
        #expect(development.resources.maxInstances == 2 && development.updatedFields == ["preset"])
    }

    // MARK: Rollouts

    @Test("a gradual rollout moves 10 → 50 → 100 through passed steps, then activates")
    func gradual() throws {
        let given = Self.deployed(1, as: 1) + Self.deployed(2, as: 2, gradual: true)
        var state = try state(given)
        #expect(state.traffic == ["shop-2-r1": 10, "shop-1-r1": 90])
        #expect(state.deployment("shop-2")?.status == .rollingOut)
        let pass0 = D.Command.passStep(deploymentID: "shop-2", stepIndex: 0, observed: [:])
        state = try self.state(given + [pass0])
        #expect(state.traffic == ["shop-2-r1": 50, "shop-1-r1": 50])
        // A repeated or stale pass changes nothing.
        #expect(try decide(D.self, given: try history(given + [pass0]), when: pass0).isEmpty)
        let pass1 = D.Command.passStep(deploymentID: "shop-2", stepIndex: 1, observed: [:])
        #expect(try self.state(given + [pass0, pass1]).traffic == ["shop-2-r1": 100])
        let last = try decide(
            D.self, given: try history(given + [pass0, pass1]), when: .passStep(deploymentID: "shop-2", stepIndex: 2, observed: [:]))
        #expect(types(last) == [RolloutStepPassed.protoMessageName, DeploymentActivated.protoMessageName])
        state = try self.state(given + [pass0, pass1, .passStep(deploymentID: "shop-2", stepIndex: 2, observed: [:])])
        #expect(state.traffic == ["shop-2-r1": 100])
        #expect(state.deployment("shop-2")?.status == .active)
        #expect(state.deployment("shop-1")?.status == .inactive)
    }

    @Test("a failed gate rolls the traffic back to the deployment that served before, recorded as a rollback")
    func gateFailure() throws {
        let given = try history(Self.deployed(1, as: 1) + Self.deployed(2, as: 2, gradual: true))
        let failure = D.GateFailure(
            deploymentID: "shop-2", stepIndex: 0, gate: .errorRate, threshold: 0.01, observed: 0.05, reason: "error rate 5% above 1%")
        let events = try decide(D.self, given: given, when: .failGate(failure))
        #expect(types(events) == [RolloutGateFailed.protoMessageName, TrafficShifted.protoMessageName, RolledBack.protoMessageName])
        guard case .rolledBack(let rolledBack) = events[2] else { return }
        #expect(rolledBack.fromDeploymentID == "shop-2" && rolledBack.toDeploymentID == "shop-1" && rolledBack.trigger == .gateFailed)
        let state = D.fold(given + events)
        #expect(state.traffic == ["shop-1-r1": 100])
        #expect(state.deployment("shop-2")?.status == .rolledBack)
        #expect(state.activeDeploymentID == "shop-1")

        let tested = D.GateFailure(
            deploymentID: "shop-2", stepIndex: 0, gate: .endpointTest, threshold: 1, observed: 0, reason: "the endpoint test failed")
        guard case .rolledBack(let untested)? = try decide(D.self, given: given, when: .failGate(tested)).last else {
            Issue.record("no rollback")
            return
        }
        #expect(untested.trigger == .testFailed, "a failed endpoint test is its own trigger")
    }

    /// v1 serving, v2 rolling out at 10 % with these policies.
    static func rollingOut(rollbackOnAlert: Bool = false, hold: Bool = false) -> [D.Command] {
        let rollout = D.RolloutParameters(steps: [10, 50, 100], stepSeconds: 0, rollbackOnAlert: rollbackOnAlert, holdWhenInconclusive: hold)
        let deploy = D.Command.deploy(
            D.DeployRequest(endpoint: endpoint(), version: version(2), strategy: "gradual", rollout: rollout, requestedBy: "t"))
        return deployed(1, as: 1) + [deploy, start(2), ready(2)]
    }

    @Test("an alert during a rollout rolls it back (trigger alert) when the rollout asks for it, and changes nothing otherwise")
    func alertDuringRollout() throws {
        let alert = D.Command.alertFired(deploymentID: "shop-2", alerts: 1, reason: "1 alert(s) fired")
        let events = try decide(D.self, given: try history(Self.rollingOut(rollbackOnAlert: true)), when: alert)
        #expect(types(events) == [TrafficShifted.protoMessageName, RolledBack.protoMessageName])
        guard case .rolledBack(let rolledBack) = events.last else { return }
        #expect(rolledBack.trigger == .alert && rolledBack.fromDeploymentID == "shop-2" && rolledBack.toDeploymentID == "shop-1")
        #expect(try decide(D.self, given: try history(Self.rollingOut()), when: alert).isEmpty, "the rollout did not ask for it")
        let done = try history(Self.rollingOut(rollbackOnAlert: true)) + events
        #expect(try decide(D.self, given: done, when: alert).isEmpty, "a rollout already rolled back")
        expectRejection(
            D.self, given: try history(Self.deployed(1, as: 1)),
            when: .deploy(
                D.DeployRequest(endpoint: Self.endpoint(), version: Self.version(2), rollout: .init(rollbackOnAlert: true), requestedBy: "t")),
            kind: .invalid, field: "rollback_on_alert")
    }

    @Test("a step unjudged at its deadline holds once when the rollout asks for it, and fails the rollout otherwise")
    func unjudgedStep() throws {
        let unjudged = D.Command.stepUnjudged(D.GateFailure(deploymentID: "shop-2", stepIndex: 0, gate: .errorRate, reason: "inconclusive"))
        let holding = try history(Self.rollingOut(hold: true))
        let held = try decide(D.self, given: holding, when: unjudged)
        #expect(types(held) == [RolloutStepHeld.protoMessageName])
        #expect(D.fold(holding + held).deployment("shop-2")?.heldStepIndex == 0)
        #expect(try decide(D.self, given: holding + held, when: unjudged).isEmpty, "held once per step")
        // Figures that come later still pass it; the next step can hold again.
        let passed = try decide(D.self, given: holding + held, when: .passStep(deploymentID: "shop-2", stepIndex: 0, observed: [:]))
        let next = D.Command.stepUnjudged(D.GateFailure(deploymentID: "shop-2", stepIndex: 1, gate: .errorRate, reason: "inconclusive"))
        #expect(types(try decide(D.self, given: holding + held + passed, when: next)) == [RolloutStepHeld.protoMessageName])
        #expect(try decide(D.self, given: holding + held + passed, when: unjudged).isEmpty, "a stale step's verdict")

        let failing = try decide(D.self, given: try history(Self.rollingOut()), when: unjudged)
        #expect(types(failing) == [RolloutGateFailed.protoMessageName, TrafficShifted.protoMessageName, RolledBack.protoMessageName])
    }

    @Test("a revision that fails to start fails its deployment and leaves the traffic alone")
    func startFailure() throws {
        let given = try history(Self.deployed(1, as: 1) + [Self.deploy(2), Self.start(2)])
        let events = try decide(D.self, given: given, when: .revisionFailed(revisionID: "shop-2-r1", error: "exited with status 2", logTail: ""))
        #expect(types(events) == [RevisionFailed.protoMessageName, DeploymentFailed.protoMessageName])
        let state = D.fold(given + events)
        #expect(state.deployment("shop-2")?.status == .failed)
        #expect(state.traffic == ["shop-1-r1": 100])
        #expect(state.inProgress == nil)
    }

    // MARK: Rollback

    struct RollbackCase: Sendable, CustomTestStringConvertible {
        let name: String
        let given: [D.Command]
        let when: D.Command
        /// The deployment the traffic goes back to, and the one rolled back from.
        let to: String
        let from: String
        var testDescription: String { name }
    }

    @Test(
        "a rollback to a warm revision moves the traffic at once and records RolledBack",
        arguments: [
            RollbackCase(name: "default: the deployment that served before", given: twoVersions, when: rollback(), to: "shop-1", from: "shop-2"),
            RollbackCase(name: "to a version", given: twoVersions, when: rollback(to: "v1"), to: "shop-1", from: "shop-2"),
            RollbackCase(
                name: "to a deployment id", given: twoVersions, when: rollback(to: "shop-1", field: "to_deployment"), to: "shop-1", from: "shop-2"),
            RollbackCase(
                name: "default with three: the most recent superseded one", given: twoVersions + deployed(3, as: 3), when: rollback(),
                to: "shop-2", from: "shop-3"),
            RollbackCase(
                name: "default during a rollout: the deployment still serving the rest",
                given: deployed(1, as: 1) + deployed(2, as: 2, gradual: true),
                when: rollback(), to: "shop-1", from: "shop-2"),
        ])
    func instantRollback(_ test: RollbackCase) throws {
        let given = try history(test.given)
        let events = try decide(D.self, given: given, when: test.when)
        guard events.count == 2, case .trafficShifted(let shifted) = events[0], case .rolledBack(let rolledBack) = events[1] else {
            Issue.record("got \(events)"); return
        }
        #expect(shifted.traffic == ["\(test.to)-r1": 100] && shifted.reason == .rollback && shifted.deploymentID == test.to)
        #expect(rolledBack.fromDeploymentID == test.from && rolledBack.toDeploymentID == test.to && rolledBack.revisionID == "\(test.to)-r1")
        #expect(rolledBack.trigger == .manual && rolledBack.requestedBy == "t")
        let state = D.fold(given + events)
        #expect(state.activeDeploymentID == test.to)
        #expect(state.deployment(test.from)?.status == .rolledBack)
    }

    @Test("a rollback to a stopped revision deploys its version again, and its activation is recorded as the rollback")
    func rollbackRedeploys() throws {
        // v2 rolled back to v1 at once, then v2's revision stopped; now back to v2.
        let story = Self.twoVersions + [Self.rollback(to: "v1"), Self.stop(2)]
        let given = try history(story)
        let requestedEvents = try decide(D.self, given: given, when: Self.rollback(to: "v2", reason: "v1 is worse"))
        guard requestedEvents.count == 1, case .deploymentRequested(let requested) = requestedEvents[0] else {
            Issue.record("got \(requestedEvents)"); return
        }
        #expect(requested.deploymentID == "shop-3" && requested.versionNumber == 2 && requested.modelVersionID == "m/v2")
        #expect(requested.strategy == .immediate && requested.force && requested.requestedBy == "t")
        #expect(requested.reason == "rollback to v2: v1 is worse")
        #expect(requested.rollbackToDeploymentID == "shop-2")

        let started = try history(story + [Self.rollback(to: "v2", reason: "v1 is worse"), Self.start(3)])
        let activation = try decide(D.self, given: started, when: Self.ready(3))
        #expect(
            types(activation) == [
                RevisionReady.protoMessageName, TrafficShifted.protoMessageName, DeploymentActivated.protoMessageName,
                RolledBack.protoMessageName,
            ])
        guard case .trafficShifted(let shifted) = activation[1], case .rolledBack(let rolledBack) = activation[3] else { return }
        #expect(shifted.reason == .rollback && shifted.traffic == ["shop-3-r1": 100])
        #expect(rolledBack.fromDeploymentID == "shop-1" && rolledBack.toDeploymentID == "shop-3" && rolledBack.toVersionNumber == 2)
        #expect(rolledBack.revisionID == "shop-3-r1" && rolledBack.trigger == .manual && rolledBack.reason == "rollback to v2: v1 is worse")
        let state = D.fold(started + activation)
        #expect(state.activeDeploymentID == "shop-3")
        #expect(state.deployment("shop-3")?.status == .active)
        // The deployment it replaced was superseded by the activation, and stays warm for another rollback.
        #expect(state.deployment("shop-1")?.status == .inactive)
    }

    @Test(
        "a rollback that cannot happen is refused",
        arguments: [
            Refusal(name: "nothing earlier", given: deployed(1, as: 1), when: rollback(), kind: .conflict, field: nil),
            Refusal(name: "to what serves", given: twoVersions, when: rollback(to: "v2"), kind: .conflict, field: nil),
            Refusal(name: "unknown version", given: twoVersions, when: rollback(to: "v7"), kind: .invalid, field: "to_version"),
            Refusal(
                name: "unknown deployment", given: twoVersions, when: rollback(to: "shop-9", field: "to_deployment"), kind: .invalid,
                field: "to_deployment"),
            Refusal(
                name: "while the next deployment starts", given: twoVersions + [deploy(3), start(3)], when: rollback(to: "v1"), kind: .conflict,
                field: nil),
            Refusal(
                name: "a redeploy while one is in progress", given: twoVersions + [stop(1), deploy(3)],
                when: rollback(to: "v1"), kind: .conflict, field: nil),
            Refusal(name: "a missing endpoint", given: [], when: rollback(), kind: .notFound, field: nil),
        ])
    func refusedRollback(_ refusal: Refusal) throws {
        try expectRejection(refusal)
    }

    // MARK: Traffic, undeploy, delete

    @Test("a manual split names warm deployments and sums to 100; undeploy empties the traffic; delete needs undeploy")
    func splitUndeployDelete() throws {
        let given = Self.twoVersions
        expectRejection(
            D.self, given: try history(given), when: .setTraffic(split: ["shop-1": 50, "shop-2": 40], actor: "t"), kind: .invalid, field: "traffic")
        expectRejection(D.self, given: try history(given), when: .setTraffic(split: ["v9": 100], actor: "t"), kind: .invalid, field: "traffic.v9")
        let split = D.Command.setTraffic(split: ["v1": 30, "shop-2": 70], actor: "t")
        let events = try decide(D.self, given: try history(given), when: split)
        guard case .trafficShifted(let shifted)? = events.first, events.count == 1 else { Issue.record("got \(events)"); return }
        #expect(shifted.traffic == ["shop-1-r1": 30, "shop-2-r1": 70] && shifted.reason == .manualSplit)
        var state = try self.state(given + [split])
        #expect(state.deployment("shop-1")?.status == .active)
        #expect(state.activeDeploymentID == "shop-2")
        expectRejection(D.self, given: try history(given + [split]), when: .delete(actor: "t"), kind: .conflict)
        let undeploy = D.Command.undeploy(reason: "", actor: "t")
        #expect(
            types(try decide(D.self, given: try history(given + [split]), when: undeploy)) == [
                TrafficShifted.protoMessageName, Undeployed.protoMessageName,
            ])
        state = try self.state(given + [split, undeploy])
        #expect(state.traffic.isEmpty)
        #expect(state.deployments.allSatisfy { $0.status == .undeployed })
        expectRejection(D.self, given: try history(given + [split, undeploy]), when: undeploy, kind: .conflict)
        state = try self.state(given + [split, undeploy, .delete(actor: "t")])
        #expect(!state.exists)
        // The spec's one-call delete undeploys a serving endpoint in the same decision, and deletes an idle one as it is.
        #expect(
            types(try decide(D.self, given: try history(given + [split]), when: .undeployAndDelete(actor: "t"))) == [
                TrafficShifted.protoMessageName, Undeployed.protoMessageName, EndpointDeleted.protoMessageName,
            ])
        #expect(!(try self.state(given + [split, .undeployAndDelete(actor: "t")])).exists)
        #expect(
            types(try decide(D.self, given: try history(given + [split, undeploy]), when: .undeployAndDelete(actor: "t"))) == [
                EndpointDeleted.protoMessageName
            ])
    }

    @Test("a split onto a stopped revision is refused naming the traffic; a serving revision cannot be stopped")
    func stopped() throws {
        let given = try history(Self.twoVersions + [Self.rollback(to: "v1"), Self.stop(2)])
        expectRejection(D.self, given: given, when: .setTraffic(split: ["v1": 50, "v2": 50], actor: "t"), kind: .conflict, field: "traffic")
        expectRejection(D.self, given: given, when: Self.stop(1), kind: .conflict)
    }

    @Test("a refused auto-deploy is recorded without a deployment")
    func rejectRunDeploy() throws {
        let events = try decide(D.self, given: [], when: .rejectRunDeploy(.init(endpoint: "shop", runID: "run-7", error: "not blessed")))
        guard case .deploymentFailed(let failed)? = events.first, events.count == 1 else { Issue.record("got \(events)"); return }
        #expect(failed.endpointID == "shop" && failed.sourceRunID == "run-7" && failed.deploymentID.isEmpty && failed.error == "not blessed")
    }
}

/// The one rollback rule (`EndpointState`): what the decider does, and what every deployment view shows.
@Suite("rollback rule")
struct RollbackRuleTests {
    typealias D = EndpointDecider
    typealias T = EndpointDeciderTests

    struct PathCase: Sendable, CustomTestStringConvertible {
        let name: String
        let given: [D.Command]
        let deployment: String
        let path: EndpointState.RollbackPath
        var testDescription: String { name }
    }

    @Test(
        "instant to a warm revision, a redeploy to a stopped one, unavailable to what serves or is in progress",
        arguments: [
            PathCase(name: "superseded and warm", given: T.twoVersions, deployment: "shop-1", path: .instant(revisionID: "shop-1-r1")),
            PathCase(name: "the active one", given: T.twoVersions, deployment: "shop-2", path: .unavailable),
            PathCase(name: "superseded and stopped", given: T.twoVersions + [T.stop(1)], deployment: "shop-1", path: .redeploy),
            PathCase(
                name: "rolled back, revision stopped", given: T.twoVersions + [T.rollback(to: "v1"), T.stop(2)], deployment: "shop-2", path: .redeploy
            ),
            PathCase(name: "in progress", given: T.twoVersions + [T.deploy(3)], deployment: "shop-3", path: .unavailable),
            PathCase(
                name: "the active one during a rollout", given: T.deployed(1, as: 1) + T.deployed(2, as: 2, gradual: true), deployment: "shop-1",
                path: .instant(revisionID: "shop-1-r1")),
            PathCase(
                name: "failed to start",
                given: T.deployed(1, as: 1) + [
                    T.deploy(2), T.start(2),
                    .revisionFailed(revisionID: "shop-2-r1", error: "x", logTail: ""),
                ], deployment: "shop-2", path: .redeploy),
        ])
    func path(_ test: PathCase) throws {
        let state = D.fold(try SlipwayTestSupport.history(D.self, test.given))
        let deployment = try #require(state.deployment(test.deployment))
        #expect(state.rollbackPath(to: deployment) == test.path)
    }

    @Test("the default target is the deployment that served before the current one")
    func defaultTarget() throws {
        func target(_ commands: [D.Command]) throws -> String? {
            D.fold(try SlipwayTestSupport.history(D.self, commands)).defaultRollbackTarget?.id
        }
        #expect(try target(T.deployed(1, as: 1)) == nil)
        #expect(try target(T.twoVersions) == "shop-1")
        #expect(try target(T.twoVersions + T.deployed(3, as: 3)) == "shop-2")
        #expect(try target(T.twoVersions + [T.rollback()]) == nil, "shop-2 was rolled back from, shop-1 serves: nothing earlier served")
        #expect(try target(T.deployed(1, as: 1) + T.deployed(2, as: 2, gradual: true)) == "shop-1")
    }
}

@Suite("endpoint rules")
struct EndpointRulesTests {
    @Test(
        "names are DNS labels",
        arguments: [
            ("b2b-prod", true), ("a", true), ("x1", true), ("1abc", false), ("abc-", false), ("Abc", false), ("a_b", false), ("", false),
            (String(repeating: "a", count: 63), true), (String(repeating: "a", count: 64), false),
        ])
    func names(name: String, valid: Bool) {
        #expect((EndpointName.problem(name) == nil) == valid)
    }

    @Test("the suggested name is valid for any model name")
    func suggested() {
        for model in ["b2b-retrieval", "My_Model v2", "42things", "___"] {
            let name = EndpointName.suggested(forModel: model)
            #expect(EndpointName.problem(name) == nil, "\(model) → \(name)")
        }
        #expect(EndpointName.suggested(forModel: "b2b-retrieval") == "b2b-retrieval-serving")
    }

    @Test("presets give the spec's resources; overrides are checked and name the field")
    func presets() throws {
        let production = try ServingPresets.resolve(preset: .production, overrides: .init())
        #expect((production.minInstances, production.maxInstances, production.memory, production.cpu) == (1, 10, "4Gi", "2"))
        let high = ServingPresets.resources(for: .highTraffic)
        #expect((high.minInstances, high.maxInstances, high.memory, high.cpu) == (2, 50, "8Gi", "4"))
        var overrides = ServingPresets.Overrides()
        overrides.minInstances = 5
        overrides.maxInstances = 2
        #expect { try ServingPresets.resolve(preset: .development, overrides: overrides) } throws: {
            ($0 as? CommandRejected)?.field == "min_instances"
        }
        overrides = .init()
        overrides.memory = "lots"
        #expect { try ServingPresets.resolve(preset: .development, overrides: overrides) } throws: { ($0 as? CommandRejected)?.field == "memory" }
        overrides = .init()
        overrides.cpu = "500m"
        overrides.memory = "512Mi"
        #expect(try ServingPresets.resolve(preset: .development, overrides: overrides).cpu == "500m")
    }

    @Test("rollout steps must increase to 100; gates judge health always, metrics from min_requests on, and wait rather than pass on nothing")
    func rollout() throws {
        #expect(throws: CommandRejected.self) { try RolloutPlan.steps(percents: [50, 10, 100], stepSeconds: 1) }
        #expect(throws: CommandRejected.self) { try RolloutPlan.steps(percents: [10, 50], stepSeconds: 1) }
        #expect(throws: CommandRejected.self) { try RolloutPlan.steps(percents: [0, 100], stepSeconds: 1) }
        #expect(throws: CommandRejected.self) { try RolloutPlan.steps(percents: [100], stepSeconds: 1, minRequests: -1) }
        let step = try RolloutPlan.steps(percents: [10, 100], stepSeconds: 1, maxErrorRate: 0.01, maxP99Ms: 50)[0]
        #expect(step.minRequests == RolloutPlan.defaultMinRequests)
        typealias Figures = RolloutPlan.Observation.Figures
        func verdict(_ healthy: Bool, _ figures: Figures?, _ step: RolloutStep = step) -> RolloutPlan.Verdict {
            RolloutPlan.evaluate(step, .init(healthy: healthy, figures: figures))
        }
        // No traffic, or no figures at all: inconclusive, never a pass.
        guard case .inconclusive(.errorRate, _) = verdict(true, Figures(requests: 0, errorRate: 0, p99Ms: nil)) else {
            Issue.record("a step without requests must wait"); return
        }
        guard case .inconclusive = verdict(true, Figures(requests: 19, errorRate: 0, p99Ms: 3)) else { Issue.record("19 of 20 must wait"); return }
        guard case .inconclusive = verdict(true, nil) else { Issue.record("no figures must wait"); return }
        #expect(
            verdict(true, Figures(requests: 20, errorRate: 0, p99Ms: 3))
                == .pass(observed: ["requests": 20, "health": 1, "error_rate": 0, "p99_ms": 3]))
        guard case .fail(.health, _, _, _) = verdict(false, nil) else { Issue.record("an unhealthy revision must fail"); return }
        guard case .fail(.errorRate, _, let observed, _) = verdict(true, Figures(requests: 100, errorRate: 0.05, p99Ms: 3)) else {
            Issue.record("5% errors must fail"); return
        }
        #expect(observed == 0.05)
        guard case .fail(.latencyP99, _, _, _) = verdict(true, Figures(requests: 100, errorRate: 0, p99Ms: 80)) else {
            Issue.record("a slow p99 must fail"); return
        }
        // A rollout that asked for no traffic judges health (and whatever figures there are).
        let untrafficked = try RolloutPlan.steps(percents: [100], stepSeconds: 0, minRequests: 0)[0]
        #expect(verdict(true, nil, untrafficked) == .pass(observed: ["health": 1]))
        // Gates of other kinds: alerts from metrics-svc; testing-svc's endpoint test of the new revision.
        var alerting = untrafficked
        alerting.gates.append(RolloutGate.with { $0.kind = .noAlerts })
        guard case .fail(.noAlerts, _, _, _) = verdict(true, Figures(requests: 0, errorRate: 0, p99Ms: nil, firingAlerts: 1), alerting) else {
            Issue.record("a firing alert must fail the no_alerts gate"); return
        }
        let tested = try RolloutPlan.steps(percents: [10, 100], stepSeconds: 0, minRequests: 0, endpointTest: true)
        #expect(tested[0].gates.map(\.kind).contains(.endpointTest) && !tested[1].gates.map(\.kind).contains(.endpointTest), "the first step only")
        func judged(_ test: RolloutPlan.Observation.EndpointTest?) -> RolloutPlan.Verdict {
            RolloutPlan.evaluate(tested[0], .init(healthy: true, figures: Figures(requests: 50, errorRate: 0, p99Ms: 1), endpointTest: test))
        }
        guard case .inconclusive(.endpointTest, _) = judged(nil), case .inconclusive(.endpointTest, _) = judged(.running) else {
            Issue.record("an endpoint test not yet run or still running must wait"); return
        }
        guard case .fail(.endpointTest, _, _, let reason) = judged(.failed("sample 3: ids unknown")), reason.contains("sample 3") else {
            Issue.record("a failed endpoint test must fail its gate, saying why"); return
        }
        #expect(judged(.passed) == .pass(observed: ["requests": 50, "health": 1, "error_rate": 0, "p99_ms": 1, "endpoint_test": 1]))
    }
}
