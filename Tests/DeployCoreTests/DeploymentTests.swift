import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayLocalRuntime
import SlipwayModelBundle
import SlipwayPlatform
import SlipwayTestSupport
import SwiftProtobuf
import Synchronization
import Testing

@testable import DeployCore

#if canImport(Glibc)
    import Glibc
#endif

/// Deployments end to end inside deploy-svc: the real PostgreSQL, the controller worker and real
/// model-server processes (from the test build) on the local target. Neither serving-router nor metrics-svc
/// runs here (metrics-svc's address answers nothing): the rollout asks for no traffic (`min_requests: 0`),
/// so its gates judge health only.
@Suite("deploy-svc deployments", .serialized, .timeLimit(.minutes(4)))
struct DeploymentTests {
    static let model = "b2b-retrieval"

    struct Fixture: Sendable {
        let service: TestService
        let servingRoot: URL

        var api: APITestClient { service.api }
        var environment: ServiceEnvironment { service.environment }

        /// An answer's status and JSON object (empty when the body is not one).
        func call(_ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil) async throws -> (HTTPResponse.Status, [String: Any]) {
            let answer = try await api.send(method, uri, body)
            return (answer.status, (try? JSONSerialization.jsonObject(with: Data(answer.body))) as? [String: Any] ?? [:])
        }

        /// The endpoint's latest `RolledBack` (later events, such as a revision stopping, may follow it).
        func lastRollback(_ endpoint: String) async throws -> RolledBack? {
            let events = try await events(endpoint)
            for event in events.reversed() { if case .rolledBack(let rolledBack) = event { return rolledBack } }
            Issue.record("no RolledBack among \(events)")
            return nil
        }

        /// The endpoint's events, in order.
        func events(_ endpoint: String) async throws -> [DeployEvent] {
            try await environment.store.events(aggregateType: EndpointDecider.aggregateType, aggregateID: endpoint).map {
                try DeployEvent.decode(eventType: $0.eventType, payload: $0.payload)
            }
        }

        /// Polls the endpoint until `condition` holds (the controller works in the background).
        @discardableResult
        func waitFor(
            _ endpoint: String, timeout: Duration = .seconds(60), _ what: String,
            _ condition: ([String: Any]) -> Bool
        ) async throws -> [String: Any] {
            let deadline = ContinuousClock.now.advanced(by: timeout)
            var last: [String: Any] = [:]
            while ContinuousClock.now < deadline {
                let (status, view) = try await call(.get, "/api/endpoints/\(endpoint)")
                last = view
                if status == .ok, condition(view) { return view }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("timed out waiting for \(what); last view: \(last)")
            throw CancellationError()
        }
    }

    static func traffic(_ view: [String: Any]) -> [Int: Int] {
        var split: [Int: Int] = [:]
        for entry in view["traffic"] as? [[String: Any]] ?? [] { split[entry["version"] as! Int] = entry["percent"] as? Int }
        return split
    }

    static func deployment(_ view: [String: Any], _ id: String) -> [String: Any]? {
        (view["deployments"] as? [[String: Any]])?.first { $0["id"] as? String == id }
    }

    static func revisionStatus(_ view: [String: Any], _ id: String) -> String? {
        (deployment(view, id)?["revision"] as? [String: Any])?["status"] as? String
    }

