@testable import DeployCore
import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import Testing

/// The endpoint aggregate's rules, without I/O.
@Suite("endpoint decider")
struct EndpointDeciderTests {
    typealias D = EndpointDecider

    func run(_ state: D.State, _ command: D.Command) throws -> (D.State, [DeployEvent]) {
        let events = try D.decide(command, state)
        return (events.reduce(state, D.evolve), events)
    }

    func endpoint() throws -> D.State {
        var created = EndpointCreated()
        created.endpointID = "shop"
        created.name = "shop"
        created.registeredModelID = "m"
        return try run(D.initial, .create(created)).0
    }

    func request(_ version: Int32, gradual: Bool = false, force: Bool = false) throws -> DeploymentRequested {
        var requested = DeploymentRequested()
        requested.registeredModelID = "m"
        requested.modelVersionID = "m/v\(version)"
        requested.versionNumber = version
        requested.force = force
        if gradual {
            requested.strategy = .gradual
            requested.steps = try RolloutPlan.steps(percents: [10, 50, 100], stepSeconds: 0)
        } else {
            requested.strategy = .immediate
        }
        return requested
    }

    /// Request → revision started → ready.
    func deploy(_ state: D.State, _ version: Int32, gradual: Bool = false) throws -> (D.State, [DeployEvent]) {
        var (state, _) = try run(state, .requestDeployment(try request(version, gradual: gradual)))
        let id = state.deployments.last!.id
        (state, _) = try run(state, .startRevision(deploymentID: id, target: .local, resources: ServingResources()))
        var ready = RevisionReady()
        ready.revisionID = D.revisionID(forDeployment: id)
        ready.address = "http://127.0.0.1:\(9000 + version)"
        return try run(state, .revisionReady(ready))
    }

    @Test("an immediate deploy takes all traffic once its revision is ready; the previous deployment becomes inactive")
    func immediate() throws {
        var (state, events) = try deploy(try endpoint(), 1)
        #expect(events.map(\.eventType) == [RevisionReady.protoMessageName, TrafficShifted.protoMessageName, DeploymentActivated.protoMessageName])
        #expect(state.traffic == ["shop-1-r1": 100])
        #expect(state.activeDeploymentID == "shop-1")
        (state, _) = try deploy(state, 2)
        #expect(state.traffic == ["shop-2-r1": 100])
        #expect(state.deployment("shop-1")?.status == .inactive)
        #expect(state.deployment("shop-2")?.status == .active)
        // The same version again needs force.
        #expect(throws: CommandRejected.self) { try D.decide(.requestDeployment(try request(2)), state) }
        #expect(try D.decide(.requestDeployment(try request(2, force: true)), state).count == 1)
    }

    @Test("a gradual rollout moves 10 → 50 → 100 through passed steps, then activates")
    func gradual() throws {
        var (state, _) = try deploy(try endpoint(), 1)
        var events: [DeployEvent]
        (state, events) = try deploy(state, 2, gradual: true)
        #expect(events.map(\.eventType).contains(RolloutStepStarted.protoMessageName))
        #expect(state.traffic == ["shop-2-r1": 10, "shop-1-r1": 90])
        #expect(state.deployment("shop-2")?.status == .rollingOut)
        (state, _) = try run(state, .passStep(deploymentID: "shop-2", stepIndex: 0, observed: [:]))
        #expect(state.traffic == ["shop-2-r1": 50, "shop-1-r1": 50])
        // A repeated or stale pass changes nothing.
        #expect(try D.decide(.passStep(deploymentID: "shop-2", stepIndex: 0, observed: [:]), state).isEmpty)
        (state, _) = try run(state, .passStep(deploymentID: "shop-2", stepIndex: 1, observed: [:]))
        #expect(state.traffic == ["shop-2-r1": 100])
        (state, events) = try run(state, .passStep(deploymentID: "shop-2", stepIndex: 2, observed: [:]))
        #expect(events.last?.eventType == DeploymentActivated.protoMessageName)
        #expect(state.deployment("shop-2")?.status == .active)
        #expect(state.deployment("shop-1")?.status == .inactive)
    }

    @Test("a failed gate rolls the traffic back to the previous deployment")
    func gateFailure() throws {
        var (state, _) = try deploy(try endpoint(), 1)
        (state, _) = try deploy(state, 2, gradual: true)
        var failed = RolloutGateFailed()
        failed.deploymentID = "shop-2"
        failed.gate = .errorRate
        failed.reason = "error rate 5% above 1%"
        let events: [DeployEvent]
        (state, events) = try run(state, .failGate(failed))
        #expect(events.map(\.eventType) == [RolloutGateFailed.protoMessageName, TrafficShifted.protoMessageName, RolledBack.protoMessageName])
        #expect(state.traffic == ["shop-1-r1": 100])
        #expect(state.deployment("shop-2")?.status == .rolledBack)
        #expect(state.activeDeploymentID == "shop-1")
    }

