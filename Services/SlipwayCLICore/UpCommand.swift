import ArgumentParser
import Foundation
import Logging
import SlipwayLocalRuntime
import SlipwayPlatform

/// `slipway up`: the whole platform on this machine, as separate supervised processes.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run Slipway on this machine: PostgreSQL, the dev broker, every service and the gateway.",
        discussion: """
            State lives in --data-dir (.slipway/): the PostgreSQL cluster, logs/<process>.log and up.json.
            SLIPWAY_DATABASE_URL / SLIPWAY_KAFKA_BROKERS (or the flags) use an external PostgreSQL server
            (one database per service is created on it) or external Kafka instead of the embedded ones.
            Ctrl-C stops everything in reverse order. --replicas 2 runs two processes of each domain service and
            two gateways, each on its own port, against the same databases and broker: peers call the next
            replica in turn, and the CLI uses either gateway.
            """)

    @Option(help: "Directory for the embedded cluster, logs and state.") var dataDir = ".slipway"
    @Option(help: "Address the services and the gateway listen on.") var host = "127.0.0.1"
    @Option(help: "Port of the gateway (the public REST API).") var gatewayPort = ServiceDirectory.gatewayPort
    @Option(help: "Port of serving-router (the public prediction API).") var routerPort = 8081
    @Option(help: "Port of serving-router's admin listener (/health, /metrics, rollout statistics).") var routerAdminPort = 8082
    @Option(help: "External PostgreSQL server (base URL); default: an embedded cluster in --data-dir.") var databaseURL: String?
    @Flag(help: "Run the embedded PostgreSQL with fsync on: a crash of the machine then loses no acknowledged command (commits are slower).")
    var durable = false
    @Option(help: "External Kafka bootstrap servers; default: the dev broker.") var kafkaBrokers: String?
    @Option(help: "Log level of the services (trace, debug, info, notice, warning, error).") var logLevel = "info"
    @Flag(help: "Let API reads through without a token (a local demo); writes always need one.") var anonymousReads = false
    @Option(help: "Processes of each domain service, and gateways (1 to 3); the first on the usual ports.") var replicas = 1

    func validate() throws {
        guard (1...3).contains(replicas) else { throw ValidationError("--replicas must be 1, 2 or 3") }
    }

    /// A process's name: `training-svc`, then `training-svc-2`, `training-svc-3`.
    static func processName(_ name: String, replica: Int) -> String { replica == 0 ? name : "\(name)-\(replica + 1)" }

    func run() async throws {
        var logger = Logger(label: "slipway.up")
        logger.logLevel = .info
        let paths = SlipwayPaths(root: URL(fileURLWithPath: dataDir, isDirectory: true).standardizedFileURL)
        try FileManager.default.createDirectory(at: paths.root, withIntermediateDirectories: true)
        if let state = try? UpState.read(from: paths.stateFile), state.status != .stopped, state.isSupervisorAlive {
            throw ValidationErrorMessage(
                "Slipway is already running from \(paths.root.path) (pid \(state.supervisorPID)); `slipway status` or `slipway down`")
        }
        let environment = ProcessInfo.processInfo.environment
        try ensureActorSecret(paths.actorSecretFile)

        // PostgreSQL: external, or the embedded cluster.
        var embedded: EmbeddedPostgres?
        let database: String
        if let external = databaseURL ?? environment["SLIPWAY_DATABASE_URL"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard !durable else {
                throw ValidationErrorMessage("--durable is for the embedded PostgreSQL; an external server's durability is its own setting")
            }
            database = external
        } else {
            let cluster = EmbeddedPostgres(directory: paths.postgresDirectory, durable: durable, logger: logger)
            database = try await cluster.start().absoluteString
            embedded = cluster
            print("PostgreSQL   \(database) (embedded, \(paths.postgresDirectory.path), \(durable ? "durable" : "fsync off"))")
        }

        var processes: [ManagedProcess] = []
        // Kafka: external, or the dev broker on a port kept across restarts of it.
        let brokers: String
        let brokersFile = paths.root.appendingPathComponent("kafka-brokers")
        if let external = kafkaBrokers ?? environment["SLIPWAY_KAFKA_BROKERS"].flatMap({ $0.isEmpty ? nil : $0 }) {
            brokers = external
            try (brokers + "\n").write(to: brokersFile, atomically: true, encoding: .utf8)
        } else {
            let port = try stablePort(file: paths.root.appendingPathComponent("kafka-port"))
            brokers = "127.0.0.1:\(port)"
            processes.append(
                ManagedProcess(
                    name: "devbroker", executable: try executable("slipway-devbroker"),
                    arguments: ["--port", "\(port)", "--address-file", brokersFile.path],
                    readiness: .file(brokersFile), readinessTimeout: .seconds(30)))
        }

        for (port, flag) in [(routerPort, "--router-port"), (routerAdminPort, "--router-admin-port")] where !isTCPPortFree(port) {
            throw ValidationErrorMessage("port \(port) is taken: pass \(flag)")
        }
        // Services: the first replica on its default port when free, the others on free ports.
        var ports: [String: [Int]] = [:]
        for service in ServiceDirectory.domainServices.map(\.rawValue) {
            let preferred = ServiceDirectory.defaultPorts[service]!
            ports[service] = [isTCPPortFree(preferred) ? preferred : try freeTCPPort()]
            for _ in 1..<replicas { ports[service]!.append(try freeTCPPort(excluding: ports.values.flatMap { $0 })) }
        }
        func addresses(_ service: String) -> String { ports[service]!.map { "http://\(host):\($0)" }.joined(separator: "|") }
        let peers = ServiceDirectory.domainServices.map { "\($0.rawValue)=\(addresses($0.rawValue))" }.joined(separator: ",")
        for service in ServiceDirectory.domainServices.map(\.rawValue) {
            for (replica, port) in ports[service]!.enumerated() {
                processes.append(
                    ManagedProcess(
                        name: Self.processName("\(service)-svc", replica: replica), executable: try executable("\(service)-svc"),
                        arguments: [
                            "--host", host, "--port", "\(port)", "--database-url", database, "--kafka-brokers", brokers,
                            "--peer", peers, "--log-level", logLevel, "--actor-secret-file", paths.actorSecretFile.path,
                        ] + (try serviceArguments(service, paths: paths)),
                        readiness: .http(URL(string: "http://\(host):\(port)/readyz")!), readinessTimeout: .seconds(60)))
            }
        }
        processes.append(
            ManagedProcess(
                name: "serving-router", executable: try executable("serving-router"),
                arguments: [
                    "--host", host, "--port", "\(routerPort)", "--admin-port", "\(routerAdminPort)", "--deploy-url", addresses("deploy"),
                    "--kafka-brokers", brokers, "--log-level", logLevel,
                ],
                readiness: .http(URL(string: "http://\(host):\(routerAdminPort)/health")!), readinessTimeout: .seconds(60)))
        guard isTCPPortFree(gatewayPort) else {
            throw ValidationErrorMessage("port \(gatewayPort) is taken: pass --gateway-port")
        }
        var gatewayPorts = [gatewayPort]
        for _ in 1..<replicas { gatewayPorts.append(try freeTCPPort(excluding: ports.values.flatMap { $0 } + gatewayPorts)) }
        for (replica, port) in gatewayPorts.enumerated() {
            processes.append(
                ManagedProcess(
                    name: Self.processName("gateway", replica: replica), executable: try executable("gateway"),
                    arguments: [
                        "--host", host, "--port", "\(port)", "--database-url", database, "--kafka-brokers", brokers, "--peer", peers,
                        "--log-level", logLevel, "--bootstrap-token-file", paths.adminTokenFile.path, "--anonymous-reads", "\(anonymousReads)",
                        "--actor-secret-file", paths.actorSecretFile.path,
                    ],
                    readiness: .http(URL(string: "http://\(host):\(port)/readyz")!), readinessTimeout: .seconds(60)))
        }

        let cluster = embedded
        let supervisor = try Supervisor(processes: processes, options: SupervisorOptions(paths: paths), logger: logger) {
            if let cluster { try await cluster.stop() }
        }
        let gatewayURL = "http://\(host):\(gatewayPort)"
        let servicePorts = ServiceDirectory.domainServices.map { service in
            "\(service.rawValue) " + ports[service.rawValue]!.map { ":\($0)" }.joined(separator: " ")
        }.joined(separator: ", ")
        let banner = """

            Slipway is up.
              API (gateway)   \(gatewayURL)/api/ (token: \(paths.adminTokenFile.path), sent by the CLI)\(gatewayPorts.count > 1 ? ", also on " + gatewayPorts.dropFirst().map { ":\($0)" }.joined(separator: " ") : "")
              Predictions     http://\(host):\(routerPort)/<endpoint>/recommend (serving-router)
              Kafka           \(brokers)
              PostgreSQL      \(database)
              Services        \(servicePorts)
              Logs            \(paths.logsDirectory.path)
            `slipway status` in another terminal; Ctrl-C stops everything.

            """
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await supervisor.run() }
            group.addTask {
                var phase = await supervisor.currentPhase
                while phase == .starting || phase == .idle {
                    try await Task.sleep(for: .milliseconds(100))
                    phase = await supervisor.currentPhase
                }
                if phase == .running {
                    print(banner)
                    fflush(nil)  // stdout may be a file or a pipe: show the URLs now, not at exit
                }
            }
            try await group.waitForAll()
        }
    }

    /// Settings only one service takes: training-svc keeps run artifacts under `.slipway/artifacts` and runs
    /// the slipway-trainer built with it; deploy-svc runs model-server revisions with state under
    /// `.slipway/serving`, stops them when it stops, and reads serving-router's load to scale them; schedule-svc
    /// keeps its webhook key and testing-svc its API keys under `.slipway`.
    func serviceArguments(_ service: String, paths: SlipwayPaths) throws -> [String] {
        switch service {
        case "training":
            let trainer = try executable("slipway-trainer")
            return [
                "--artifact-root", paths.root.appendingPathComponent("artifacts").path,
                "--trainer-command", "\(trainer.path) run --spec {spec} --artifacts {artifacts}",
            ]
        case "deploy":
            return [
                "--serving-root", paths.root.appendingPathComponent("serving").path, "--model-server", try executable("model-server").path,
                "--stop-revisions-on-exit", "true", "--router-url", "http://\(host):\(routerPort)",
                "--router-admin-url", "http://127.0.0.1:\(routerAdminPort)",
            ]
        case "testing":
            // Tests go through serving-router, with testing-svc's own keys kept under `.slipway`.
            return [
                "--router-url", "http://\(host):\(routerPort)", "--router-admin-url", "http://127.0.0.1:\(routerAdminPort)", "--key-dir",
                paths.root.appendingPathComponent("testing-keys").path,
            ]
        case "schedule":
            // The key schedule webhooks' secrets derive from, kept with the installation's state.
            return ["--webhook-key-file", paths.root.appendingPathComponent("schedule-webhook.key").path]
        default:
            return []
        }
    }

    /// The installation's actor secret (`ActorVoucher`), made once, readable by its owner only: the gateway signs who
    /// each request acts for with it and the services believe only what it signed.
    func ensureActorSecret(_ file: URL) throws {
        guard !FileManager.default.fileExists(atPath: file.path) else { return }
        guard
            FileManager.default.createFile(
                atPath: file.path, contents: Data((SecretMaterial.newSecret() + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw ValidationErrorMessage("cannot write \(file.path)") }
    }

    func executable(_ name: String) throws -> URL {
        guard let url = findExecutable(named: name) else {
            throw ValidationErrorMessage("\(name) not found next to slipway or on PATH: build the package (`swift build`) first")
        }
        return url
    }

    /// A port remembered in `file`: the same one on every `up` while it is free, so clients keep their address.
    func stablePort(file: URL) throws -> Int {
        if let text = try? String(contentsOf: file, encoding: .utf8), let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            isTCPPortFree(port)
        {
            return port
        }
        let port = try freeTCPPort()
        try "\(port)\n".write(to: file, atomically: true, encoding: .utf8)
        return port
    }
}

struct DownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "down", abstract: "Stop a platform started by `slipway up`.")
    @Option(help: "The directory `slipway up` used.") var dataDir = ".slipway"

    func run() async throws {
        let paths = SlipwayPaths(root: URL(fileURLWithPath: dataDir, isDirectory: true).standardizedFileURL)
        guard FileManager.default.fileExists(atPath: paths.stateFile.path) else {
            print("nothing to stop: no \(paths.stateFile.path)")
            return
        }
        let (result, leftovers) = try await SupervisorControl.downCompletely(paths: paths)
        switch result {
        case .stopped(let pid): print("stopped (supervisor pid \(pid))")
        case .notRunning(let killed): print(killed > 0 ? "was not running; killed \(killed) leftover processes" : "was not running")
        }
        if !leftovers.commandLines.isEmpty {
            print("ended \(leftovers.commandLines.count) process(es) still running from \(paths.root.path):")
            for line in leftovers.commandLines { print("  \(line)") }
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "List every process of `slipway up` with its readiness; exits 1 if any is not ready.")
    @Option(help: "The directory `slipway up` used.") var dataDir = ".slipway"

    func run() async throws {
        let paths = SlipwayPaths(root: URL(fileURLWithPath: dataDir, isDirectory: true).standardizedFileURL)
        guard FileManager.default.fileExists(atPath: paths.stateFile.path) else {
            print("Slipway is not running here (no \(paths.stateFile.path)); start it with `slipway up`")
            throw ExitCode(1)
        }
        let report = try await StatusReport.load(paths: paths)
        print(report.formatted(colors: isatty(STDOUT_FILENO) == 1))
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}
