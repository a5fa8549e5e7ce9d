import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import RecommenderKit
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayModelBundle
import SlipwayPlatform
import SlipwayTestSupport
import Synchronization
import Testing

@testable import TestingCore

/// testing-svc through its API on a real database: a model trained here on a small data set, served by a loopback
/// server that scores with the real bundle and breaks on purpose by endpoint name (unsorted scores, too few items,
/// unknown ids, 500s), standing in for serving-router and deploy-svc's key API. The whole chain with the real
/// processes is `slipway up`'s end-to-end test.
struct EndpointTestServiceTests {
    /// A bundle trained on demo data, with the run's spec.json beside it as training-svc writes it.
    static let bundle: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("endpoint-test-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var generated = DemoDataConfig(customers: 200, products: 150, transactions: 4_000, seed: 7)
        generated.categories = 6
        try! DemoDataGenerator.write(DemoDataGenerator.generate(generated), to: directory)
        var model = ModelConfig()
        model.epochs = 1
        model.batchSize = 64
        model.queryLayers = [16]
        model.candidateLayers = [16]
        model.outputDim = 16
        let spec = RunSpec(
            runId: "recs-1", modelName: "recs",
            dataset: DatasetSpec(
                id: "ds-demo", transactions: directory.appendingPathComponent("transactions.csv").path,
                customers: directory.appendingPathComponent("customers.csv").path, products: directory.appendingPathComponent("products.csv").path),
            modelConfig: model)
        let artifacts = directory.appendingPathComponent("artifacts")
        let result = TrainingPipeline(spec: spec, artifacts: artifacts) { _ in }.run()!
        try! RunSpec.encoder().encode(spec).write(to: artifacts.appendingPathComponent("spec.json"))
        return result.bundle
    }()

    static let key = "sk-testing-key"
    /// Requests the server got marked as a load test's (`X-Slipway-Load-Test`).
    static let loadTestRequests = Atomic(0)
    /// Requests it refused for their key: none, since testing-svc waits for the router to learn a new key.
    static let unauthorized = Atomic(0)
    /// The router's admin routing table lists the key from its third reading on, as a router learning it late would.
    static let routingReads = Atomic(0)

