import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import SlipwayEventSourcing
import SlipwayKafka

/// The common shell every domain service runs in.
///
/// Service order (shutdown runs in reverse): PostgreSQL client → workers (migrations, outbox relay,
/// projectors) → HTTP server. So on SIGTERM the server stops taking requests first, projectors finish the
/// event in hand, the producer flushes, and PostgreSQL closes last.
public enum SlipwayServiceRunner {
    public static func run(_ definition: ServiceDefinition, reader: ConfigReader = ConfigReader()) async throws {
        let config = try ServiceConfig.load(service: definition.name, defaultPort: definition.defaultPort, reader: reader)
        Observability.bootstrap(level: config.logLevel)
        let logger = serviceLogger(definition.name, level: config.logLevel)
        try await retrying("create database \(config.database)", logger: logger) {
            try await config.database.ensureDatabaseExists(logger: logger)
        }
        let postgres = PostgresClient(configuration: try config.database.clientConfiguration(), backgroundLogger: logger)
        let store = EventStore(service: definition.name, client: postgres, logger: logger, readModel: definition.readModel)
        let environment = ServiceEnvironment(config: config, store: store, postgres: postgres, httpClient: .slipwayInternal, logger: logger)
        let readiness = Readiness()
        let router = buildRouter(definition, environment: environment, readiness: readiness)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: definition.name),
            logger: logger)
        let workers = ServiceWorkers(definition: definition, environment: environment, readiness: readiness)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: postgres), .init(service: workers), .init(service: app)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        logger.info("starting", metadata: ["http.port": "\(config.port)", "db": "\(config.database)", "kafka.brokers": "\(config.kafkaBrokers)"])
        try await group.run()
    }

    /// The service's router: shared middleware and internal routes, then the domain routes.
    public static func buildRouter(_ definition: ServiceDefinition, environment: ServiceEnvironment, readiness: Readiness) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestMetricsMiddleware())
        router.add(middleware: ErrorMiddleware())
        InternalRoutes.addHealth(to: router, readiness: readiness, environment: environment, kafkaBrokers: environment.config.kafkaBrokers)
        InternalRoutes.addEventRoutes(to: router, definition: definition, environment: environment) { subscription in
            projectorSources(subscription, config: environment.config, store: environment.store)
        }
        definition.routes(router, environment)
        return router
    }

    static func projectorSources(_ subscription: ProjectionSubscription, config: ServiceConfig, store: EventStore) -> [Projector.Source] {
        subscription.sourceServices.map { service in
            let feed: any EventFeed = service == config.service
                ? LocalEventFeed(store: store)
                : HTTPEventFeed(baseURL: config.peers[service] ?? "http://127.0.0.1:\(ServiceDirectory.defaultPorts[service] ?? 80)")
            return Projector.Source(service: service, topic: ServiceDirectory.topic(for: service), feed: feed)
        }
    }
}

/// Runs migrations, then the outbox relay and every projector until shutdown. A projector that fails
/// (a peer's feed down, a broker gone) is restarted with backoff rather than taking the service down.
final class ServiceWorkers: Service {
    let definition: ServiceDefinition
    let environment: ServiceEnvironment
    let readiness: Readiness

    init(definition: ServiceDefinition, environment: ServiceEnvironment, readiness: Readiness) {
        self.definition = definition
        self.environment = environment
        self.readiness = readiness
    }

    func run() async throws {
        let logger = environment.logger
        let config = environment.config
        let sets = [EventStore.migrations] + [definition.readModel?.migrationSet].compactMap { $0 }
            + definition.projections.map { $0.projection.migrationSet }
        try await retrying("migrate", logger: logger) {
            try await Migrator.migrate(sets, client: self.environment.postgres, logger: logger)
        }
        readiness.markMigrated()

        let relay = OutboxRelay(
            store: environment.store,
            configuration: .init(topic: definition.topic, database: try config.database.connectionConfiguration()),
            logger: logger
        ) {
            try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: config.kafkaBrokers, clientId: "\(config.service)-relay"), logger: logger)
        }
        let projectors = definition.projections.map { subscription in
            var kafka = KafkaConsumerConfiguration(bootstrapServers: config.kafkaBrokers, groupId: "\(config.service).\(subscription.projection.name)", topics: [])
            kafka.fetchWaitMaxMs = config.fetchWaitMaxMs
            return Projector(
                projection: subscription.projection,
                sources: SlipwayServiceRunner.projectorSources(subscription, config: config, store: environment.store),
                client: environment.postgres, configuration: Projector.Configuration(kafka: kafka), logger: logger)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await keepRunning("outbox relay", logger: logger) { try await relay.run() } }
            for (subscription, projector) in zip(definition.projections, projectors) {
                group.addTask { try await keepRunning("projector \(subscription.projection.name)", logger: logger) { try await projector.run() } }
            }
            for worker in definition.workers {
                let environment = self.environment
                group.addTask { try await keepRunning(worker.name, logger: logger) { try await worker.run(environment) } }
            }
            try await group.waitForAll()
        }
    }
}

/// Retries an operation with backoff until it succeeds or the service shuts down (start-up ordering:
/// PostgreSQL may still be starting when a service comes up).
func retrying(_ what: String, logger: Logger, attempts: Int = 60, _ body: @Sendable () async throws -> Void) async throws {
    var delay: Duration = .milliseconds(250)
    for attempt in 1...attempts {
        do {
            try await body()
            return
        } catch {
            if attempt == attempts || Task.isCancelled { throw error }
            logger.warning("\(what) failed, retrying", metadata: ["error": "\(error)", "slipway.attempt": "\(attempt)"])
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
        }
    }
}

/// Restarts a long-running loop that failed, with backoff, until graceful shutdown.
func keepRunning(_ what: String, logger: Logger, _ body: @Sendable () async throws -> Void) async throws {
    var delay: Duration = .milliseconds(500)
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
        do {
            try await body()
            return
        } catch is CancellationError {
            return
        } catch {
            logger.error("\(what) failed, restarting", metadata: ["error": "\(error)"])
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(10))
        }
    }
}

public func serviceLogger(_ name: String, level: Logger.Level) -> Logger {
    var logger = Logger(label: "slipway.\(name)")
    logger.logLevel = level
    return logger
}
