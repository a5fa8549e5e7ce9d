import Foundation
import Logging
import PostgresNIO
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayPlatform

/// What `scripts/test` started for this run: a real PostgreSQL cluster and the dev broker.
/// Read from a file (not the environment, which would make SwiftPM re-plan the build).
struct TestEnvironment: Decodable {
    let postgresURL: String
    let kafkaBrokers: String
    let binDirectory: String
    let workDirectory: String

    enum CodingKeys: String, CodingKey {
        case postgresURL = "postgres_url", kafkaBrokers = "kafka_brokers", binDirectory = "bin_directory", workDirectory = "work_directory"
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let shared: TestEnvironment = {
        let file = packageRoot.appendingPathComponent(".slipway-test/env.json")
        guard let data = try? Data(contentsOf: file), let environment = try? JSONDecoder().decode(TestEnvironment.self, from: data) else {
            fatalError("integration tests need \(file.path): run them through `make test` (scripts/test), which starts PostgreSQL and the dev broker")
        }
        return environment
    }()

    static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }

    /// A database of its own for one test, created on the shared cluster.
    func freshDatabase(_ prefix: String) async throws -> DatabaseURL {
        let name = "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        let url = try DatabaseURL(postgresURL, defaultDatabase: name)
        try await url.ensureDatabaseExists(logger: Self.logger)
        return url
    }

    /// Two services' databases for one test, both migrated for counters: a source (event store, inline
    /// read model, relay) and a sink that projects the source's events.
    func withSourceAndSink<T: Sendable>(
        topic: String, _ body: @Sendable (SourceService, PostgresClient, PostgresClient) async throws -> T
    ) async throws -> T {
        let sourceURL = try await freshDatabase("source")
        let sinkURL = try await freshDatabase("sink")
        return try await withPostgres(sourceURL) { sourceClient in
            try await withPostgres(sinkURL) { sinkClient in
                try await migrateCounterStore(sourceClient)
                try await migrateCounterStore(sinkClient)
                return try await body(SourceService(url: sourceURL, client: sourceClient, topic: topic), sourceClient, sinkClient)
            }
        }
    }

    func uniqueTopic(_ prefix: String) -> String { "test.\(prefix).\(UUID().uuidString.prefix(8).lowercased())" }

    var devbrokerPath: String { binDirectory + "/slipway-devbroker" }
}

/// Runs `body` with a PostgreSQL client whose pool is running.
func withPostgres<T: Sendable>(_ url: DatabaseURL, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
    var quiet = TestEnvironment.logger
    quiet.logLevel = .error  // the pool warns when a query races its own start-up: expected here
    let client = PostgresClient(configuration: try url.clientConfiguration(), backgroundLogger: quiet)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

/// Runs long-lived loops (relays, projectors) in the background of `body`; cancels them afterwards.
func withBackground<T: Sendable>(_ loops: [@Sendable () async throws -> Void], _ body: @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for loop in loops {
            // Restarted when it fails, as the service shell's `keepRunning` does: a projector that hits a
            // broker outage mid-fetch dies and comes back in production too.
            group.addTask {
                while !Task.isCancelled {
                    do {
                        try await loop()
                        return
                    } catch is CancellationError {
                        return
                    } catch {
                        if Task.isCancelled { return }
                        TestEnvironment.logger.warning("background loop failed, restarting: \(error)")
                        try? await Task.sleep(for: .milliseconds(200))
                    }
                }
            }
        }
        defer { group.cancelAll() }
        return try await body()
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(30), _ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    struct TimedOut: Error, CustomStringConvertible { let description: String }
    throw TimedOut(description: "timed out waiting for: \(what)")
}

func checkpoint(_ client: PostgresClient, projection: String, source: String) async throws -> Int64 {
    let rows = try await client.query("""
        SELECT position FROM slipway.projection_checkpoints WHERE projection = \(projection) AND source_service = \(source)
        """, logger: TestEnvironment.logger)
    for try await position in rows.decode(Int64.self) { return position }
    return 0
}

func scalar(_ client: PostgresClient, _ sql: String) async throws -> Int64 {
    let rows = try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestEnvironment.logger)
    for try await value in rows.decode(Int64.self) { return value }
    return 0
}

/// The source side of a test: an event store with the counters' inline read model and its relay.
struct SourceService {
    let url: DatabaseURL
    let store: EventStore
    let topic: String

    init(url: DatabaseURL, client: PostgresClient, topic: String, maxAttempts: Int = 4) {
        self.url = url
        self.store = EventStore(service: "source", client: client, logger: TestEnvironment.logger, readModel: CounterTotals(), maxAttempts: maxAttempts)
        self.topic = topic
    }

    func relay(brokers: String, afterPublish: OutboxRelay.PublishedHook? = nil) throws -> OutboxRelay {
        var configuration = OutboxRelay.Configuration(topic: topic, database: try url.connectionConfiguration())
        configuration.batchSize = 100
        configuration.retryDelay = .milliseconds(200)
        let service = store.service
        return OutboxRelay(store: store, configuration: configuration, logger: TestEnvironment.logger, afterPublish: afterPublish) {
            try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientId: "\(service)-relay"), logger: TestEnvironment.logger)
        }
    }

    func create(_ id: String) async throws {
        try await store.execute(Counter.self, aggregateID: id, command: .create(name: id), metadata: CommandMetadata())
    }

    func increment(_ id: String, by amount: Int64 = 1) async throws {
        try await store.execute(Counter.self, aggregateID: id, command: .increment(by: amount), metadata: CommandMetadata())
    }
}

/// The event store and the counters' read model: what both the source and a sink database need.
func migrateCounterStore(_ client: PostgresClient) async throws {
    try await Migrator.migrate([EventStore.migrations, CounterTotals().migrationSet], client: client, logger: TestEnvironment.logger)
}

func makeProjector(client: PostgresClient, service: String, topic: String, feed: any EventFeed, brokers: String, group: String) -> Projector {
    var kafka = KafkaConsumerConfiguration(bootstrapServers: brokers, groupId: group, topics: [], fetchWaitMaxMs: 10)
    kafka.sessionTimeoutMs = 6000
    var configuration = Projector.Configuration(kafka: kafka)
    configuration.catchUpInterval = .seconds(1)
    return Projector(
        projection: CounterTotals(), sources: [Projector.Source(service: service, topic: topic, feed: feed)],
        client: client, configuration: configuration, logger: TestEnvironment.logger)
}
