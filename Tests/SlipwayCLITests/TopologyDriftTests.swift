import Foundation
import SlipwayContracts
import SlipwayPlatform
import SlipwayTestSupport
import Testing

/// compose/ and k8s/ against the code they run: every service, port, peer, topic and partition count comes from
/// `ServiceDirectory` and `EventContext`, every image's binaries from Package.swift. Reads what
/// `scripts/validate-topology` (run by `scripts/test` first) wrote: the resolved compose file and every rendered
/// Kubernetes overlay, as JSON.
@Suite("compose and Kubernetes files match the services")
struct TopologyDriftTests {
    static let root = TestInfrastructure.packageRoot
    static let overlays = ["dev", "prod", "external"]

    /// Every process with a compose service and a Deployment, and its port.
    static var services: [(name: String, port: Int)] {
        ServiceDirectory.domainServices.map { ("\($0.rawValue)-svc", ServiceDirectory.defaultPort(of: $0)) }
            + [("gateway", ServiceDirectory.gatewayPort), ("serving-router", 8081)]
    }

    /// `--peer` for every domain service, by the name compose and Kubernetes give it.
    static var expectedPeers: [String: String] {
        Dictionary(
            uniqueKeysWithValues: ServiceDirectory.domainServices.map {
                ($0.rawValue, "http://\($0.rawValue)-svc:\(ServiceDirectory.defaultPort(of: $0))")
            })
    }

    static func json(_ name: String) throws -> Any {
        let file = root.appendingPathComponent(".slipway-test/topology/\(name)")
        guard let data = try? Data(contentsOf: file) else {
            Issue.record("\(file.path) is missing: run scripts/validate-topology (scripts/test runs it)")
            throw CancellationError()
        }
        return try JSONSerialization.jsonObject(with: data)
    }

    static func peers(_ text: String?) -> [String: String] {
        Dictionary(
            (text ?? "").split(separator: ",").map { entry in
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                return (parts[0], parts.count > 1 ? parts[1] : "")
            }, uniquingKeysWith: { $1 })
    }

