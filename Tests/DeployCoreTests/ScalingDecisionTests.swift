import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

@testable import DeployCore

/// How revisions scale, without I/O: the autoscaler's decisions, the load window's arithmetic over router reports,
/// and the endpoint decider's rules for `scaleRevision`.
@Suite("revision scaling decisions")
struct ScalingDecisionTests {
    typealias D = EndpointDecider
    static let autoscaler = Autoscaler(targetInFlight: 4, scaleDownDelaySeconds: 30, scaleToZeroAfterSeconds: 300)

    static func observe(
        _ instances: Int, bounds: ClosedRange<Int> = 1...4, serving: Bool = true, inFlight: Double? = 0, idle: Double = 0, sinceScale: Double = 600
    ) -> Autoscaler.Observation {
        .init(instances: instances, bounds: bounds, serving: serving, inFlight: inFlight, idleSeconds: idle, sinceLastScaleSeconds: sinceScale)
    }

    struct Row: Sendable, CustomTestStringConvertible {
        let name: String
        let observation: Autoscaler.Observation
        let instances: Int?
        let cause: RevisionScaleCause?
        var testDescription: String { name }
    }

    @Test(
        "the autoscaler's decisions",
        arguments: [
            Row(name: "load above target scales up at once", observation: observe(1, inFlight: 9), instances: 3, cause: .load),
            Row(name: "up, but never past max_instances", observation: observe(2, bounds: 1...3, inFlight: 40), instances: 3, cause: .load),
            Row(name: "at target: no change", observation: observe(2, inFlight: 8), instances: nil, cause: nil),
            Row(name: "below target: down one after the delay", observation: observe(3, inFlight: 1), instances: 2, cause: .load),
            Row(name: "below target within the delay: no change", observation: observe(3, inFlight: 1, sinceScale: 10), instances: nil, cause: nil),
            Row(name: "never below min_instances", observation: observe(2, bounds: 2...4, inFlight: 0), instances: nil, cause: nil),
            Row(name: "up to min_instances", observation: observe(1, bounds: 2...4, inFlight: nil), instances: 2, cause: .minInstances),
            Row(name: "down to max_instances", observation: observe(5, bounds: 1...3, inFlight: nil), instances: 3, cause: .maxInstances),
            Row(name: "unknown load: only the bounds decide", observation: observe(3, inFlight: nil), instances: nil, cause: nil),
            Row(name: "min 0 and idle: to zero", observation: observe(1, bounds: 0...2, idle: 300), instances: 0, cause: .idle),
            Row(name: "min 0, idle but not long enough", observation: observe(1, bounds: 0...2, idle: 299), instances: nil, cause: nil),
            Row(
                name: "min 0, no router answering: not idle as far as anyone knows",
                observation: observe(1, bounds: 0...2, inFlight: nil, idle: 9999), instances: nil, cause: nil),
            Row(name: "min 1 never goes to zero", observation: observe(1, bounds: 1...2, idle: 9999), instances: nil, cause: nil),
            Row(name: "at zero it waits for a request", observation: observe(0, bounds: 0...2, inFlight: 5), instances: nil, cause: nil),
            Row(
                name: "without a share, one instance is enough (kept warm for rollback)",
                observation: observe(2, bounds: 2...4, serving: false, inFlight: 0), instances: 1, cause: .load),
            Row(
                name: "without a share and min 0: to zero when idle",
                observation: observe(1, bounds: 0...2, serving: false, idle: 400), instances: 0, cause: .idle),
        ])
    func decisions(_ row: Row) {
        let decision = Self.autoscaler.decide(row.observation)
        #expect(decision?.instances == row.instances, "\(String(describing: decision))")
        #expect(decision?.cause == row.cause)
        if let decision { #expect(!decision.reason.isEmpty) }
    }

    @Test("whatever it sees, the autoscaler stays within the bounds and moves down one at a time")
    func boundsHold() {
        var random = SeededGenerator(state: 7)
        for _ in 0..<5000 {
            let upper = Int.random(in: 1...8, using: &random)
            let lower = Int.random(in: 0...upper, using: &random)
            let instances = Int.random(in: 0...10, using: &random)
            let observation = Self.observe(
                instances, bounds: lower...upper, serving: Bool.random(using: &random),
                inFlight: Bool.random(using: &random) ? Double.random(in: 0...100, using: &random) : nil,
                idle: Double.random(in: 0...600, using: &random), sinceScale: Double.random(in: 0...60, using: &random))
            guard let decision = Self.autoscaler.decide(observation) else { continue }
            #expect(decision.instances != instances)
            #expect(decision.instances <= upper, "\(observation) → \(decision)")
            #expect(decision.instances >= 1 || lower == 0, "\(observation) → \(decision)")
            if decision.cause == RevisionScaleCause.load, decision.instances < instances { #expect(decision.instances == instances - 1) }
            if decision.instances == 0 { #expect(decision.cause == RevisionScaleCause.idle && observation.idleSeconds >= 300) }
        }
    }

    // MARK: Load window

    static func report(_ router: String, _ revisions: [(String, Int, Int, Int)]) -> RouterLoadReport {
        RouterLoadReport(
            routerID: router, revisions: revisions.map { .init(revisionID: $0.0, requests: $0.1, inFlight: $0.2, busyMicros: $0.3) })
    }

    @Test("in flight is busy time over wall time, summed over routers; a missing or restarted router adds no sample")
    func loadWindow() {
        var window = LoadWindow(windowSeconds: 3)
        window.add(["a": Self.report("A", [("r1", 0, 0, 0)]), "b": Self.report("B", [])], at: 0)
        #expect(window.inFlight("r1", at: 0) == nil, "one report per router is no rate yet")
        // In the next second r1 was busy 2 s at router A and 1 s at router B: 3 requests in flight on average.
        window.add(["a": Self.report("A", [("r1", 10, 1, 2_000_000)]), "b": Self.report("B", [("r1", 5, 0, 1_000_000)])], at: 1)
        #expect(window.inFlight("r1", at: 1) == 3)
        #expect(window.lastActive("r1") == 1)
        // A router that does not answer: no sample, the average stays what it was.
        window.add(["a": Self.report("A", [("r1", 20, 0, 9_000_000)]), "b": nil], at: 2)
        #expect(window.inFlight("r1", at: 2) == 3)
        // A restarted router (a new id) starts over: no sample either.
        window.add(["a": Self.report("A", [("r1", 20, 0, 9_000_000)]), "b": Self.report("B2", [("r1", 1, 0, 0)])], at: 3)
        #expect(window.inFlight("r1", at: 3.5) == 3)
        // Past the window without a complete poll, the load is unknown.
        #expect(window.inFlight("r1", at: 4.5) == nil)
        // Quiet seconds average in: 0 busy over the next two seconds.
        window.add(["a": Self.report("A", [("r1", 20, 0, 9_000_000)]), "b": Self.report("B2", [("r1", 1, 0, 0)])], at: 5)
        window.add(["a": Self.report("A", [("r1", 20, 0, 9_000_000)]), "b": Self.report("B2", [("r1", 1, 0, 0)])], at: 6)
        #expect(window.inFlight("r1", at: 6) == 0)
        #expect(window.lastActive("r1") == 2, "the last requests were counted at 2")
        // Requests in flight right now count even before they finish.
        window.add(["a": Self.report("A", [("r1", 21, 5, 9_000_000)]), "b": Self.report("B2", [("r1", 1, 0, 0)])], at: 7)
        #expect(window.inFlight("r1", at: 7) == 5)
        #expect(window.inFlight("other", at: 7) == 0, "a revision no router lists has no load")
    }

    // MARK: The decider's rules

    static let shopDev = EndpointDeciderTests.endpoint(preset: "development")

    /// v1 on the development preset (0 to 2 instances), ready at one address.
    static func developmentHistory() throws -> [DeployEvent] {
        try SlipwayTestSupport.history(
            D.self, [EndpointDeciderTests.deploy(1, endpoint: shopDev), EndpointDeciderTests.start(1), EndpointDeciderTests.ready(1)])
    }

    static func scale(_ addresses: [String], cause: RevisionScaleCause = .load) -> D.Command {
        .scaleRevision(.init(revisionID: "shop-1-r1", addresses: addresses, cause: cause, reason: "test", startupMs: 7))
    }

    @Test("a ready revision scales within its bounds; each change is one RevisionScaled with every address")
    func scaleRevision() throws {
        let history = try Self.developmentHistory()
        let events = try decide(D.self, given: history, when: Self.scale(["http://127.0.0.1:9001", "http://127.0.0.1:9100"]))
        guard events.count == 1, case .revisionScaled(let scaled) = events[0] else {
            Issue.record("got \(events)"); return
        }
        #expect(scaled.endpointID == "shop" && scaled.deploymentID == "shop-1" && scaled.revisionID == "shop-1-r1")
        #expect(scaled.addresses == ["http://127.0.0.1:9001", "http://127.0.0.1:9100"] && scaled.previousInstances == 1)
        #expect(scaled.cause == .load && scaled.startupMs == 7)
        let state = D.fold(history + events)
        #expect(state.revisions["shop-1-r1"]?.addresses.count == 2 && state.revisions["shop-1-r1"]?.address == "http://127.0.0.1:9001")

        // To zero (development's min is 0): still ready and warm, no instance.
        let zero = try stateAfter(D.self, given: history + events, when: Self.scale([], cause: .idle))
        #expect(zero.revisions["shop-1-r1"]?.addresses.isEmpty == true && zero.revisions["shop-1-r1"]?.isWarm == true)
        #expect(zero.traffic == ["shop-1-r1": 100], "the traffic stays: a request wakes it")
        // The same addresses again decide nothing.
        #expect(try decide(D.self, given: history + events, when: Self.scale(["http://127.0.0.1:9001", "http://127.0.0.1:9100"])).isEmpty)
        // A restarted first instance keeps the others.
        var restarted = D.fold(history + events)
        restarted = D.evolve(
            restarted,
            try decide(D.self, given: history + events, when: .revisionReady(revisionID: "shop-1-r1", address: "http://x:1", startupMs: 1))
                .first ?? .revisionReady(RevisionReady()))
        #expect(restarted.revisions["shop-1-r1"]?.addresses == ["http://x:1", "http://127.0.0.1:9100"])
    }

    @Test("scaling is refused past max_instances, to zero above min 0, with duplicate addresses, or for a revision not ready")
    func scaleRefusals() throws {
        let development = try Self.developmentHistory()
        expectRejection(D.self, given: development, when: Self.scale(["http://a:1", "http://a:2", "http://a:3"]), kind: .invalid, field: "instances")
        expectRejection(D.self, given: development, when: Self.scale(["http://a:1", "http://a:1"]), kind: .invalid, field: "addresses")
        let production = try SlipwayTestSupport.history(D.self, EndpointDeciderTests.deployed(1, as: 1))
        expectRejection(D.self, given: production, when: Self.scale([]), kind: .invalid, field: "instances")
        let starting = try SlipwayTestSupport.history(D.self, [EndpointDeciderTests.deploy(1), EndpointDeciderTests.start(1)])
        expectRejection(D.self, given: starting, when: Self.scale(["http://a:1"]), kind: .conflict)
        let stopped = try SlipwayTestSupport.history(
            D.self, EndpointDeciderTests.twoVersions + [EndpointDeciderTests.stop(1)])
        expectRejection(
            D.self, given: stopped,
            when: .scaleRevision(.init(revisionID: "shop-1-r1", addresses: ["http://a:1"], cause: .load, reason: "")), kind: .conflict)
    }
}
