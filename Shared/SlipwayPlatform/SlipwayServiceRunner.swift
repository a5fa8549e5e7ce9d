import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayKafka

/// The common shell every domain service runs in.
///
/// One `ServiceGroup`, in dependency order: the PostgreSQL client, the migrations, the outbox relay, each
/// projector, each worker, the HTTP server. Nothing but the client starts before the migrations are
/// applied — the server does not even listen. Shutdown runs in reverse, one service at a time: the server
/// stops taking requests, workers and projectors finish what is in hand, the relay flushes its producer,
/// PostgreSQL closes last. Each step is bounded (`ShutdownBudget`), so SIGTERM always ends the process.
public enum SlipwayServiceRunner {
    public static func run(_ definition: ServiceDefinition, reader: ConfigReader = ConfigReader()) async throws {
        let config = try ServiceConfig.load(
            service: definition.name, defaultPort: definition.defaultPort, defaultFetchWaitMs: definition.defaultFetchWaitMs, reader: reader)
        Observability.bootstrap(level: config.logLevel)
        let logger = serviceLogger(definition.name, level: config.logLevel)
        let httpClient = HTTPClient.slipwayInternal
        let postgres = PostgresClient(configuration: try config.database.clientConfiguration(), backgroundLogger: logger)
        let store = EventStore(service: definition.name, client: postgres, logger: logger, readModel: definition.readModel)
        let environment = ServiceEnvironment(config: config, store: store, postgres: postgres, httpClient: httpClient, logger: logger)
        let components = try definition.build(environment)
        let readiness = Readiness()
        let app = Application(
            router: buildRouter(definition, components, environment: environment, readiness: readiness),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: definition.name),
            logger: logger)