    @Test("compose: a service per process on its port, with brokers, its database, peers and a health check")
    func compose() throws {
        let file = try #require(try Self.json("compose.json") as? [String: Any])
        let services = try #require(file["services"] as? [String: [String: Any]])
        #expect(Set(services.keys) == Set(Self.services.map(\.name) + ["postgres", "kafka", "kafka-topics"]))
        let brokers = "kafka:9092"
        for (name, port) in Self.services {
            let service = try #require(services[name], "compose has no \(name)")
            let environment = service["environment"] as? [String: String] ?? [:]
            #expect(service["image"] as? String == "slipway:local", "\(name)")
            #expect((service["build"] as? [String: Any])?["dockerfile"] as? String == "Dockerfile", "\(name)")
            #expect(service["command"] as? [String] == ["/usr/local/bin/\(name)"], "\(name)")
            #expect(environment["SLIPWAY_PORT"] == "\(port)", "\(name)")
            #expect(environment["SLIPWAY_HOST"] == "0.0.0.0", "\(name)")
            #expect(environment["SLIPWAY_KAFKA_BROKERS"] == brokers, "\(name)")
            if name != "serving-router" {
                #expect((environment["SLIPWAY_ACTOR_SECRET"]?.count ?? 0) >= ActorVoucher.minimumSecretLength, "\(name): the actor secret")
            }
            let check = ((service["healthcheck"] as? [String: Any])?["test"] as? [String])?.joined(separator: " ") ?? ""
            let dependsOn = service["depends_on"] as? [String: Any] ?? [:]
            #expect(dependsOn["kafka-topics"] != nil, "\(name) starts before the topics exist")
            if name == "serving-router" {
                #expect(environment["SLIPWAY_DEPLOY_URL"] == Self.expectedPeers["deploy"])
                #expect(environment["SLIPWAY_ADMIN_HOST"] == "0.0.0.0" && environment["SLIPWAY_ADMIN_PORT"] == "8082")
                #expect(check.hasSuffix("http://127.0.0.1:8082/health"), "\(check)")
                continue
            }
            #expect(check.hasSuffix("http://127.0.0.1:\(port)/readyz"), "\(name): \(check)")
            #expect(dependsOn["postgres"] != nil, "\(name)")
            let database = try DatabaseURL(try #require(environment["SLIPWAY_DATABASE_URL"], "\(name)"), defaultDatabase: "slipway_\(name)")
            #expect(database.host == "postgres" && database.database == "slipway_\(name)", "\(name): its own database")
            #expect(Self.peers(environment["SLIPWAY_PEER"]) == Self.expectedPeers, "\(name)")
        }
        let deploy = services["deploy-svc"]?["environment"] as? [String: String] ?? [:]
        #expect(deploy["SLIPWAY_SERVING_BIND_HOST"] == "0.0.0.0" && deploy["SLIPWAY_SERVING_ADVERTISE_HOST"] == "deploy-svc")
        #expect(deploy["SLIPWAY_MODEL_SERVER"] == "/usr/local/bin/model-server")
        let training = services["training-svc"]?["environment"] as? [String: String] ?? [:]
        #expect(training["SLIPWAY_TRAINER_COMMAND"]?.hasPrefix("/usr/local/bin/slipway-trainer run ") == true)
        #expect((services["gateway"]?["environment"] as? [String: String])?["SLIPWAY_BOOTSTRAP_TOKEN_FILE"] == "/data/gateway/admin-token")
        let testing = services["testing-svc"]?["environment"] as? [String: String] ?? [:]
        #expect(testing["SLIPWAY_ROUTER_URL"] == "http://serving-router:8081")
        #expect(testing["SLIPWAY_ROUTER_ADMIN_URL"] == "http://serving-router:8082")

        // The topics, as kafka-topics makes them: `create <topic> <partitions>`.
        let script = (services["kafka-topics"]?["command"] as? [String])?.joined(separator: "\n") ?? ""
        let created = Dictionary(
            script.split(separator: "\n").compactMap { line -> (String, Int)? in
                let words = line.split(separator: " ")
                guard words.count == 3, words[0] == "create", let partitions = Int(words[2]) else { return nil }
                return (String(words[1]), partitions)
            }, uniquingKeysWith: { $1 })
        #expect(created == Dictionary(uniqueKeysWithValues: EventContext.allCases.map { ($0.topic, Int($0.partitions)) }))
    }

    @Test("the image has every executable the package builds but the benchmark")
    func dockerfile() throws {
        let package = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let dockerfile = try String(contentsOf: Self.root.appendingPathComponent("Dockerfile"), encoding: .utf8)
        let executables = Set(
            package.matches(of: /\.executableTarget\(name: "([a-z-]+)"/).map { String($0.1) }
                + package.matches(of: /\("([a-z]+-svc)", "[A-Za-z]+",/).map { String($0.1) })
        #expect(executables.count >= 12)
        let loop = try #require(dockerfile.firstMatch(of: /for executable in ([a-z\- \\\n]+); do/))
        let copied = Set(loop.1.split(whereSeparator: { " \\\n".contains($0) }).map(String.init))
        #expect(copied == executables.subtracting(["bundle-bench"]))
    }

    @Test("Kubernetes: every overlay has a Deployment, Service and probes per process, and the topics")
    func kubernetes() throws {
        for overlay in Self.overlays {
            let objects = try #require(try Self.json("k8s-\(overlay).json") as? [[String: Any]])
            func named(_ kind: String, _ name: String) -> [String: Any]? {
                objects.first { $0["kind"] as? String == kind && ($0["metadata"] as? [String: Any])?["name"] as? String == name }
            }
            let config = (named("ConfigMap", "slipway-config")?["data"] as? [String: String]) ?? [:]
            #expect(Self.peers(config["SLIPWAY_PEER"]) == Self.expectedPeers, "\(overlay)")
            let infra = (named("ConfigMap", "slipway-infra")?["data"] as? [String: String]) ?? [:]
            #expect(infra["SLIPWAY_KAFKA_BROKERS"]?.isEmpty == false && infra["DB_HOST"]?.isEmpty == false, "\(overlay)")
            for (name, port) in Self.services {
                let deployment = try #require(named("Deployment", name), "\(overlay): no Deployment \(name)")
                let pod = ((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any] ?? [:]
                let container = try #require((pod["containers"] as? [[String: Any]])?.first)
                #expect(container["command"] as? [String] == ["/usr/local/bin/\(name)"], "\(overlay) \(name)")
                let environment = Dictionary(
                    (container["env"] as? [[String: Any]] ?? []).map { ($0["name"] as? String ?? "", $0["value"] as? String ?? "<from>") },
                    uniquingKeysWith: { $1 })
                let ports = (container["ports"] as? [[String: Any]] ?? []).compactMap { $0["containerPort"] as? Int }
                #expect(ports.first == port && environment["SLIPWAY_PORT"] == "\(port)", "\(overlay) \(name)")
                let probePort = name == "serving-router" ? 8082 : port
                func probe(_ key: String) -> (String?, Int?) {
                    let get = (container[key] as? [String: Any])?["httpGet"] as? [String: Any]
                    return (get?["path"] as? String, get?["port"] as? Int)
                }
                #expect(probe("readinessProbe") == (name == "serving-router" ? "/health" : "/readyz", probePort), "\(overlay) \(name)")
                #expect(probe("livenessProbe") == ("/healthz", probePort), "\(overlay) \(name)")
                #expect((container["resources"] as? [String: Any])?["limits"] != nil, "\(overlay) \(name)")
                if name != "serving-router" {
                    #expect(environment["SLIPWAY_ACTOR_SECRET"] == "<from>", "\(overlay) \(name): the actor secret, from a Secret")
                    let url = try #require(environment["SLIPWAY_DATABASE_URL"], "\(overlay) \(name)")
                    #expect(url.hasSuffix("/?sslmode=$(DB_SSLMODE)") && url.contains("@$(DB_HOST):"), "\(overlay) \(name): its own database")
                }
                if name == "deploy-svc" || name == "training-svc" {
                    // Their model-server pods and trainer Jobs run the image the services run, through the API's proxy.
                    #expect(config["WORKLOAD_IMAGE"] == container["image"] as? String, "\(overlay) \(name): the workload image")
                    #expect(environment["SLIPWAY_KUBERNETES_API_URL"] == "http://127.0.0.1:8001", "\(overlay) \(name)")
                    #expect((pod["containers"] as? [[String: Any]])?.contains { $0["name"] as? String == "kubectl-proxy" } == true)
                    let target = name == "deploy-svc" ? "SLIPWAY_SERVING_TARGET" : "SLIPWAY_EXECUTOR"
                    #expect(environment[target] == "kubernetes", "\(overlay) \(name)")
                }
                let replicas = (deployment["spec"] as? [String: Any])?["replicas"] as? Int
                #expect(replicas == (overlay == "dev" ? 1 : 2), "\(overlay) \(name)")
                let service = try #require(named("Service", name), "\(overlay): no Service \(name)")
                let servicePorts = ((service["spec"] as? [String: Any])?["ports"] as? [[String: Any]] ?? []).compactMap { $0["port"] as? Int }
                #expect(servicePorts.first == port, "\(overlay) \(name)")
                #expect(named("PodDisruptionBudget", name) != nil, "\(overlay) \(name)")
                #expect(named("ServiceAccount", name) != nil, "\(overlay) \(name)")
            }
            #expect(named("HorizontalPodAutoscaler", "gateway") != nil && named("HorizontalPodAutoscaler", "serving-router") != nil)
            guard overlay != "external" else { continue }
            let topics = Dictionary(
                objects.filter { $0["kind"] as? String == "KafkaTopic" }.map { topic in
                    let spec = topic["spec"] as? [String: Any] ?? [:]
                    return (spec["topicName"] as? String ?? "", spec["partitions"] as? Int ?? 0)
                }, uniquingKeysWith: { $1 })
            #expect(topics == Dictionary(uniqueKeysWithValues: EventContext.allCases.map { ($0.topic, Int($0.partitions)) }), "\(overlay)")
        }
    }
}
