import Foundation
import Logging
import PostgresNIO
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayPlatform
import SlipwayTestSupport

/// The kit's tests use the test kit's infrastructure under the name they grew up with.
typealias TestEnvironment = TestInfrastructure

extension TestInfrastructure {
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

    var devbrokerPath: String { binDirectory + "/slipway-devbroker" }
}

/// Runs long-running loops (relays, projectors) beside `body`; cancelled when it returns.
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

func checkpoint(_ client: PostgresClient, projection: String, source: String) async throws -> Int64 {
    let rows = try await client.query(
        """
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
        self.store = EventStore(
            service: "source", client: client, logger: TestEnvironment.logger, readModel: CounterTotals(), maxAttempts: maxAttempts)
        self.topic = topic
    }

    func relay(brokers: String, idlePoll: Duration? = nil, afterPublish: OutboxRelay.PublishedHook? = nil) throws -> OutboxRelay {
        var configuration = OutboxRelay.Configuration(topic: topic, database: try url.connectionConfiguration())
        configuration.batchSize = 100
        if let idlePoll { configuration.idlePoll = idlePoll }
        configuration.retryDelay = .milliseconds(200)
        let service = store.service
        return OutboxRelay(store: store, configuration: configuration, logger: TestEnvironment.logger, afterPublish: afterPublish) {
            try KafkaProducer(
                configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientId: "\(service)-relay"), logger: TestEnvironment.logger)
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