        let startup = StartupGate()
        let migrations = MigrationService(
            database: config.database, client: postgres, sets: migrationSets(definition, components),
            startupTasks: components.startupTasks, readiness: readiness, gate: startup, logger: logger)
        let relay = OutboxRelay(
            store: store, configuration: .init(topic: definition.topic, database: try config.database.connectionConfiguration()),
            logger: logger
        ) {
            try KafkaProducer(
                configuration: KafkaProducerConfiguration(bootstrapServers: config.kafkaBrokers, clientId: "\(config.service)-relay"), logger: logger)
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: postgres, serviceName: "postgres"),
            .init(service: migrations, successTerminationBehavior: .ignore, serviceName: "migrations"),
            .init(service: AfterStartup(relay, name: "outbox relay", gate: startup, logger: logger), serviceName: "outbox relay"),
        ]
        for subscription in components.projections {
            let projector = makeProjector(subscription, environment: environment)
            let name = "projector \(subscription.projection.name)"
            services.append(.init(service: AfterStartup(projector, name: name, gate: startup, logger: logger), serviceName: name))
        }
        for ingestion in components.ingestions {
            let ingestor = makeIngestor(ingestion, environment: environment)
            let name = "ingestor \(ingestion.name)"
            services.append(.init(service: AfterStartup(ingestor, name: name, gate: startup, logger: logger), serviceName: name))
        }
        for worker in components.workers {
            let name = String(describing: type(of: worker))
            services.append(.init(service: AfterStartup(worker, name: name, gate: startup, logger: logger), serviceName: name))
        }
        services.append(.init(service: AfterStartup(app, name: "http", gate: startup, restartOnFailure: false, logger: logger), serviceName: "http"))

        let configuration = ShutdownBudget.processGroup(services, logger: logger)
        logger.info(
            "starting",
            metadata: [
                LogKey.httpPort: "\(config.port)", LogKey.databaseName: "\(config.database)", LogKey.kafkaBrokers: "\(config.kafkaBrokers)",
            ])
        if config.actorVoucher == nil {
            logger.warning("no actor secret (--actor-secret, --actor-secret-file, SLIPWAY_ACTOR_SECRET): every request counts as internal")
        }
        try await ServiceGroup(configuration: configuration).run()
        logger.info("stopped")
    }

    /// The service's router: the shared middleware and internal routes, then the domain's collections.
    public static func buildRouter(
        _ definition: ServiceDefinition, _ components: ServiceComponents, environment: ServiceEnvironment, readiness: Readiness
    ) -> Router<SlipwayRequestContext> {
        let router = platformRouter()
        router.add(middleware: ActorVouchingMiddleware(voucher: environment.config.actorVoucher))
        for middleware in components.middleware { router.add(middleware: middleware) }
        InternalRoutes.addHealth(to: router, readiness: readiness, postgres: environment.postgres, kafkaBrokers: environment.config.kafkaBrokers)
        InternalRoutes.addEventRoutes(to: router, definition: definition, components: components, environment: environment)
        for routes in components.routes { router.addRoutes(routes) }
        InternalRoutes.addDocument(to: router, service: definition.name, routes: RouteInventory(components.routes).routes)
        return router
    }

    /// Every migration the service runs: the event store's, its read model's, each projection's and ingestion's.
    public static func migrationSets(_ definition: ServiceDefinition, _ components: ServiceComponents) -> [MigrationSet] {
        let ingestions = components.ingestions.isEmpty ? [] : [StreamIngestor.migrations] + components.ingestions.map(\.migrationSet)
        return [EventStore.migrations] + [definition.readModel?.migrationSet].compactMap { $0 }
            + components.projections.map(\.projection.migrationSet)
            + ingestions
    }

    /// The consumer group is `<service>.<ingestion>`, so replicas of one service share the partitions.
    public static func makeIngestor(_ ingestion: any StreamIngestion, environment: ServiceEnvironment) -> StreamIngestor {
        let config = environment.config
        var kafka = KafkaConsumerConfiguration(bootstrapServers: config.kafkaBrokers, groupId: "\(config.service).\(ingestion.name)", topics: [])
        kafka.fetchWaitMaxMs = config.fetchWaitMaxMs
        return StreamIngestor(ingestion: ingestion, client: environment.postgres, configuration: .init(kafka: kafka), logger: environment.logger)
    }

    public static func makeProjector(_ subscription: ProjectionSubscription, environment: ServiceEnvironment) -> Projector {
        let config = environment.config
        var kafka = KafkaConsumerConfiguration(
            bootstrapServers: config.kafkaBrokers, groupId: "\(config.service).\(subscription.projection.name)", topics: [])
        kafka.fetchWaitMaxMs = config.fetchWaitMaxMs
        return Projector(
            projection: subscription.projection, sources: projectorSources(subscription, environment: environment),
            client: environment.postgres, configuration: Projector.Configuration(kafka: kafka), logger: environment.logger)
    }

    /// Each source context's topic, and its feed: the service's own store, or the peer's `/internal/events`.
    static func projectorSources(_ subscription: ProjectionSubscription, environment: ServiceEnvironment) -> [Projector.Source] {
        subscription.sources.map { context in
            let service = context.rawValue
            let feed: any EventFeed =
                service == environment.config.service
                ? LocalEventFeed(store: environment.store)
                : HTTPEventFeed(addresses: environment.config.peer(service), httpClient: environment.httpClient)
            return Projector.Source(service: service, topic: context.topic, feed: feed)
        }
    }
}

/// How long each stage of shutdown may take before it is escalated: graceful shutdown of the whole group
/// (each service in turn), then task cancellation. Past both, the process ends with a fatal error rather
/// than hanging on to its port. Together they stay under `slipway up`'s wait before SIGKILL (15 s).
public enum ShutdownBudget {
    public static let graceful: Duration = .seconds(8)
    public static let cancellation: Duration = .seconds(3)
    /// The longest a process takes from SIGTERM to exit.
    public static var total: Duration { graceful + cancellation }

    /// The service group of a process of Slipway's: it stops on SIGTERM or SIGINT, within this budget.
    public static func processGroup(_ services: [ServiceGroupConfiguration.ServiceConfiguration], logger: Logger) -> ServiceGroupConfiguration {
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = graceful
        configuration.maximumCancellationDuration = cancellation
        return configuration
    }
}

public func serviceLogger(_ name: String, level: Logger.Level) -> Logger {
    var logger = Logger(label: "slipway.\(name)")
    logger.logLevel = level
    return logger
}