    @Test("rollback is instant to a warm revision and refused to a stopped one; gradual needs something serving")
    func rollback() throws {
        #expect(throws: CommandRejected.self) { try D.decide(.requestDeployment(try request(1, gradual: true)), try endpoint()) }
        var (state, _) = try deploy(try endpoint(), 1)
        (state, _) = try deploy(state, 2)
        (state, _) = try run(state, .rollback(toDeploymentID: "shop-1", trigger: .manual, reason: "", by: "t"))
        #expect(state.traffic == ["shop-1-r1": 100])
        #expect(state.deployment("shop-2")?.status == .rolledBack)
        (state, _) = try run(state, .stopRevision(revisionID: "shop-2-r1", reason: "rolled back"))
        #expect(throws: CommandRejected.self) { try D.decide(.rollback(toDeploymentID: "shop-2", trigger: .manual, reason: "", by: "t"), state) }
        // A serving revision cannot be stopped.
        #expect(throws: CommandRejected.self) { try D.decide(.stopRevision(revisionID: "shop-1-r1", reason: ""), state) }
    }

    @Test("a manual split names warm deployments and sums to 100; undeploy empties the traffic; delete needs undeploy")
    func splitUndeployDelete() throws {
        var (state, _) = try deploy(try endpoint(), 1)
        (state, _) = try deploy(state, 2)
        #expect(throws: CommandRejected.self) { try D.decide(.setTraffic(["shop-1": 50, "shop-2": 40], by: "t"), state) }
        #expect(throws: CommandRejected.self) { try D.decide(.setTraffic(["shop-9": 100], by: "t"), state) }
        (state, _) = try run(state, .setTraffic(["shop-1": 30, "shop-2": 70], by: "t"))
        #expect(state.traffic == ["shop-1-r1": 30, "shop-2-r1": 70])
        #expect(state.deployment("shop-1")?.status == .active)
        #expect(state.activeDeploymentID == "shop-2")
        #expect(throws: CommandRejected.self) { try D.decide(.delete(by: "t"), state) }
        (state, _) = try run(state, .undeploy(reason: "", by: "t"))
        #expect(state.traffic.isEmpty)
        #expect(state.deployments.allSatisfy { $0.status == .undeployed })
        #expect(throws: CommandRejected.self) { try D.decide(.undeploy(reason: "", by: "t"), state) }
        (state, _) = try run(state, .delete(by: "t"))
        #expect(!state.exists)
    }

    @Test("a revision that fails to start fails its deployment and leaves the traffic alone")
    func startFailure() throws {
        var (state, _) = try deploy(try endpoint(), 1)
        (state, _) = try run(state, .requestDeployment(try request(2)))
        (state, _) = try run(state, .startRevision(deploymentID: "shop-2", target: .local, resources: ServingResources()))
        var failed = RevisionFailed()
        failed.revisionID = "shop-2-r1"
        failed.error = "exited with status 2"
        (state, _) = try run(state, .revisionFailed(failed))
        #expect(state.deployment("shop-2")?.status == .failed)
        #expect(state.traffic == ["shop-1-r1": 100])
        #expect(state.inProgress == nil)
    }
}

@Suite("endpoint rules")
struct EndpointRulesTests {
    @Test("names are DNS labels", arguments: [
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
        #expect { try ServingPresets.resolve(preset: .development, overrides: overrides) } throws: { ($0 as? CommandRejected)?.field == "min_instances" }
        overrides = .init()
        overrides.memory = "lots"
        #expect { try ServingPresets.resolve(preset: .development, overrides: overrides) } throws: { ($0 as? CommandRejected)?.field == "memory" }
        overrides = .init()
        overrides.cpu = "500m"
        overrides.memory = "512Mi"
        #expect(try ServingPresets.resolve(preset: .development, overrides: overrides).cpu == "500m")
    }

    @Test("rollout steps must increase to 100; gates judge health always and metrics once there are requests")
    func rollout() throws {
        #expect(throws: CommandRejected.self) { try RolloutPlan.steps(percents: [50, 10, 100], stepSeconds: 1) }
        #expect(throws: CommandRejected.self) { try RolloutPlan.steps(percents: [10, 50], stepSeconds: 1) }
        #expect(throws: CommandRejected.self) { try RolloutPlan.steps(percents: [0, 100], stepSeconds: 1) }
        let step = try RolloutPlan.steps(percents: [10, 100], stepSeconds: 1, maxErrorRate: 0.01, maxP99Ms: 50)[0]
        #expect(RolloutPlan.evaluate(step, .init(healthy: true, requests: 0, errorRate: 1, p99Ms: 999)) == .pass(observed: ["requests": 0, "health": 1]))
        guard case .fail(let gate, _, _, _) = RolloutPlan.evaluate(step, .init(healthy: false, requests: 0, errorRate: 0, p99Ms: 0)) else {
            Issue.record("an unhealthy revision must fail"); return
        }
        #expect(gate == .health)
        guard case .fail(let errors, _, let observed, _) = RolloutPlan.evaluate(step, .init(healthy: true, requests: 100, errorRate: 0.05, p99Ms: 3)) else {
            Issue.record("5% errors must fail"); return
        }
        #expect(errors == .errorRate && observed == 0.05)
        guard case .fail(let latency, _, _, _) = RolloutPlan.evaluate(step, .init(healthy: true, requests: 100, errorRate: 0, p99Ms: 80)) else {
            Issue.record("a slow p99 must fail"); return
        }
        #expect(latency == .latencyP99)
    }
}
