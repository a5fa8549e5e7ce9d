import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayPlatform
import Synchronization

/// serving-router: the public prediction entry point. Run it as a `Service` (the executable puts it in a
/// `ServiceGroup` with the signal handling; `slipway up` can do the same).
///
/// Inside, in start order (shutdown runs in reverse): request-log shipper, key-usage reporter, deploy
/// event stream, snapshot resync, admin HTTP, public HTTP. So on shutdown the public port stops first
/// and the shipper sends the last request logs before the producer flushes.
public final class ServingRouter: Service, Sendable {
    /// The pieces the HTTP handlers share.
    struct Parts: Sendable {
        let store: RoutingTableStore
        let sync: RoutingSync
        let stats: RevisionStats
        let usage: KeyUsage
        let logs: RequestLogBuffer
        let shipper: RequestLogShipper
        let readiness: Readiness
    }

    public let config: ServingRouterConfig
    let logger: Logger
    let parts: Parts
    private let boundPorts = Mutex<(public: Int?, admin: Int?)>((nil, nil))
    private let publicServer: PublicServer

    public init(config: ServingRouterConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        let store = RoutingTableStore()
        let logs = RequestLogBuffer(capacity: config.logBuffer)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: config.kafkaBrokers, clientId: "serving-router", lingerMs: 5,
                                                      extra: ["message.timeout.ms": "10000"]),
            logger: logger)
        let readiness = Readiness()
        readiness.markMigrated()
        parts = Parts(
            store: store,
            sync: RoutingSync(store: store, config: config, httpClient: .slipwayInternal, logger: logger),
            stats: RevisionStats(), usage: KeyUsage(), logs: logs,
            shipper: RequestLogShipper(buffer: logs, producer: producer, sampleInstances: config.logSampleInstances, logger: logger),
            readiness: readiness)
        publicServer = PublicServer(
            api: PublicAPI(store: store, stats: parts.stats, usage: parts.usage, logs: logs), host: config.host, port: config.port,
            group: MultiThreadedEventLoopGroup(numberOfThreads: config.eventLoops), upstreamTimeoutSeconds: config.upstreamTimeoutSeconds,
            maxIdlePerAddress: config.upstreamConnectionsPerHost, logger: logger)
    }

    /// The ports actually bound (useful with port 0), once listening.
    public var publicPort: Int? { publicServer.boundPort.withLock { $0 } }
    public var adminPort: Int? { boundPorts.withLock { $0.admin } }

    public func run() async throws {
        let parts = self.parts
        let config = self.config
        let logger = self.logger
        let adminApp = Application(
            router: AdminRoutes.router(parts),
            configuration: .init(address: .hostname(config.adminHost, port: config.adminPort), serverName: "serving-router-admin"),
            onServerRunning: { [self] channel in self.boundPorts.withLock { $0.admin = channel.localAddress?.port } },
            logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [
                LoopService("request-log shipper") { await parts.shipper.run() },
                LoopService("key usage") {
                    await parts.usage.run(intervalSeconds: config.usageIntervalSeconds, deployURL: config.deployURL, httpClient: .slipwayInternal, logger: logger)
                },
                LoopService("deploy event stream") { await parts.sync.runStream() },
                LoopService("routing resync") { await parts.sync.runResync() },
                adminApp, publicServer,
            ],
            logger: logger))
        logger.info("starting", metadata: [
            "http.port": "\(config.port)", "http.admin_port": "\(config.adminPort)", "deploy.url": "\(config.deployURL)",
            "kafka.brokers": "\(config.kafkaBrokers)",
        ])
        try await group.run()
    }
}

/// A background loop as a `Service`: it returns on graceful shutdown or cancellation.
struct LoopService: Service {
    let name: String
    let body: @Sendable () async -> Void

    init(_ name: String, _ body: @escaping @Sendable () async -> Void) {
        self.name = name
        self.body = body
    }

    func run() async throws { await body() }
}
