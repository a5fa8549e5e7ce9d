import Foundation
import HTTPTypes
import SlipwayContracts
import SlipwayLocalRuntime
import SlipwayTestSupport
import Synchronization
import Testing

@testable import DeployCore

/// Revisions scaling on the local target, end to end: deploy-svc (real PostgreSQL, its controller), real model-server
/// processes and a real serving-router process (its own dev broker) that balances across a revision's instances, reports
/// their load to the autoscaler, and holds a request while a revision scaled to zero wakes. The autoscaler's
/// periods are short here (a 2 s window, 2 s before scaling down, zero after 3 s idle).
@Suite("revision scaling", .serialized, .timeLimit(.minutes(4)))
struct ScalingTests {
    let deploy = DeploymentTests()
    static let model = DeploymentTests.model

    static func revision(_ view: [String: Any], _ deployment: String) -> [String: Any]? {
        DeploymentTests.deployment(view, deployment)?["revision"] as? [String: Any]
    }

    static func instances(_ view: [String: Any], _ deployment: String) -> [String] {
        revision(view, deployment)?["instances"] as? [String] ?? []
    }

    @Test("load adds an instance the router balances across, quiet removes it; an idle revision scales to zero and a request wakes it")
    func scaleUpDownAndFromZero() async throws {
        let infrastructure = TestInfrastructure.shared
        let work = URL(fileURLWithPath: infrastructure.workDirectory).appendingPathComponent("scaling-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let broker = try await infrastructure.ownBroker(in: work)
        defer { withExtendedLifetime(broker.process) {} }
        let adminPort = try freeTCPPort()
        let arguments = [
            "--router-admin-url", "http://127.0.0.1:\(adminPort)", "--autoscale-target-in-flight", "2", "--autoscale-window-seconds", "2",
            "--scale-down-delay-seconds", "2", "--scale-to-zero-after-seconds", "3",
        ]
        try await deploy.withDeployService(arguments: arguments, live: true) { f in
            let deployPort = try #require(f.service.port)
            // The router's admin port is the one deploy-svc was told; its public port is free.
            let port = try freeTCPPort()
            let routerProcess = try Launched(
                infrastructure.executable("serving-router"),
                [
                    "--host", "127.0.0.1", "--port", "\(port)", "--admin-port", "\(adminPort)", "--deploy-url", "http://127.0.0.1:\(deployPort)",
                    "--kafka-brokers", broker.address, "--resync-seconds", "1", "--cold-start-timeout-seconds", "30", "--log-level", "warning",
                ], log: work.appendingPathComponent("router.log"))
            defer { withExtendedLifetime(routerProcess) {} }
            try await routerProcess.waitUntil("serving-router loaded") {
                await HTTPProbe.status(of: URL(string: "http://127.0.0.1:\(adminPort)/health")!) == 200
            }
            var (status, body) = try await f.call(.post, "/api/models/\(Self.model)/api-keys", #"{"name": "scaling"}"#)
            #expect(status == .created, "\(body)")
            let key = try #require(body["key"] as? String)
            let router = APITestClient(baseURL: "http://127.0.0.1:\(port)", headers: [.authorization: "Bearer \(key)"])

            // v1 on an endpoint of one to two instances.
            (status, body) = try await f.call(
                .post, "/api/models/\(Self.model)/deployments",
                #"{"version": 1, "endpoint": "busy", "preset": "custom", "min_instances": 1, "max_instances": 2}"#)
            #expect(status == .accepted, "\(body)")
            var view = try await f.waitFor("busy", "v1 serving") { DeploymentTests.traffic($0) == [1: 100] }
            #expect(Self.instances(view, "busy-1").count == 1)
            try await eventually(timeout: .seconds(20), "the router serves busy") {
                try await router.post("/busy/recommend", #"{"customer_id": "C1", "top_k": 3}"#).status == .ok
            }

            // Six clients at once, each waiting for its answer: about six requests in flight against a target of two per
            // instance. (Few, and only until both instances have served: the suite's other tests share the two cores.)
            let failures = ManagedCounter()
            let answered = ManagedCounter()
            let loadDone = ManagedFlag()
            let adminAPI = APITestClient(baseURL: "http://127.0.0.1:\(adminPort)")
            let sent = Mutex<[RouterLoadReport.Instance]>([])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<6 {
                    group.addTask {
                        while !loadDone.isSet {
                            let answer = try await router.post("/busy/recommend", #"{"customer_id": "C\#(client)", "top_k": 10}"#)
                            if answer.status == .ok { answered.increment() } else { failures.increment() }
                        }
                    }
                }
                defer { loadDone.set() }
                view = try await f.waitFor("busy", timeout: .seconds(60), "a second instance under load") { Self.instances($0, "busy-1").count == 2 }
                // Both instances get requests: the router balances a revision's by requests outstanding.
                try await eventually(timeout: .seconds(20), "both instances served") {
                    let load = try await adminAPI.get("/internal/load").decode(RouterLoadReport.self, decoder: JSONDecoder())
                    let instances = load.revisions.first { $0.revisionID == "busy-1-r1" }?.instances ?? []
                    sent.withLock { $0 = instances }
                    return instances.count == 2 && instances.allSatisfy { $0.sent > 10 }
                }
                loadDone.set()
                try await group.waitForAll()
            }
            #expect(failures.value == 0, "every request under load was answered")
            #expect(answered.value > 20)
            let pair = Self.instances(view, "busy-1")
            let served = sent.withLock { $0 }
            #expect(Set(served.map(\.address)) == Set(pair), "\(served)")
            for address in pair { #expect(await HTTPProbe.status(of: URL(string: "\(address)/health")!) == 200) }
            var events = try await f.events("busy")
            let up = events.compactMap { if case .revisionScaled(let e) = $0 { e } else { nil } }.first
            #expect(
                up?.cause == .load && up?.previousInstances == 1 && up?.addresses.count == 2 && (up?.startupMs ?? 0) > 0, "\(String(describing: up))")
            #expect(up?.reason.contains("in flight per instance > target 2.0") == true, "\(up?.reason ?? "")")

            // Quiet: back to one instance after the delay, and the removed one is stopped once drained.
            view = try await f.waitFor("busy", timeout: .seconds(60), "back to one instance") { Self.instances($0, "busy-1").count == 1 }
            try await eventually(timeout: .seconds(20), "the removed instance stopped") {
                await HTTPProbe.status(of: URL(string: "\(pair[1])/health")!) == nil
            }
            #expect(try await router.post("/busy/recommend", #"{"customer_id": "C1", "top_k": 3}"#).status == .ok)

            // The development preset may scale to zero: idle for 3 s, it does; its model-server is stopped.
            (status, body) = try await f.call(
                .post, "/api/models/\(Self.model)/deployments", #"{"version": 2, "endpoint": "cold", "preset": "development"}"#)
            #expect(status == .accepted, "\(body)")
            view = try await f.waitFor("cold", "v2 serving") { DeploymentTests.traffic($0) == [2: 100] }
            let first = try #require(Self.instances(view, "cold-1").first)
            view = try await f.waitFor("cold", timeout: .seconds(60), "scaled to zero") { Self.instances($0, "cold-1").isEmpty }
            #expect(Self.revision(view, "cold-1")?["status"] as? String == "ready")
            #expect(DeploymentTests.traffic(view) == [2: 100], "scaled to zero, it keeps its share")
            try await eventually(timeout: .seconds(20), "the idle model-server stopped") {
                await HTTPProbe.status(of: URL(string: "\(first)/health")!) == nil
            }
            // The router lists it without instances once its snapshot has the change.
            try await eventually(timeout: .seconds(10), "the router knows it is cold") {
                let table = try await APITestClient(baseURL: "http://127.0.0.1:\(adminPort)").get("/internal/routing").json()
                let endpoints = table["endpoints"] as? [[String: Any]] ?? []
                let routes = endpoints.first { $0["name"] as? String == "cold" }?["routes"] as? [[String: Any]] ?? []
                return routes.count == 1 && (routes[0]["addresses"] as? [String])?.isEmpty == true
            }

            // A request wakes it: held by the router while the instance starts, then answered.
            let clock = ContinuousClock()
            let began = clock.now
            let woken = try await router.post("/cold/recommend", #"{"customer_id": "C2", "top_k": 3}"#)
            let coldStart = clock.now - began
            #expect(woken.status == .ok, "\(woken.text)")
            print("cold start through the router: \(coldStart)")
            events = try await f.events("cold")
            let scaled = events.compactMap { if case .revisionScaled(let e) = $0 { e } else { nil } }
            #expect(scaled.map(\.cause) == [.idle, .wake], "\(scaled)")
            #expect(scaled.last?.addresses.count == 1 && (scaled.last?.startupMs ?? 0) > 0)
            view = try await f.waitFor("cold", "awake") { Self.instances($0, "cold-1").count == 1 }

            // The endpoint's scaling history, newest first; one page back; bad parameters named.
            let history = try await f.api.get("/api/endpoints/cold/scaling", expect: .ok).json()
            let changes = history["changes"] as? [[String: Any]] ?? []
            #expect(changes.map { $0["cause"] as? String } == ["wake", "idle"], "\(history)")
            #expect(changes.first?["instances"] as? Int == 1 && changes.first?["previous_instances"] as? Int == 0)
            #expect((changes.first?["startup_ms"] as? Int ?? 0) > 0 && changes.last?["reason"] as? String != "")
            let newest = try #require(changes.first?["at"] as? String)
            let older = try await f.api.get("/api/endpoints/cold/scaling?limit=5&before=\(newest)", expect: .ok).json()
            #expect((older["changes"] as? [[String: Any]])?.map { $0["cause"] as? String } == ["idle"])
            try await f.api.get("/api/endpoints/cold/scaling?limit=0").expectError(.badRequest, field: "limit")
            try await f.api.get("/api/endpoints/cold/scaling?before=yesterday").expectError(.badRequest, field: "before")
            try await f.api.get("/api/endpoints/nowhere/scaling").expectError(.notFound)

            // Bad input: waking a revision that does not exist names it.
            let unknown = try await f.api.post("/internal/revisions/nope-1-r1/wake")
            unknown.expectError(.notFound, field: "revision")
        }
    }
}

/// A count several tasks add to.
final class ManagedCounter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// A flag several tasks read.
final class ManagedFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var isSet: Bool { flag.withLock { $0 } }
}
