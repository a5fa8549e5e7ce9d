import Foundation
import Logging
import SlipwayContracts
import SlipwayLocalRuntime
import SlipwayModelBundle
import SlipwayPlatform
import SlipwayTestSupport
import Testing

@testable import DeployCore

/// Where model-servers listen and what address a revision records: in compose and Kubernetes serving-router runs
/// in another container, so deploy-svc binds its model-servers to every interface and names itself in the address.
@Suite("deploy-svc serving addresses", .serialized, .timeLimit(.minutes(2)))
struct ServingAddressTests {
    @Test("--serving-bind-host and --serving-advertise-host: defaults, flags, environment, refusals")
    func settings() throws {
        let defaults = try DeploySettings.load(reader: ConfigReader(arguments: ["deploy-svc"], environment: [:]))
        #expect(defaults.servingBindHost == "127.0.0.1" && defaults.servingAdvertiseHost == "127.0.0.1")

        let configured = try DeploySettings.load(
            reader: ConfigReader(
                arguments: ["deploy-svc", "--serving-bind-host", "0.0.0.0"],
                environment: ["SLIPWAY_SERVING_ADVERTISE_HOST": "deploy-svc", "SLIPWAY_SERVING_BIND_HOST": "10.0.0.1"]))
        #expect(configured.servingBindHost == "0.0.0.0")
        #expect(configured.servingAdvertiseHost == "deploy-svc")

        for (key, value) in [
            ("serving-advertise-host", "0.0.0.0"), ("serving-advertise-host", "http://deploy-svc"), ("serving-bind-host", ""),
            ("serving-bind-host", "host:80"),
        ] {
            #expect(throws: ConfigError.self, "\(key)=\(value)") {
                try DeploySettings.load(reader: ConfigReader(arguments: ["deploy-svc", "--\(key)=\(value)"], environment: [:]))
            }
        }
    }

    @Test("a model-server bound to every interface is recorded and routed at the advertised host; a restart adopts it there")
    func advertisedAddress() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-serving-address-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: work) }
        let bundle = work.appendingPathComponent("bundle")
        try SyntheticBundle.make(candidates: 50, dim: 8, customers: 10, hidden: 8, modelName: "shop-model", seed: 7).write(to: bundle)
        let modelServer = URL(fileURLWithPath: "\(TestInfrastructure.shared.binDirectory)/model-server")
        let logger = Logger(label: "serving-address-test")
        // 127.0.0.2 is another loopback address: reachable only when the model-server listens beyond 127.0.0.1.
        let target = LocalServingTarget(
            root: work.appendingPathComponent("serving"), modelServer: modelServer, readinessTimeout: .seconds(30), bindHost: "0.0.0.0",
            advertiseHost: "127.0.0.2", logger: logger)
        let spec = RevisionSpec(
            revisionID: "shop-1-r1", endpoint: "shop", modelName: "shop-model", versionNumber: 1, artifactURI: bundle.path,
            resources: ServingResources(), previousAddress: nil)
        let started = try await target.start(spec, instance: 0)
        let restarted = LocalServingTarget(
            root: work.appendingPathComponent("serving"), modelServer: URL(fileURLWithPath: "/nonexistent"), readinessTimeout: .seconds(5),
            bindHost: "0.0.0.0", advertiseHost: "127.0.0.2", logger: logger)
        do {
            let port = try #require(URL(string: started.address)?.port)
            #expect(started.address == "http://127.0.0.2:\(port)")
            #expect(await HTTPProbe.status(of: URL(string: "\(started.address)/health")!) == 200)
            // A restarted deploy-svc with the same settings adopts the process and reports the same address.
            let adopted = try await restarted.start(spec, instance: 0)
            #expect(adopted.address == started.address && adopted.startupMs == 0)
        } catch {
            await target.stop("shop-1-r1")
            throw error
        }
        await restarted.stop("shop-1-r1")
        #expect(await HTTPProbe.status(of: URL(string: "\(started.address)/health")!) == nil)

        // The default binds loopback only: the second loopback address does not answer.
        let loopbackOnly = LocalServingTarget(
            root: work.appendingPathComponent("serving-loopback"), modelServer: modelServer, readinessTimeout: .seconds(30), logger: logger)
        let local = try await loopbackOnly.start(spec, instance: 0)
        let localPort = URL(string: local.address)?.port ?? 0
        let onLoopback = await HTTPProbe.status(of: URL(string: "http://127.0.0.1:\(localPort)/health")!)
        let elsewhere = await HTTPProbe.status(of: URL(string: "http://127.0.0.2:\(localPort)/health")!)
        await loopbackOnly.stop("shop-1-r1")
        #expect(local.address == "http://127.0.0.1:\(localPort)")
        #expect(onLoopback == 200 && elsewhere == nil)
    }
}