    /// `metrics`: metrics-svc's base URL (default: an address that answers nothing); `arguments`: more of deploy-svc's
    /// flags; `live`: served on a loopback port too (`f.service.port`), for a serving-router to load its snapshot from.
    func withDeployService(
        metrics: String = "http://127.0.0.1:9", arguments: [String] = [], live: Bool = false, _ test: @Sendable (Fixture) async throws -> Void
    ) async throws {
        let bin = TestInfrastructure.shared.binDirectory
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-deploy-tests-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: work) }
        // Three versions: v1 and v2 blessed, v3 not.
        var written: [Int32: String] = [:]
        for version in Int32(1)...3 {
            let directory = work.appendingPathComponent("bundles/v\(version)")
            try SyntheticBundle.make(candidates: 300, dim: 16, customers: 50, hidden: 16, modelName: Self.model, seed: UInt64(version)).write(
                to: directory)
            written[version] = directory.path
        }
        let bundles = written
        let servingRoot = work.appendingPathComponent("serving")
        let reader = ConfigReader(
            arguments: [
                "deploy-svc", "--model-server", "\(bin)/model-server", "--serving-root", servingRoot.path,
                "--stop-revisions-on-exit", "true", "--peer", "metrics=\(metrics)",
                "--rollback-window-seconds", "600",
            ] + arguments, environment: [:])
        let definition = try DeployService.definition(reader: reader)
        try await withTestService(
            definition, reader: reader, live: live,
            prepare: { service in
                // What registry-svc published: the model and three versions.
                var registry = EnvelopeBuilder(service: "registry")
                var created = RegisteredModelCreated()
                created.modelID = Self.model
                created.name = Self.model
                var envelopes = [try registry.envelope(created, aggregateType: "RegisteredModel", aggregateID: Self.model)]
                for version in Int32(1)...3 {
                    var registered = ModelVersionRegistered()
                    registered.modelID = Self.model
                    registered.modelName = Self.model
                    registered.versionID = "\(Self.model)/v\(version)"
                    registered.versionNumber = version
                    registered.artifactUri = bundles[version]!
                    registered.blessed = version < 3
                    registered.sourceRunID = "\(Self.model)-\(version)"
                    registered.metrics = ["recall_at_100": 0.4]
                    envelopes.append(try registry.envelope(registered, aggregateType: "RegisteredModel", aggregateID: Self.model))
                }
                try await service.project(envelopes, into: "known_models")
            }
        ) { service in
            try await test(Fixture(service: service, servingRoot: servingRoot))
        }
    }

    @Test("deploy v1, roll out v2 in gated steps, roll back instantly, split, survive a crash, undeploy, delete")
    func lifecycle() async throws {
        try await withDeployService { f in
            // v1, immediately, onto a new endpoint.
            var (status, body) = try await f.call(
                .post, "/api/models/\(Self.model)/deployments", #"{"version": 1, "endpoint": "shop", "preset": "development"}"#)
            #expect(status == .accepted, "\(body)")
            #expect(body["id"] as? String == "shop-1")
            var view = try await f.waitFor("shop", "v1 serving") { Self.traffic($0) == [1: 100] }
            #expect(view["status"] as? String == "serving")
            #expect((view["resources"] as? [String: Any])?["memory"] as? String == "2Gi")
            let v1Address = try #require((Self.deployment(view, "shop-1")?["revision"] as? [String: Any])?["address"] as? String)
            #expect(await probe("\(v1Address)/health") == 200)

            // v2 as a gradual rollout (steps without a minimum duration, so the test does not wait).
            (status, body) = try await f.call(
                .post, "/api/models/\(Self.model)/deployments",
                #"{"version": 2, "endpoint": "shop", "strategy": "gradual", "steps": [10, 50, 100], "step_seconds": 0, "min_requests": 0}"#)
            #expect(status == .accepted, "\(body)")
            view = try await f.waitFor("shop", "v2 rolled out") { Self.deployment($0, "shop-2")?["status"] as? String == "active" }
            #expect(Self.traffic(view) == [2: 100])
            #expect(Self.deployment(view, "shop-1")?["status"] as? String == "inactive")
            #expect(Self.deployment(view, "shop-1")?["rollback_instant"] as? Bool == true)
            #expect(Self.deployment(view, "shop-1")?["rollback_available"] as? Bool == true)
            #expect(Self.deployment(view, "shop-2")?["rollback_available"] as? Bool == false, "what serves is no rollback target")
            let events = try await f.environment.store.events(aggregateType: "Endpoint", aggregateID: "shop").map(\.eventType)
            #expect(events.filter { $0 == RolloutStepPassed.protoMessageName }.count == 3)

            // Instant rollback to v1 (its revision is still warm).
            (status, body) = try await f.call(.post, "/api/endpoints/shop/rollback", "")
            #expect(status == .ok, "\(body)")
            #expect(body["instant"] as? Bool == true)
            #expect(Self.traffic(body) == [1: 100])
            #expect(Self.deployment(body, "shop-2")?["status"] as? String == "rolled_back")
            guard let instant = try await f.lastRollback("shop") else { return }
            #expect(instant.fromDeploymentID == "shop-2" && instant.toDeploymentID == "shop-1" && instant.trigger == .manual)

            // The rolled-back revision is stopped; splitting onto it is refused, naming the field.
            view = try await f.waitFor("shop", "v2's revision stopped") { Self.revisionStatus($0, "shop-2") == "stopped" }
            (status, body) = try await f.call(.post, "/api/endpoints/shop/traffic", #"{"traffic": {"v1": 50, "v2": 50}}"#)
            #expect(status == .conflict, "\(body)")
            #expect(((body["error"] as? [String: Any])?["details"] as? [String: String])?["field"] == "traffic")

            // Rolling back to a stopped version deploys it again.
            (status, body) = try await f.call(.post, "/api/deployments/shop-2/rollback", "")
            #expect(status == .accepted, "\(body)")
            #expect(body["instant"] as? Bool == false)
            #expect(body["message"] as? String == "v2 was no longer running, so it is being deployed again")
            #expect(body["id"] as? String == "shop-3" && body["reason"] as? String == "rollback to v2" && body["force"] as? Bool == true)
            view = try await f.waitFor("shop", "v2 redeployed") { Self.traffic($0) == [2: 100] }
            // The history says it was a rollback: the new deployment names the one it returns to, and its
            // activation is followed by RolledBack. The deployment it replaced is superseded, and stays warm.
            let history = try await f.events("shop")
            let redeploy = history.compactMap { if case .deploymentRequested(let e) = $0, e.deploymentID == "shop-3" { e } else { nil } }.first
            #expect(redeploy?.rollbackToDeploymentID == "shop-2")
            let activation = try #require(
                history.firstIndex { if case .deploymentActivated(let e) = $0 { e.deploymentID == "shop-3" } else { false } })
            guard history.indices.contains(activation + 1), case .rolledBack(let redeployed) = history[activation + 1] else {
                Issue.record("no RolledBack after the activation: \(history.map(\.eventType))"); return
            }
            #expect(redeployed.fromDeploymentID == "shop-1" && redeployed.toDeploymentID == "shop-3" && redeployed.revisionID == "shop-3-r1")
            #expect(Self.deployment(view, "shop-1")?["status"] as? String == "inactive")

            // A/B split between the two running versions.
            (status, body) = try await f.call(.post, "/api/endpoints/shop/traffic", #"{"traffic": {"v1": 30, "v2": 70}}"#)
            #expect(status == .ok, "\(body)")
            #expect(Self.traffic(body) == [1: 30, 2: 70])
            (status, body) = try await f.call(.post, "/api/endpoints/shop/traffic", #"{"traffic": {"v1": 30, "v2": 60}}"#)
            #expect(status == .unprocessableContent, "\(body)")

            // What serving-router loads.
            (status, body) = try await f.call(.get, "/internal/routing")
            let endpoints = try #require(body["endpoints"] as? [[String: Any]])
            let routes = try #require(endpoints.first { $0["name"] as? String == "shop" }?["routes"] as? [[String: Any]])
            #expect(routes.compactMap { $0["percent"] as? Int }.sorted() == [30, 70])
            #expect(routes.allSatisfy { ($0["address"] as? String)?.hasPrefix("http://127.0.0.1:") == true })

            // A crashed revision is restarted at the same address.
            let record = try String(contentsOf: f.servingRoot.appendingPathComponent("shop-1-r1/process"), encoding: .utf8)
            let pid = try #require(Int32(record.split(separator: " ")[0]))
            kill(pid, SIGKILL)
            view = try await f.waitFor("shop", "v1 restarted") { view in
                guard Self.revisionStatus(view, "shop-1") == "ready",
                    let text = try? String(contentsOf: f.servingRoot.appendingPathComponent("shop-1-r1/process"), encoding: .utf8)
                else { return false }
                return Int32(text.split(separator: " ")[0]) != pid
            }
            #expect((Self.deployment(view, "shop-1")?["revision"] as? [String: Any])?["address"] as? String == v1Address)
            // The new process is recorded before it answers, and the view may still show the status from before the crash.
            try await eventually(timeout: .seconds(20), "restarted v1 answers /health") { await self.probe("\(v1Address)/health") == 200 }

            // A restarted deploy-svc adopts the running processes instead of starting new ones.
            let fresh = LocalServingTarget(
                root: f.servingRoot, modelServer: URL(fileURLWithPath: "/nonexistent"), readinessTimeout: .seconds(5),
                logger: f.environment.logger)
            #expect(fresh.isRunning("shop-3-r1", instance: 0))
            let adopted = try await fresh.start(
                RevisionSpec(
                    revisionID: "shop-3-r1", endpoint: "shop", modelName: Self.model, versionNumber: 2,
                    artifactURI: "", resources: ServingResources(), previousAddress: nil), instance: 0)
            #expect(adopted.startupMs == 0)

            // Undeploy stops everything; then the endpoint can be deleted.
            (status, body) = try await f.call(.delete, "/api/endpoints/shop")
            #expect(status == .conflict)
            (status, body) = try await f.call(.post, "/api/endpoints/shop/undeploy", #"{"reason": "done"}"#)
            #expect(status == .ok, "\(body)")
            #expect(Self.traffic(body).isEmpty)
            view = try await f.waitFor("shop", "all revisions stopped") { view in
                (view["deployments"] as? [[String: Any]] ?? []).allSatisfy {
                    ($0["revision"] as? [String: Any])?["status"] as? String ?? "stopped" == "stopped"
                }
            }
            // deploy-svc records a revision stopped after waiting at most 4 s for its process (SIGTERM, then SIGKILL); on a
            // loaded machine the process can outlive that wait by a moment.
            try await eventually(timeout: .seconds(10), "the stopped revisions' processes exit") {
                !fresh.isRunning("shop-1-r1", instance: 0) && !fresh.isRunning("shop-3-r1", instance: 0)
            }
            #expect(await probe("\(v1Address)/health") == nil)
            (status, _) = try await f.call(.delete, "/api/endpoints/shop")
            #expect(status == .noContent)
            (status, _) = try await f.call(.get, "/api/endpoints/shop")
            #expect(status == .notFound)
        }
    }

    @Test("rollouts judged by a real metrics-svc: no traffic waits, errors roll back, an alert rolls back at once")
    func gatesOnRealMetrics() async throws {
        let infrastructure = TestInfrastructure.shared
        let work = URL(fileURLWithPath: infrastructure.workDirectory).appendingPathComponent("gates-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let broker = try await infrastructure.ownBroker(in: work)
        defer { withExtendedLifetime(broker.process) {} }
        let port = try freeTCPPort()
        let metricsProcess = try Launched(
            infrastructure.executable("metrics-svc"),
            [
                "--host", "127.0.0.1", "--port", "\(port)", "--database-url", "\(try await infrastructure.freshDatabase("gates_metrics"))",
                "--kafka-brokers", broker.address, "--log-level", "error",
            ] + TestInfrastructure.isolatedPeerArguments, log: work.appendingPathComponent("metrics.log"))
        defer { withExtendedLifetime(metricsProcess) {} }
        let metrics = APITestClient(baseURL: "http://127.0.0.1:\(port)")
        try await metricsProcess.waitUntil("metrics-svc ready") { (try? await metrics.get("/readyz").status) == .ok }
        /// What serving-router would log for `count` requests to a revision of `shop`.
        @Sendable func serve(_ revision: String, status: Int, count: Int) async throws {
            let logs = (0..<count).map { _ in RequestLogs.log(endpoint: "shop", revision: revision, status: status, latencyMicros: 2_000, at: Date())
            }
            try await RequestLogs.publish(logs, brokers: broker.address)
        }

        try await withDeployService(metrics: "http://127.0.0.1:\(port)") { f in
            var (status, body) = try await f.call(.post, "/api/models/\(Self.model)/deployments", #"{"version": 1, "endpoint": "shop"}"#)
            #expect(status == .accepted, "\(body)")
            try await f.waitFor("shop", "v1 serving") { Self.traffic($0) == [1: 100] }

            // v2 at 10 %: without requests its error-rate gate cannot judge, so the step waits and never passes.
            (status, body) = try await f.call(
                .post, "/api/models/\(Self.model)/deployments",
                #"{"version": 2, "endpoint": "shop", "steps": [10, 100], "step_seconds": 0, "min_requests": 20}"#)
            #expect(status == .accepted, "\(body)")
            try await f.waitFor("shop", "v2 at 10 %") { Self.traffic($0) == [1: 90, 2: 10] }
            try await Task.sleep(for: .seconds(2))
            var view = try await f.waitFor("shop", "v2 still at its first step") {
                Self.deployment($0, "shop-2")?["status"] as? String == "rolling_out"
            }
            #expect(Self.deployment(view, "shop-2")?["step_index"] as? Int == 0)
            #expect(try await f.events("shop").allSatisfy { if case .rolloutStepPassed = $0 { false } else { true } }, "a step passed on nothing")

            // Its requests fail: metrics-svc counts them, the gate fails and the rollout rolls back.
            try await serve("shop-2-r1", status: 500, count: 30)
            view = try await f.waitFor("shop", timeout: .seconds(30), "v2 rolled back by its error-rate gate") {
                Self.deployment($0, "shop-2")?["status"] as? String == "rolled_back"
            }
            #expect(Self.traffic(view) == [1: 100])
            guard let gated = try await f.lastRollback("shop") else { return }
            #expect(gated.trigger == .gateFailed && gated.reason.contains("error rate"), "\(gated)")

            // Again, rolling back on alerts; a rule on the endpoint's error rate fires on those failures once the
            // rollout has begun, and the rollout rolls back at once (its gates would wait for 1,000 requests).
            (status, body) = try await f.call(
                .post, "/api/models/\(Self.model)/deployments",
                #"{"version": 2, "endpoint": "shop", "steps": [10, 100], "step_seconds": 0, "min_requests": 1000, "rollback_on_alert": true, "on_inconclusive": "hold"}"#
            )
            #expect(status == .accepted, "\(body)")
            view = try await f.waitFor("shop", "v2 at 10 % again") { Self.deployment($0, "shop-3")?["status"] as? String == "rolling_out" }
            #expect(Self.deployment(view, "shop-3")?["rollback_on_alert"] as? Bool == true)
            #expect(Self.deployment(view, "shop-3")?["hold_when_inconclusive"] as? Bool == true)
            try await metrics.post(
                "/api/v1/monitoring/alerts",
                #"{"endpoint_id": "shop", "alert_type": "error_rate", "threshold": 0.5, "for_seconds": 0, "min_samples": 10, "window_seconds": 120}"#,
                expect: .created)
            view = try await f.waitFor("shop", timeout: .seconds(40), "v2 rolled back on the alert") {
                Self.deployment($0, "shop-3")?["status"] as? String == "rolled_back"
            }
            #expect(Self.traffic(view) == [1: 100])
            guard let alerted = try await f.lastRollback("shop") else { return }
            #expect(alerted.trigger == .alert && alerted.fromDeploymentID == "shop-3", "\(alerted)")
        }
    }

    /// registry-svc as deploy-svc asks it about a version: 200 for the versions in `has` (`model/number`), 404 for any
    /// other; a run's registered version from `runs` (run id → `model/number`); `asked` counts.
    final class RegistryStandIn: Sendable {
        let has: Set<String>
        let runs: [String: String]
        let asked = Mutex(0)

        init(has: Set<String>, runs: [String: String] = [:]) {
            self.has = has
            self.runs = runs
        }

        var router: Router<BasicRequestContext> {
            let router = Router()
            router.get("/api/registered-models/:model/versions/:version") { [self] _, context -> Response in
                asked.withLock { $0 += 1 }
                let key = "\(try context.parameters.require("model"))/\(try context.parameters.require("version"))"
                return Response(status: has.contains(key) ? .ok : .notFound)
            }
            router.get("/api/training-runs/:run/registered-version") { [self] _, context -> Response in
                asked.withLock { $0 += 1 }
                let parts = runs[try context.parameters.require("run")]?.split(separator: "/") ?? []
                guard parts.count == 2 else { return Response(status: .notFound) }
                let json = #"{"model_name": "\#(parts[0])", "version": \#(parts[1])}"#
                return Response(
                    status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
            }
            return router
        }
    }

    @Test(
        "a deploy of a version registered a moment ago (by model and version, or by run) waits for deploy-svc to learn it; one registry-svc lacks is refused at once"
    )
    func aJustRegisteredVersionIsDeployed() async throws {
        let fresh = "fresh-\(UUID().uuidString.prefix(6).lowercased())"
        let registry = RegistryStandIn(has: ["\(Self.model)/4", "\(Self.model)/5", "\(fresh)/1"], runs: ["\(Self.model)-5": "\(Self.model)/5"])
        let bundle = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-late-bundle-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: bundle) }
        try SyntheticBundle.make(candidates: 100, dim: 8, customers: 20, hidden: 8, modelName: fresh).write(to: bundle)
        /// registry-svc's events for `version` of `model` (and the model itself when it is new), as deploy-svc receives them.
        @Sendable func registered(_ model: String, _ version: Int32, new: Bool) throws -> [EventEnvelope] {
            var registry = EnvelopeBuilder(service: "registry")
            var envelopes: [EventEnvelope] = []
            if new {
                var created = RegisteredModelCreated()
                created.modelID = model
                created.name = model
                envelopes.append(try registry.envelope(created, aggregateType: "RegisteredModel", aggregateID: model))
            }
            var event = ModelVersionRegistered()
            event.modelID = model
            event.modelName = model
            event.versionID = "\(model)/v\(version)"
            event.versionNumber = version
            event.artifactUri = bundle.path
            event.blessed = true
            event.sourceRunID = "\(model)-\(version)"
            envelopes.append(try registry.envelope(event, aggregateType: "RegisteredModel", aggregateID: model))
            return envelopes
        }
        try await withStandInServer(registry.router) { registryURL in
            try await withDeployService(arguments: ["--peer", "registry=\(registryURL)"]) { f in
                // Version 4 of a known model, and a model deploy-svc has never heard of: their events arrive 600 ms late.
                let late = Task {
                    try await Task.sleep(for: .milliseconds(600))
                    try await f.service.project(try registered(Self.model, 4, new: false) + registered(fresh, 1, new: true), into: "known_models")
                }
                defer { late.cancel() }
                let started = ContinuousClock.now
                var (status, body) = try await f.call(.post, "/api/models/\(Self.model)/deployments", #"{"version": 4, "endpoint": "late"}"#)
                #expect(status == .accepted, "\(body)")
                #expect(body["version"] as? Int == 4, "\(body)")
                #expect(ContinuousClock.now - started >= .milliseconds(500), "it waited for the event, not for nothing")
                (status, body) = try await f.call(.post, "/api/models/\(fresh)/deployments", #"{"version": 1}"#)
                #expect(status == .accepted, "\(body)")
                #expect(body["model_name"] as? String == fresh, "\(body)")
                try await late.value

                // Neither deploy-svc nor registry-svc has version 9, nor the model `nope`: refused without waiting.
                let asked = registry.asked.withLock { $0 }
                let refusedAt = ContinuousClock.now
                (status, body) = try await f.call(.post, "/api/models/\(Self.model)/deployments", #"{"version": 9, "endpoint": "late"}"#)
                #expect(status == .unprocessableContent, "\(body)")
                #expect(((body["error"] as? [String: Any])?["details"] as? [String: String])?["field"] == "version", "\(body)")
                (status, body) = try await f.call(.post, "/api/models/nope/deployments", #"{"version": 1}"#)
                #expect(status == .notFound, "\(body)")
                #expect(ContinuousClock.now - refusedAt < .seconds(2))
                #expect(registry.asked.withLock { $0 } == asked + 2, "each refusal asked registry-svc once")

                // A run registered a moment ago, deployed by its run id: registry-svc says which version it became.
                let lateRun = Task {
                    try await Task.sleep(for: .milliseconds(600))
                    try await f.service.project(try registered(Self.model, 5, new: false), into: "known_models")
                }
                defer { lateRun.cancel() }
                let runStarted = ContinuousClock.now
                (status, body) = try await f.call(.post, "/api/training-runs/\(Self.model)-5/deploy", #"{"endpoint": "late-run"}"#)
                #expect(status == .accepted, "\(body)")
                #expect(body["version"] as? Int == 5, "\(body)")
                #expect(ContinuousClock.now - runStarted >= .milliseconds(500), "it waited for the event, not for nothing")
                try await lateRun.value
                (status, body) = try await f.call(.post, "/api/training-runs/\(Self.model)-77/deploy", "{}")
                #expect(status == .notFound, "a run neither service knows: \(body)")
            }
        }
    }

    @Test("bad deploys are refused naming the field, and write nothing")
    func badInput() async throws {
        try await withDeployService { f in
            func refused(_ body: String, _ expected: HTTPResponse.Status, field: String) async throws {
                let (status, answer) = try await f.call(.post, "/api/models/\(Self.model)/deployments", body)
                #expect(status == expected, "\(body) → \(answer)")
                #expect(((answer["error"] as? [String: Any])?["details"] as? [String: String])?["field"] == field, "\(body) → \(answer)")
            }
            try await refused(#"{"version": 1, "endpoint": "Bad_Name"}"#, .unprocessableContent, field: "endpoint")
            try await refused(#"{"version": 9, "endpoint": "shop"}"#, .unprocessableContent, field: "version")
            try await refused(#"{"version": 3, "endpoint": "shop"}"#, .conflict, field: "force")
            try await refused(#"{"version": 1, "endpoint": "shop", "strategy": "gradual"}"#, .unprocessableContent, field: "strategy")
            try await refused(#"{"version": 1, "endpoint": "shop", "strategy": "sideways"}"#, .unprocessableContent, field: "strategy")
            try await refused(#"{"version": 1, "endpoint": "shop", "preset": "huge"}"#, .unprocessableContent, field: "preset")
            try await refused(#"{"version": 1, "endpoint": "shop", "memory": "a lot"}"#, .unprocessableContent, field: "memory")
            try await refused(#"{"endpoint": "shop"}"#, .badRequest, field: "version")
            try await refused(#"{"version": "one"}"#, .badRequest, field: "version")
            try await refused(#"{"version": 1, "endpoint": "shop", "rollback_on_alert": true}"#, .unprocessableContent, field: "rollback_on_alert")
            try await refused(
                #"{"version": 1, "endpoint": "shop", "steps": [100], "on_inconclusive": "wait"}"#, .unprocessableContent, field: "on_inconclusive")
            try await refused(#"{"version": 1, "endpoint": "shop", "rollback_on_alert": "yes"}"#, .badRequest, field: "rollback_on_alert")
            var (status, _) = try await f.call(.get, "/api/endpoints/shop")
            #expect(status == .notFound, "a refused deploy must not leave its endpoint behind")
            #expect(try await f.events("shop").isEmpty, "a refused deploy writes no event")
            #expect(try await f.events("Bad_Name").isEmpty)
            (status, _) = try await f.call(.post, "/api/models/nope/deployments", #"{"version": 1}"#)
            #expect(status == .notFound)

            // Unblessed with force is accepted; a second deploy while one is in progress is a conflict.
            var body: [String: Any]
            (status, body) = try await f.call(.post, "/api/models/\(Self.model)/deployments", #"{"version": 3, "endpoint": "shop", "force": true}"#)
            #expect(status == .accepted, "\(body)")
            (status, body) = try await f.call(.post, "/api/models/\(Self.model)/deployments", #"{"version": 1, "endpoint": "shop"}"#)
            #expect(status == .conflict, "\(body)")
            try await f.waitFor("shop", "v3 serving") { Self.traffic($0) == [3: 100] }
            try await refused(#"{"version": 2, "endpoint": "shop", "strategy": "gradual", "steps": [50, 10]}"#, .unprocessableContent, field: "steps")

            // Endpoint creation and rules of its own.
            (status, body) = try await f.call(.post, "/api/models/\(Self.model)/endpoints", #"{"name": "-x"}"#)
            #expect(status == .unprocessableContent)
            (status, body) = try await f.call(.post, "/api/models/\(Self.model)/endpoints", #"{"name": "shop"}"#)
            #expect(status == .conflict)
            (status, body) = try await f.call(.post, "/api/models/\(Self.model)/endpoints", #"{"preset": "high_traffic", "max_instances": 20}"#)
            #expect(status == .created, "\(body)")
            #expect(body["name"] as? String == "b2b-retrieval-serving")
            #expect((body["resources"] as? [String: Any])?["max_instances"] as? Int == 20)
            (status, body) = try await f.call(.patch, "/api/endpoints/b2b-retrieval-serving", #"{"min_instances": 30}"#)
            #expect(status == .unprocessableContent, "\(body)")
            (status, body) = try await f.call(.patch, "/api/endpoints/b2b-retrieval-serving", #"{"min_instances": 4, "description": "peak"}"#)
            #expect(status == .ok, "\(body)")
            let resources = body["resources"] as? [String: Any]
            #expect(resources?["min_instances"] as? Int == 4 && resources?["max_instances"] as? Int == 20, "\(body)")
            #expect(body["description"] as? String == "peak")
            (status, _) = try await f.call(.post, "/api/endpoints/nope/rollback", "")
            #expect(status == .notFound)
            (status, body) = try await f.call(.post, "/api/endpoints/shop/rollback", #"{"to_version": 7}"#)
            #expect(status == .unprocessableContent, "\(body)")

            // The other verbs: unknown names are 404s, a verb that makes no sense now is a 409.
            for (method, uri) in [
                (HTTPRequest.Method.post, "/api/endpoints/nope/undeploy"), (.post, "/api/models/nope/undeploy"),
                (.get, "/api/deployments/nope"), (.post, "/api/deployments/nope/rollback"),
                (.post, "/api/training-runs/nope/deploy"), (.post, "/api/endpoints/nope/traffic"),
            ] {
                (status, body) = try await f.call(method, uri, method == .post ? "{}" : nil)
                #expect(status == .notFound, "\(uri) → \(body)")
            }
            (status, body) = try await f.call(.post, "/api/endpoints/b2b-retrieval-serving/undeploy", "")
            #expect(status == .conflict, "\(body)")
            (status, body) = try await f.call(.post, "/api/training-runs/\(Self.model)-1/deploy-cloud-run", #"{"strategy": "sideways"}"#)
            #expect(status == .unprocessableContent, "\(body)")
            (status, body) = try await f.call(.post, "/api/training-runs/\(Self.model)-3/deploy", #"{"endpoint": "from-run"}"#)
            #expect(status == .conflict, "the run's version is not blessed: \(body)")

            // Every changed route: a malformed body is a 400, a rule a well-formed body breaks a 422 naming the field.
            for (method, uri, body, expected, field) in [
                (HTTPRequest.Method.post, "/api/models/\(Self.model)/endpoints", #"{"name": "#, HTTPResponse.Status.badRequest, nil),
                (.post, "/api/models/\(Self.model)/endpoints", #"{"name": 5}"#, .badRequest, "name"),
                (.post, "/api/models/\(Self.model)/endpoints", #"{"name": "ok", "preset": "huge"}"#, .unprocessableContent, "preset"),
                (.post, "/api/models/\(Self.model)/endpoints", #"{"name": "ok", "min_instances": 30}"#, .unprocessableContent, "min_instances"),
                (.patch, "/api/endpoints/shop", #"{"preset": "#, .badRequest, nil),
                (.patch, "/api/endpoints/shop", #"{"min_instances": "x"}"#, .badRequest, "min_instances"),
                (.patch, "/api/endpoints/shop", #"{"name": "other"}"#, .unprocessableContent, "name"),
                (.patch, "/api/endpoints/shop", #"{"preset": "huge"}"#, .unprocessableContent, "preset"),
                (.patch, "/api/endpoints/shop", #"{"memory": "lots"}"#, .unprocessableContent, "memory"),
                (.post, "/api/endpoints/shop/undeploy", #"{"reason": "#, .badRequest, nil),
                (.post, "/api/endpoints/shop/undeploy", #"{"reason": 5}"#, .badRequest, "reason"),
                (.post, "/api/models/\(Self.model)/undeploy", #"["#, .badRequest, nil),
                (.post, "/api/endpoints/shop/traffic", #"{"traffic": "#, .badRequest, nil),
                (.post, "/api/endpoints/shop/traffic", #"{}"#, .badRequest, "traffic"),
                (.post, "/api/endpoints/shop/traffic", #"{"traffic": {"v9": 100}}"#, .unprocessableContent, "traffic.v9"),
                (.post, "/api/endpoints/shop/traffic", #"{"traffic": {"v3": 90}}"#, .unprocessableContent, "traffic"),
                (.post, "/api/endpoints/shop/rollback", #"{"to_version": "#, .badRequest, nil),
                (.post, "/api/endpoints/shop/rollback", #"{"to_version": "x"}"#, .badRequest, "to_version"),
                (.post, "/api/endpoints/shop/rollback", #"{"to_deployment": "shop-9"}"#, .unprocessableContent, "to_deployment"),
                (.post, "/api/deployments/shop-1/rollback", #"{"reason": "#, .badRequest, nil),
                (.post, "/api/models/\(Self.model)/deployments", #"{"version": 1,"#, .badRequest, nil),
                (.post, "/api/models/\(Self.model)/deployments", #"{"version": 1, "endpoint": "shop", "steps": "10"}"#, .badRequest, "steps"),
                (.post, "/api/training-runs/\(Self.model)-1/deploy", #"{"endpoint": "#, .badRequest, nil),
                (.post, "/api/training-runs/\(Self.model)-1/deploy", #"{"endpoint": "Bad_Name"}"#, .unprocessableContent, "endpoint"),
            ] as [(HTTPRequest.Method, String, String, HTTPResponse.Status, String?)] {
                let answer = try await f.api.send(method, uri, body, expect: expected)
                #expect(answer.errorField == field, "\(method) \(uri) \(body) → \(answer.text)")
            }
            #expect(try await f.events("ok").isEmpty)
            #expect(Self.traffic(try await f.call(.get, "/api/endpoints/shop").1) == [3: 100], "refused requests changed nothing")

            // Key usage reported by the router becomes last_used_at.
            (status, body) = try await f.call(.post, "/api/models/\(Self.model)/api-keys", #"{"name": "app"}"#)
            let keyID = try #require((body["api_key"] as? [String: Any])?["id"] as? String)
            (status, body) = try await f.call(
                .post, "/internal/api-keys/usage",
                #"{"usage": [{"api_key_id": "\#(keyID)", "endpoint_id": "shop", "last_used_at": "2026-11-22T10:00:00Z", "request_count": 5}]}"#)
            #expect(status == .ok, "\(body)")
            (status, body) = try await f.call(.get, "/api/api-keys/\(keyID)")
            #expect((body["last_used_at"] as? String)?.hasPrefix("2026-11-22T10:00:00") == true, "\(body)")
            (status, body) = try await f.call(
                .post, "/internal/api-keys/usage", #"{"usage": [{"api_key_id": "x", "last_used_at": "yesterday", "request_count": 1}]}"#)
            #expect(status == .unprocessableContent || status == .badRequest, "\(body)")
        }
    }

    func probe(_ url: String) async -> Int? {
        await HTTPProbe.status(of: URL(string: url)!)
    }
}
