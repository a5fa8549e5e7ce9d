import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayPlatform

/// The other side of `slipway bench events`: a projection in its own process, with its own database
/// and consumer group, exactly as another service would run it.
struct BenchSinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sink", abstract: "Internal: the projection process of `slipway bench events`.", shouldDisplay: false)

    @Option(help: "PostgreSQL URL of the sink's own database.") var databaseURL: String
    @Option(help: "Kafka bootstrap servers.") var kafkaBrokers: String
    @Option(help: "Base URL of the source's event feed (for backfill).") var feedURL: String
    @Option(help: "Topic the source publishes to.") var topic: String
    @Option(help: "The source service's name in the envelopes.") var source: String = "bench"
    @Option(help: "File created once the sink is subscribed.") var readyFile: String
    @Option(help: "fetch.wait.max.ms for the consumer.") var fetchWaitMaxMs: Int = 10

    func run() async throws {
        Observability.bootstrap(level: .warning)
        let logger = serviceLogger("bench-sink", level: .warning)
        let url = try DatabaseURL(databaseURL, defaultDatabase: "bench_sink")
        try await url.ensureDatabaseExists(logger: logger)
        let client = PostgresClient(configuration: try url.clientConfiguration(), backgroundLogger: logger)
        var kafka = KafkaConsumerConfiguration(
            bootstrapServers: kafkaBrokers, groupId: "bench-sink.\(topic)", topics: [], fetchWaitMaxMs: fetchWaitMaxMs)
        kafka.sessionTimeoutMs = 6000
        var configuration = Projector.Configuration(kafka: kafka)
        configuration.catchUpInterval = .seconds(1)
        let projector = Projector(
            projection: LatencyRecordingLedger(),
            sources: [Projector.Source(service: source, topic: topic, feed: HTTPEventFeed(baseURL: feedURL))],
            client: client, configuration: configuration, logger: logger)
        let sink = SinkService(client: client, projector: projector, readyFile: readyFile, logger: logger)
        try await ServiceGroup(configuration: ShutdownBudget.processGroup([.init(service: client), .init(service: sink)], logger: logger)).run()
    }
}

private struct SinkService: Service {
    let client: PostgresClient
    let projector: Projector
    let readyFile: String
    let logger: Logger

    func run() async throws {
        try await Migrator.migrate([EventStore.migrations, LatencyRecordingLedger().migrationSet], client: client, logger: logger)
        FileManager.default.createFile(atPath: readyFile, contents: Data("ready\n".utf8))
        try await projector.run()
    }
}
