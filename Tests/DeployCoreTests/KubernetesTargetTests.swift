import AsyncHTTPClient
import Foundation
import Logging
import SlipwayContracts
import SlipwayLocalRuntime
import SlipwayPlatform
import SlipwayTestSupport
import Testing

@testable import DeployCore

/// The kubernetes target against `scripts/fake-kube-apiserver`: a stand-in API server on loopback that validates every
/// object it is sent against the official Kubernetes 1.30 schemas (kubernetes-validate, from the venv
/// scripts/validate-topology makes) and follows the API's semantics for create, get, list and delete. No cluster runs
/// here: what a real API server, scheduler and kubelet would add (pulling the image, running pods) is not tested.
@Suite("kubernetes serving target", .serialized, .timeLimit(.minutes(3)))
struct KubernetesTargetTests {
    static func settings(_ url: String) -> KubernetesServingTarget.Settings {
        KubernetesServingTarget.Settings(
            connection: .init(url: url, namespace: "slipway-test"), image: "registry.example/slipway:test", artifactsClaim: "slipway-artifacts",
            artifactsPath: "/data/artifacts")
    }

    static func spec(_ revision: String = "shop-1-r1", min: Int32 = 1, max: Int32 = 3) -> RevisionSpec {
        var resources = ServingResources()
        (resources.minInstances, resources.maxInstances, resources.memory, resources.cpu) = (min, max, "2Gi", "500m")
        return RevisionSpec(
            revisionID: revision, endpoint: "shop", modelName: "b2b", versionNumber: 1, artifactURI: "file:///data/artifacts/b2b/v1/bundle",
            resources: resources, previousAddress: nil)
    }

    func target(_ server: FakeKubernetesAPIServer) -> KubernetesServingTarget {
        KubernetesServingTarget(
            settings: Self.settings(server.url), readinessTimeout: .seconds(10), httpClient: .shared, logger: Logger(label: "test"))
    }

    @Test("a revision is a Deployment, a Service and an HPA the schemas accept; ready when available, adopted by name, deleted on stop")
    func revisionLifecycle() async throws {
        let server = try await FakeKubernetesAPIServer()
        // The stand-in does validate: an object the schemas refuse is a 422, as from a real API server.
        let invalid = try await server.api.post(
            "/api/v1/namespaces/slipway-test/services",
            #"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": [{"port": "http"}]}}"#)
        #expect(invalid.status == .unprocessableContent && invalid.text.contains("spec.ports.0.port"), "\(invalid.text)")

        let target = target(server)
        let (address, startupMs) = try await target.start(Self.spec(), instance: 0)
        #expect(address == "http://rev-shop-1-r1.slipway-test.svc:8080")
        #expect(startupMs >= 300, "ready once the Deployment has an available replica")
        #expect(
            try await server.requests().filter { $0.hasPrefix("POST") }.dropFirst() == [
                "POST /api/v1/namespaces/slipway-test/services", "POST /apis/apps/v1/namespaces/slipway-test/deployments",
                "POST /apis/autoscaling/v2/namespaces/slipway-test/horizontalpodautoscalers",
            ])
        let deployment = try await server.api.get("/apis/apps/v1/namespaces/slipway-test/deployments/rev-shop-1-r1", expect: .ok).json()
        let spec = try #require(deployment["spec"] as? [String: Any])
        #expect(spec["replicas"] as? Int == 1)
        let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        #expect(container["image"] as? String == "registry.example/slipway:test")
        #expect((container["args"] as? [String])?.starts(with: ["--bundle", "/data/artifacts/b2b/v1/bundle"]) == true)
        #expect(((container["resources"] as? [String: Any])?["limits"] as? [String: String]) == ["cpu": "500m", "memory": "2Gi"])
        #expect(((container["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String == "/health")
        let labels = (deployment["metadata"] as? [String: Any])?["labels"] as? [String: String]
        #expect(labels?["slipway.io/revision"] == "shop-1-r1" && labels?["slipway.io/endpoint"] == "shop")
        let hpa = try await server.api.get(
            "/apis/autoscaling/v2/namespaces/slipway-test/horizontalpodautoscalers/rev-shop-1-r1", expect: .ok
        ).json()
        #expect((hpa["spec"] as? [String: Any])?["minReplicas"] as? Int == 1 && (hpa["spec"] as? [String: Any])?["maxReplicas"] as? Int == 3)

        // A restarted deploy-svc adopts it: nothing is created again.
        let posts = try await server.requests().filter { $0.hasPrefix("POST") }.count
        let adopted = try await self.target(server).start(Self.spec(), instance: 0)
        #expect(adopted.address == address && adopted.startupMs == 0)
        #expect(try await server.requests().filter { $0.hasPrefix("POST") }.count == posts)
        let running = await target.isRunning("shop-1-r1", instance: 0)
        let instances = await target.runningInstances("shop-1-r1")
        #expect(running && instances == [0])
        // Instances are the HPA's business.
        await #expect(throws: RevisionStartError.self) { _ = try await target.start(Self.spec(), instance: 1) }

        // Fixed instances: no HPA. A bundle outside the artifacts volume is refused before anything is created.
        _ = try await target.start(Self.spec("shop-2-r1", min: 2, max: 2), instance: 0)
        #expect(try await server.api.get("/apis/autoscaling/v2/namespaces/slipway-test/horizontalpodautoscalers/rev-shop-2-r1").status == .notFound)
        var outside = Self.spec("shop-3-r1")
        outside.artifactURI = "file:///elsewhere/bundle"
        await #expect(throws: RevisionStartError.self) { _ = try await target.start(outside, instance: 0) }
        #expect(try await server.api.get("/api/v1/namespaces/slipway-test/services/rev-shop-3-r1").status == .notFound)

        // Stop deletes all three; stopAll deletes every revision deploy-svc made.
        await target.stop("shop-1-r1")
        for path in [
            "/apis/apps/v1/namespaces/slipway-test/deployments/rev-shop-1-r1", "/api/v1/namespaces/slipway-test/services/rev-shop-1-r1",
            "/apis/autoscaling/v2/namespaces/slipway-test/horizontalpodautoscalers/rev-shop-1-r1",
        ] {
            #expect(try await server.api.get(path).status == .notFound, "\(path)")
        }
        let stillRunning = await target.isRunning("shop-1-r1", instance: 0)
        #expect(!stillRunning)
        await target.stopAll()
        let left = try await server.api.get("/apis/apps/v1/namespaces/slipway-test/deployments", expect: .ok).json()
        #expect((left["items"] as? [Any])?.isEmpty == true)
    }

