import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
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
/// and the shipper sends the last request logs before its producer flushes. Each part owns what it
/// makes (the shipper its Kafka producer, the public server its event loops) and ends on graceful
/// shutdown.
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
        /// This process in `GET /internal/load` (the autoscaler differences reports of one router only).
        let routerID = UUID().uuidString.lowercased()
    }

    public let config: ServingRouterConfig
    let logger: Logger
    let parts: Parts
    private let boundAdminPort = Mutex<Int?>(nil)
    private let publicServer: PublicServer

    public init(config: ServingRouterConfig, logger: Logger) {
        self.config = config
        self.logger = logger
        let store = RoutingTableStore()
        let logs = RequestLogBuffer(capacity: config.logBuffer)
        let readiness = Readiness()
        readiness.markMigrated()
        let producer = KafkaProducerConfiguration(
            bootstrapServers: config.kafkaBrokers, clientId: "serving-router", lingerMs: 5,
            extra: ["message.timeout.ms": "10000"])
        parts = Parts(
            store: store,
            sync: RoutingSync(store: store, config: config, httpClient: .slipwayInternal, logger: logger),
            stats: RevisionStats(), usage: KeyUsage(), logs: logs,
            shipper: RequestLogShipper(buffer: logs, sampleInstances: config.logSampleInstances, logger: logger) {
                try KafkaProducer(configuration: producer, logger: logger)
            },
            readiness: readiness)
        publicServer = PublicServer(
            api: PublicAPI(
                store: store, stats: parts.stats, usage: parts.usage, logs: logs,
                waker: RevisionWaker(
                    deploy: config.deploy, timeout: .seconds(Int64(config.coldStartTimeoutSeconds)), httpClient: .slipwayInternal,
                    logger: logger),
                coldStartTimeout: .seconds(Int64(config.coldStartTimeoutSeconds))),
            host: config.host, port: config.port,
            eventLoops: config.eventLoops, upstreamTimeoutSeconds: config.upstreamTimeoutSeconds,
            maxIdlePerAddress: config.upstreamConnectionsPerHost, logger: logger)
    }

    /// The ports actually bound (useful with port 0), once listening.
    public var publicPort: Int? { publicServer.boundPort.withLock { $0 } }
    public var adminPort: Int? { boundAdminPort.withLock { $0 } }

    public func run() async throws {
        let parts = self.parts
        let config = self.config
        let logger = self.logger
        let adminApp = Application(
            router: ServingRouterAdminRoutes(parts: parts).router(),
            configuration: .init(address: .hostname(config.adminHost, port: config.adminPort), serverName: "serving-router-admin"),
            onServerRunning: { [self] channel in self.boundAdminPort.withLock { $0 = channel.localAddress?.port } },
            logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    LoopService("request-log shipper") { try await parts.shipper.run() },
                    LoopService("key usage") {
                        await parts.usage.run(
                            intervalSeconds: config.usageIntervalSeconds, deploy: config.deploy, httpClient: .slipwayInternal, logger: logger)
                    },
                    LoopService("deploy event stream") { await parts.sync.runStream() },
                    LoopService("routing resync") { await parts.sync.runResync() },
                    adminApp, publicServer,
                ],
                logger: logger))
        logger.info(
            "starting",
            metadata: [
                LogKey.httpPort: "\(config.port)", LogKey.httpAdminPort: "\(config.adminPort)", LogKey.deployURL: "\(config.deploy)",
                LogKey.kafkaBrokers: "\(config.kafkaBrokers)",
            ])
        try await group.run()
    }
}
