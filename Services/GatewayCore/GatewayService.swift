import Foundation
import Logging
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// The gateway's settings beyond a service's.
public struct GatewaySettings: Sendable {
    public var maxBodyBytes: Int
    /// Reads without a token (`--anonymous-reads true`): the operator's opt-out for a local demo.
    public var anonymousReads: Bool
    /// Where the first start writes the first admin's token (`--bootstrap-token-file`); nil: no admin is made.
    public var bootstrapTokenFile: URL?
    /// How often token usage is recorded (`ApiTokenUsed`).
    public var usageReportInterval: Duration

    public init(
        maxBodyBytes: Int = 64 * 1024 * 1024, anonymousReads: Bool = false, bootstrapTokenFile: URL? = nil,
        usageReportInterval: Duration = .seconds(60)
    ) {
        self.maxBodyBytes = maxBodyBytes
        self.anonymousReads = anonymousReads
        self.bootstrapTokenFile = bootstrapTokenFile
        self.usageReportInterval = usageReportInterval
    }

    public static func load(reader: ConfigReader) throws -> GatewaySettings {
        GatewaySettings(
            maxBodyBytes: try reader.int("max-body-bytes", default: 64 * 1024 * 1024),
            anonymousReads: try reader.bool("anonymous-reads", default: false),
            bootstrapTokenFile: reader.string("bootstrap-token-file").map { URL(fileURLWithPath: $0).standardizedFileURL })
    }
}

/// The public REST entry point. It owns the gateway context — users and their API tokens — and so runs in the
/// service shell like the domain services (its own database, event store and topic); every request passes its
/// access policy before it is served or forwarded to the service that owns the path.
public enum GatewayService {
    public static func definition(settings: GatewaySettings, routes: RouteTable = .standard) -> ServiceDefinition {
        var definition = ServiceDefinition(
            name: EventContext.gateway.rawValue, topic: EventContext.gateway.topic, defaultPort: ServiceDirectory.gatewayPort,
            readModel: GatewayReadModel()
        ) { environment in
            let authenticator = Authenticator(postgres: environment.postgres, logger: environment.logger)
            let proxy = Proxy(
                peers: environment.config.peers, maxBodyBytes: settings.maxBodyBytes, httpClient: environment.httpClient, routes: routes)
            let usage = TokenUsageReporter(environment: environment, authenticator: authenticator)
            let live = LiveEvents(
                brokers: environment.config.kafkaBrokers, fetchWaitMaxMs: environment.config.fetchWaitMaxMs, logger: environment.logger)
            return ServiceComponents(
                routes: [
                    IdentityRoutes(environment: environment, authenticator: authenticator).collection, EventStreamRoutes(live: live).collection,
                    proxy.collection,
                ],
                workers: [
                    PollingWorker("token usage", every: settings.usageReportInterval, logger: environment.logger) { await usage.report() }, live,
                ],
                middleware: [
                    ServiceMiddleware(AuthMiddleware(authenticator: authenticator, policy: AccessPolicy(anonymousReads: settings.anonymousReads)))
                ],
                startupTasks: settings.bootstrapTokenFile.map { file in
                    [StartupTask("first admin") { try await FirstAdmin(environment: environment, tokenFile: file).ensure() }]
                } ?? [])
        }
        // Its only Kafka input is the live event streams: a tenth of a second late is live enough, and idle fetches cost CPU.
        definition.defaultFetchWaitMs = 100
        return definition
    }

    public static func run(reader: ConfigReader = ConfigReader()) async throws {
        try await SlipwayServiceRunner.run(definition(settings: try GatewaySettings.load(reader: reader)), reader: reader)
    }
}

/// Records, once per interval, which tokens were used: one `ApiTokenUsed` per token (`last_used_at` in the token list).
struct TokenUsageReporter: Sendable {
    let environment: ServiceEnvironment
    let authenticator: Authenticator

    func report() async {
        let usage = authenticator.drainUsage()
        guard !usage.isEmpty else { return }
        let metadata = CommandMetadata(actor: "gateway")
        let results = await environment.store.executeAll(
            ApiTokenDecider.self,
            usage.map {
                (aggregateID: $0.key, command: .recordUsage(lastUsedAt: $0.value.lastUsedAt, requestCount: $0.value.requestCount), metadata: metadata)
            })
        for case .failure(let error) in results where !(error is CommandRejected) {
            environment.logger.warning("token usage not recorded", metadata: [LogKey.error: "\(error)"])
        }
    }
}

/// The first start's admin: when no user exists yet, an `admin` user and a token for the CLI, written to a file only
/// its owner may read (the CLI reads it from there, so `slipway up` needs no extra step). Later starts change nothing.
struct FirstAdmin: Sendable {
    let environment: ServiceEnvironment
    let tokenFile: URL

    func ensure() async throws {
        let queries = IdentityQueries(postgres: environment.postgres, logger: environment.logger)
        guard try await queries.userCount() == 0 else {
            if !FileManager.default.fileExists(atPath: tokenFile.path) {
                environment.logger.notice(
                    "users exist but the admin token file is missing: ask an admin for a token (POST /api/tokens)",
                    metadata: [LogKey.path: "\(tokenFile.path)"])
            }
            return
        }
        let metadata = CommandMetadata(actor: "bootstrap")
        do {
            try await environment.execute(
                UserDecider.self, aggregateID: "admin",
                command: .create(username: "admin", role: .admin, displayName: "Administrator", actor: "bootstrap"),
                metadata: metadata)
        } catch let rejected as CommandRejected where rejected.kind == .conflict {
            return  // another replica made it first, and wrote the file
        }
        let issued = try await TokenIssuer(environment: environment).issue(
            for: "admin", ownerActive: true, name: "slipway-cli", expiresAt: nil, issuedBy: "bootstrap", metadata: metadata)
        try writeOwnerOnly(issued.token + "\n", to: tokenFile)
        environment.logger.notice("created the first admin; its token is in the file", metadata: [LogKey.path: "\(tokenFile.path)"])
    }

    /// Created with mode 0600 before anything is written, then moved into place.
    func writeOwnerOnly(_ text: String, to file: URL) throws {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).\(getpid())")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteNoPermission)
        }
        let handle = try FileHandle(forWritingTo: temporary)
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
        _ = try? FileManager.default.removeItem(at: file)
        try FileManager.default.moveItem(at: temporary, to: file)
    }
}