    @Test("names fit Kubernetes: rev-<revision>, shortened with a hash past 63 characters")
    func names() {
        #expect(KubernetesServingTarget.objectName("shop-1-r1") == "rev-shop-1-r1")
        let long = String(repeating: "a", count: 63) + "-12-r1"
        let name = KubernetesServingTarget.objectName(long)
        #expect(name.count == 63 && name.hasPrefix("rev-aaaa") && name != KubernetesServingTarget.objectName(long + "0"))
    }

    @Test("deploy-svc on the kubernetes target: a deployment's revision is created there, serves at its Service, and goes on undeploy")
    func deploySvcOnKubernetes() async throws {
        let server = try await FakeKubernetesAPIServer()
        let arguments = [
            "--serving-target", "kubernetes", "--kubernetes-api-url", server.url, "--kubernetes-namespace", "slipway-test",
            "--model-server-image", "registry.example/slipway:test", "--artifacts-path", FileManager.default.temporaryDirectory.path,
        ]
        try await DeploymentTests().withDeployService(arguments: arguments) { f in
            var (status, body) = try await f.call(
                .post, "/api/models/\(DeploymentTests.model)/deployments", #"{"version": 1, "endpoint": "shop", "preset": "production"}"#)
            #expect(status == .accepted, "\(body)")
            let view = try await f.waitFor("shop", "v1 serving") { DeploymentTests.traffic($0) == [1: 100] }
            let revision = try #require(DeploymentTests.deployment(view, "shop-1")?["revision"] as? [String: Any])
            #expect(revision["address"] as? String == "http://rev-shop-1-r1.slipway-test.svc:8080")
            let started = try await f.events("shop").compactMap { if case .revisionStarted(let e) = $0 { e } else { nil } }.first
            #expect(started?.target == .kubernetes)
            let hpa = try await server.api.get(
                "/apis/autoscaling/v2/namespaces/slipway-test/horizontalpodautoscalers/rev-shop-1-r1", expect: .ok
            ).json()
            #expect((hpa["spec"] as? [String: Any])?["maxReplicas"] as? Int == 10, "production: 1 to 10 instances")

            (status, body) = try await f.call(.post, "/api/endpoints/shop/undeploy", #"{"reason": "test"}"#)
            #expect(status == .ok, "\(body)")
            try await eventually(timeout: .seconds(30), "the revision's Deployment deleted") {
                try await server.api.get("/apis/apps/v1/namespaces/slipway-test/deployments/rev-shop-1-r1").status == .notFound
            }
        }
        // Bad settings name the flag.
        #expect(throws: ConfigError.self) {
            try DeploySettings.load(reader: ConfigReader(arguments: ["deploy-svc", "--serving-target", "kubernetes"], environment: [:]))
        }
        #expect(throws: ConfigError.self) {
            try DeploySettings.load(reader: ConfigReader(arguments: ["deploy-svc", "--serving-target", "cloud"], environment: [:]))
        }
    }
}