    /// serving-router and deploy-svc's key routes, as far as a test uses them. `/{endpoint}/…` answers with the real
    /// bundle's scores, spoiled as the endpoint's name says; `/revision-{fault}/…` stands for one revision's
    /// model-server, which takes requests without a key.
    static func server() throws -> Application<RouterResponder<BasicRequestContext>> {
        let scorer = try Scorer(bundle: try ModelBundle.load(from: bundle))
        let router = Router()
        router.post("/api/models/:model/api-keys") { _, _ in
            Response(
                status: .created, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"api_key": {"id": "key-1", "is_active": true}, "key": "\#(key)"}"#)))
        }
        router.get("/api/api-keys/:id") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"is_active": true}"#)))
        }
        @Sendable func authorized(_ request: Request, _ endpoint: String) -> Bool {
            let known =
                endpoint.hasPrefix("revision-") || (request.headers[.authorization] == "Bearer \(key)" && routingReads.load(ordering: .relaxed) >= 3)
            if !known { unauthorized.add(1, ordering: .relaxed) }
            return known
        }
        router.get("/internal/routing") { _, _ in
            let listed = routingReads.add(1, ordering: .relaxed).newValue >= 3
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: listed ? #"{"api_keys": [{"api_key_id": "key-1"}]}"# : #"{"api_keys": []}"#)))
        }
        router.get("/:endpoint/health") { request, context -> Response in
            authorized(request, try context.parameters.require("endpoint")) ? Response(status: .ok) : Response(status: .unauthorized)
        }
        router.post("/:endpoint/v1/models/:predict") { request, context -> Response in
            let path = try context.parameters.require("endpoint")
            guard authorized(request, path) else { return Response(status: .unauthorized) }
            if request.headers[HTTPField.Name("X-Slipway-Load-Test")!] != nil { loadTestRequests.add(1, ordering: .relaxed) }
            let endpoint = path.hasPrefix("revision-") ? String(path.dropFirst("revision-".count)) : path
            if endpoint == "broken" { return Response(status: .internalServerError) }
            let body = try await request.body.collect(upTo: 1 << 20)
            struct Predict: Decodable {
                let instances: [[String: SlipwayModelBundle.FeatureValue]]
                let top_k: Int
            }
            let predict = try JSONDecoder().decode(Predict.self, from: Data(buffer: body))
            var predictions: [[String: Any]] = []
            for instance in predict.instances {
                let recommended = try scorer.recommend(instance, k: predict.top_k)
                var ids = recommended.productIds
                var scores = recommended.scores.map(Double.init)
                switch endpoint {
                case "unsorted": scores.reverse()
                case "few": (ids, scores) = (Array(ids.prefix(3)), Array(scores.prefix(3)))
                case "unknown": ids[0] = "P-NOT-SOLD"
                default: break
                }
                predictions.append(["product_ids": ids, "scores": scores])
            }
            let data = try JSONSerialization.data(withJSONObject: ["predictions": predictions])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        return Application(router: router)
    }

    /// deploy-svc's events: endpoints `shop` and the faulty ones, each serving version 1 from the bundle; then those
    /// `undeployed` serve nothing.
    static func deploy(_ service: TestService, endpoints: [String], undeployed: [String] = []) async throws {
        var deploy = EnvelopeBuilder(service: "deploy")
        var envelopes: [EventEnvelope] = []
        for name in endpoints {
            var created = EndpointCreated()
            created.endpointID = "ep-\(name)"
            created.name = name
            created.registeredModelID = "recs"
            created.modelName = "recs"
            envelopes.append(try deploy.envelope(created, aggregateType: "Endpoint", aggregateID: created.endpointID))
            envelopes += try activate(&deploy, endpoint: name, deployment: "d-\(name)-1", version: 1)
        }
        for name in undeployed {
            var event = Undeployed()
            event.endpointID = "ep-\(name)"
            event.deploymentID = "d-\(name)-1"
            envelopes.append(try deploy.envelope(event, aggregateType: "Endpoint", aggregateID: event.endpointID))
        }
        try await service.project(envelopes, into: "tested_endpoints")
    }

    static func activate(_ deploy: inout EnvelopeBuilder, endpoint: String, deployment: String, version: Int) throws -> [EventEnvelope] {
        var requested = DeploymentRequested()
        requested.deploymentID = deployment
        requested.endpointID = "ep-\(endpoint)"
        requested.endpointName = endpoint
        requested.modelVersionID = "recs-v\(version)"
        requested.versionNumber = Int32(version)
        requested.artifactUri = bundle.path
        var activated = DeploymentActivated()
        activated.endpointID = "ep-\(endpoint)"
        activated.endpointName = endpoint
        activated.deploymentID = deployment
        activated.modelVersionID = "recs-v\(version)"
        return [
            try deploy.envelope(requested, aggregateType: "Endpoint", aggregateID: "ep-\(endpoint)"),
            try deploy.envelope(activated, aggregateType: "Endpoint", aggregateID: "ep-\(endpoint)"),
        ]
    }

    /// Smoke tests off unless a test asks for them (they would add a test to every activation here).
    static func reader(port: Int, keys: URL, smokeTestSamples: Int = 0) -> ConfigReader {
        ConfigReader(
            arguments: [
                "testing-svc", "--router-url", "http://127.0.0.1:\(port)", "--router-admin-url", "http://127.0.0.1:\(port)", "--key-dir", keys.path,
                "--peer", "deploy=http://127.0.0.1:\(port)",
                "--smoke-test-samples", "\(smokeTestSamples)",
            ],
            environment: [:])
    }

    /// Every activation gets a smoke test through the router, started once; history being caught up gets none.
    @Test func anActivatedDeploymentGetsASmokeTestOnce() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("testing-keys-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: keys) }
        try await Self.server().test(.live) { upstream in
            let reader = Self.reader(port: try #require(upstream.port), keys: keys, smokeTestSamples: 5)
            try await withTestService(TestingService.definition(reader: reader), reader: reader, runWorkers: false) { service in
                try await Self.deploy(service, endpoints: ["shop"])
                var deploy = EnvelopeBuilder(service: "deploy")
                var again = DeploymentActivated()
                again.endpointID = "ep-shop"
                again.deploymentID = "d-shop-1"
                try await service.project([try deploy.envelope(again, aggregateType: "Endpoint", aggregateID: "ep-shop")], into: "tested_endpoints")
                #expect(try await service.scalar("SELECT count(*) FROM endpoint_tests") == 1, "one smoke test however often it is delivered")
                let tests = EndpointTests(
                    environment: service.environment, settings: try TestingSettings.load(reader: reader),
                    now: { Date() })
                let runner = CheckRunner(tests: tests)
                for started in try await runner.rolloutTests() { await runner.finish(started) }
                let smoke = try await service.api.get("/api/endpoint-tests/smoke-d-shop-1", expect: .ok).json()
                #expect(smoke["status"] as? String == "passed" && smoke["triggered_by"] as? String == "rollout", "\(smoke)")
                #expect(smoke["endpoint_url"] as? String == "http://127.0.0.1:\(try #require(upstream.port))/shop", "through the router")
            }
        }
    }

    @Test func aHealthyEndpointPassesAndEachBrokenOneIsCaughtByItsRule() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("testing-keys-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: keys) }
        try await Self.server().test(.live) { upstream in
            let reader = Self.reader(port: try #require(upstream.port), keys: keys)
            try await withTestService(TestingService.definition(reader: reader), reader: reader, runWorkers: false) { service in
                try await Self.deploy(service, endpoints: ["shop", "unsorted", "few", "unknown", "broken"])
                let api = service.api
                let refused = Self.unauthorized.load(ordering: .relaxed)
                let passed = try await api.post("/api/deployed-endpoints/shop/test", #"{"sample_count": 20}"#, expect: .created).json()
                #expect(Self.unauthorized.load(ordering: .relaxed) == refused, "a request went with a key the router did not know yet")
                #expect(passed["success"] as? Bool == true && passed["status"] as? String == "passed", "\(passed)")
                let results = try #require(passed["test_results"] as? [String: Any])
                #expect(results["requests_sent"] as? Int == 20 && results["successful"] as? Int == 20)
                #expect((results["p99_latency_ms"] as? Double ?? 0) > 0)
                #expect((passed["health_check"] as? [String: Any])?["healthy"] as? Bool == true)
                #expect((passed["validation"] as? [String: Any])?["valid_count"] as? Int == 20)
                let sample = try #require((passed["sample_predictions"] as? [[String: Any]])?.first)
                #expect(((sample["input"] as? [String: Any])?["customer_id"] as? String)?.hasPrefix("C") == true, "\(sample)")
                #expect(((sample["output"] as? [String: Any])?["product_ids"] as? [String])?.count == 10)
                #expect((passed["test_config"] as? [String: Any])?["dataset_id"] as? String == "ds-demo")
                #expect(passed["comparison"] is NSNull, "no version before")
                let checks = (passed["checks"] as? [[String: Any]] ?? []).map { $0["kind"] as? String ?? "" }
                #expect(checks == ["health", "sample_extraction", "prediction", "validation", "latency"], "\(checks)")
                #expect((passed["duration_ms"] as? Int ?? 0) > 0, "the whole test's time, reading the data included")
                // The key is testing-svc's, kept on disk for the owner only.
                let keyFile = keys.appendingPathComponent("recs.key")
                let attributes = try FileManager.default.attributesOfItem(atPath: keyFile.path)
                #expect((attributes[.posixPermissions] as? Int) == 0o600)

                for (endpoint, rule) in [
                    ("unsorted", "scores_sorted_descending"), ("few", "top_k_items"), ("unknown", "ids_in_training_catalog"),
                    ("broken", "status_200"),
                ] {
                    let failed = try await api.post("/api/deployed-endpoints/\(endpoint)/test", #"{"sample_count": 5}"#, expect: .created).json()
                    let issues = (failed["validation"] as? [String: Any])?["issues"] as? [String] ?? []
                    #expect(failed["success"] as? Bool == false && failed["status"] as? String == "failed", "\(endpoint): \(failed)")
                    #expect(issues.contains { $0.hasPrefix("sample ") && $0.contains("[\(rule)]") }, "\(endpoint): \(issues)")
                }

                // Version 2 on `shop`: its test is compared with version 1's on the same customers (same model here: identical).
                var deploy = EnvelopeBuilder(service: "deploy")
                try await service.project(try Self.activate(&deploy, endpoint: "shop", deployment: "d-shop-2", version: 2), into: "tested_endpoints")
                let second = try await api.post("/api/deployed-endpoints/shop/test", #"{"sample_count": 20}"#, expect: .created).json()
                let comparison = try #require(second["comparison"] as? [String: Any], "\(second)")
                #expect(comparison["previous_version"] as? Int == 1 && comparison["samples_compared"] as? Int ?? 0 > 0)
                #expect(comparison["mean_overlap"] as? Double == 1 && comparison["identical_fraction"] as? Double == 1)

                let history = try await api.get("/api/deployed-endpoints/shop/test?limit=10", expect: .ok).json()
                let tests = try #require(history["tests"] as? [[String: Any]])
                #expect(history["total"] as? Int == 2 && tests.first?["test_id"] as? String == second["test_id"] as? String)
                // Before the second test started: only the first.
                let secondStarted = try #require(second["created_at"] as? String, "\(second)")
                let earlier = try await api.get("/api/deployed-endpoints/shop/test?before=\(secondStarted)", expect: .ok).json()
                #expect(
                    earlier["total"] as? Int == 1
                        && (earlier["tests"] as? [[String: Any]])?.first?["test_id"] as? String == tests.last?["test_id"] as? String)
                try await api.get("/api/deployed-endpoints/shop/test?before=soon").expectError(.badRequest, field: "before")
                let id = try #require(second["test_id"] as? String)
                #expect(try await api.get("/api/endpoint-tests/\(id)", expect: .ok).json()["version"] as? Int == 2)
                let exported = try await api.get("/api/endpoint-tests/\(id)/export", expect: .ok)
                #expect(exported.headers[.contentDisposition]?.contains("\(id).json") == true)

                let report = try await Replayer.replay(TestingReadModel(), from: service.store, verify: true, logger: TestInfrastructure.logger)
                #expect(report.verified == true, "\(report.tables)")
            }
        }
    }

    /// deploy-svc's `endpoint_test` gate: the test of a rollout step's new revision goes to that revision directly,
    /// is started once however often it is asked for, and its verdict says why it failed.
    @Test func aRolloutStepsTestGoesToTheNewRevisionAndIsStartedOnce() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("testing-keys-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: keys) }
        try await Self.server().test(.live) { upstream in
            let port = try #require(upstream.port)
            let reader = Self.reader(port: port, keys: keys)
            try await withTestService(TestingService.definition(reader: reader), reader: reader, runWorkers: false) { service in
                try await Self.deploy(service, endpoints: ["shop"])
                var deploy = EnvelopeBuilder(service: "deploy")
                // Versions 2 and 3 requested on `shop`, not serving yet.
                let requests =
                    try Self.activate(&deploy, endpoint: "shop", deployment: "d-shop-2", version: 2).prefix(1)
                    + Self.activate(&deploy, endpoint: "shop", deployment: "d-shop-3", version: 3).prefix(1)
                try await service.project(Array(requests), into: "tested_endpoints")
                let api = service.api
                let tests = EndpointTests(
                    environment: service.environment, settings: try TestingSettings.load(reader: reader),
                    now: { Date() })
                let runner = CheckRunner(tests: tests)
                for (deployment, revision, expected) in [("d-shop-2", "revision-good", "passed"), ("d-shop-3", "revision-unknown", "failed")] {
                    let body = #"{"deployment_id": "\#(deployment)", "step_index": 0, "revision_address": "http://127.0.0.1:\#(port)/\#(revision)"}"#
                    let asked = try await api.post("/internal/rollout-tests", body, expect: .accepted).json()
                    #expect(asked["status"] as? String == "running" && asked["test_id"] as? String == "rollout-\(deployment)-0")
                    #expect(try await api.post("/internal/rollout-tests", body, expect: .ok).json()["status"] as? String == "running")
                    let resumed = try await runner.rolloutTests()
                    #expect(resumed.count == 1 && resumed.first?.test.targetURL.hasSuffix(revision) == true)
                    #expect(try await runner.rolloutTests().isEmpty, "running here already")
                    for started in resumed { await runner.finish(started) }
                    let verdict = try await api.get("/internal/rollout-tests/\(deployment)/0", expect: .ok).json()
                    #expect(verdict["status"] as? String == expected, "\(verdict)")
                    if expected == "failed" { #expect((verdict["summary"] as? String)?.contains("ids_in_training_catalog") == true, "\(verdict)") }
                }
                let history = try await api.get("/api/deployed-endpoints/shop/test", expect: .ok).json()
                #expect((history["tests"] as? [[String: Any]])?.allSatisfy { $0["triggered_by"] as? String == "rollout" } == true)
                try await api.post(
                    "/internal/rollout-tests", #"{"deployment_id": "d-nope", "step_index": 0, "revision_address": "http://127.0.0.1:1"}"#
                ).expectError(.notFound)
                try await api.post(
                    "/internal/rollout-tests", #"{"deployment_id": "d-shop-2", "step_index": 1, "revision_address": "ftp://x"}"#
                ).expectError(.unprocessableContent, field: "revision_address")
                try await api.get("/internal/rollout-tests/d-shop-2/7").expectError(.notFound)
            }
        }
    }

    @Test func examplesAreTheServedVersionsSchemaAndRowsOfItsTrainingData() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("testing-keys-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: keys) }
        let reader = Self.reader(port: 1, keys: keys)
        try await withTestService(TestingService.definition(reader: reader), reader: reader, runWorkers: false) { service in
            try await Self.deploy(service, endpoints: ["shop", "gone"], undeployed: ["gone"])
            let api = service.api
            let examples = try await api.get("/api/deployed-endpoints/shop/examples?count=4&seed=7", expect: .ok).json()
            #expect(examples["model_name"] as? String == "recs" && examples["model_version"] as? Int == 1)
            let schema = try #require(examples["input_schema"] as? [[String: Any]])
            #expect(schema.first?["name"] as? String == "customer_id" && schema.first?["required"] as? Bool == true, "\(schema)")
            let instances = try #require(examples["instances"] as? [[String: Any]])
            #expect(instances.count == 4 && instances.allSatisfy { ($0["customer_id"] as? String)?.isEmpty == false }, "\(instances)")
            let again = try await api.get("/api/deployed-endpoints/shop/examples?count=4&seed=7", expect: .ok).json()
            #expect((again["instances"] as? [[String: Any]])?.map { $0["customer_id"] as? String } == instances.map { $0["customer_id"] as? String })
            #expect((try await api.get("/api/deployed-endpoints/shop/examples", expect: .ok).json()["instances"] as? [Any])?.count == 3)

            try await api.get("/api/deployed-endpoints/shop/examples?count=0").expectError(.badRequest, field: "count")
            try await api.get("/api/deployed-endpoints/shop/examples?count=21").expectError(.badRequest, field: "count")
            try await api.get("/api/deployed-endpoints/shop/examples?seed=-1").expectError(.badRequest, field: "seed")
            try await api.get("/api/deployed-endpoints/gone/examples").expectError(.conflict, field: "id")
            try await api.get("/api/deployed-endpoints/nowhere/examples").expectError(.notFound)
        }
    }

    @Test func badRequestsNameTheFieldAndWriteNothing() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("testing-keys-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: keys) }
        let reader = Self.reader(port: 1, keys: keys)
        try await withTestService(TestingService.definition(reader: reader), reader: reader, runWorkers: false) { service in
            try await Self.deploy(service, endpoints: ["shop", "gone"], undeployed: ["gone"])
            let api = service.api
            let path = "/api/deployed-endpoints/shop/test"
            for (body, field) in [
                (#"{"sample_count": 0}"#, "sample_count"), (#"{"sample_count": 1001}"#, "sample_count"),
                (#"{"timeout_seconds": 301}"#, "timeout_seconds"),
                (#"{"batch_size": 0}"#, "batch_size"), (#"{"top_k": 101}"#, "top_k"), (#"{"triggered_by": "robot"}"#, "triggered_by"),
            ] {
                try await api.post(path, body).expectError(.unprocessableContent, field: field)
            }
            try await api.post(path, #"{"sample_count": "ten"}"#).expectError(.badRequest, field: "sample_count")
            try await api.post("/api/deployed-endpoints/nowhere/test").expectError(.notFound)
            try await api.post("/api/deployed-endpoints/gone/test").expectError(.conflict, field: "id")
            try await api.get("/api/deployed-endpoints/nowhere/test").expectError(.notFound)
            try await api.get("/api/deployed-endpoints/shop/test?limit=0").expectError(.badRequest, field: "limit")
            try await api.get("/api/endpoint-tests/test-nope").expectError(.notFound)
            #expect(try await service.scalar("SELECT count(*) FROM slipway.events") == 0, "nothing was written")
        }
    }
}
