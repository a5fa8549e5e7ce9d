import AsyncAlgorithms
import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import SlipwayKafka
import Synchronization

/// A read model of a stream that has no event store behind it (serving-router's request log): the Kafka
/// messages are the only record, so there is no feed to backfill from and positions are Kafka offsets.
/// `ingest` runs inside the transaction that also stores the next offset of every partition it saw.
public protocol StreamIngestion: Sendable {
    /// Names the consumer group (`<service>.<name>`) and the offset rows.
    var name: String { get }
    var topics: [String] { get }
    var migrations: [Migration] { get }
    /// Messages not ingested before, in partition order.
    func ingest(_ messages: [KafkaMessage], on connection: PostgresConnection, logger: Logger) async throws
}

/// The broker did not say which cluster it is within 5 s (the ingestor is restarted by the service group).
struct UnknownCluster: Error, CustomStringConvertible {
    var description: String { "the broker's cluster id is unknown: offsets cannot be stored safely" }
}

extension StreamIngestion {
    public var migrationSet: MigrationSet { MigrationSet(component: "stream.\(name)", migrations: migrations) }
}

/// Keeps a `StreamIngestion` up to date with exactly-once effect. Offsets are stored in PostgreSQL in the
/// same transaction as what the batch changed; a message at or below a stored offset (a redelivery after a
/// crash, a rebalance, a replica that got there first) is skipped, so nothing is counted twice. Kafka's own
/// committed offset follows the database's and only decides where fetching resumes.
///
/// Offsets are kept per cluster id: the dev broker restarts empty and numbers its log from zero again,
/// which must not look like a redelivery of the old log.
public final class StreamIngestor: Service {
    public struct Configuration: Sendable {
        public var kafka: KafkaConsumerConfiguration
        public var maxBatch: Int = 10_000

        public init(kafka: KafkaConsumerConfiguration) { self.kafka = kafka }
    }

    /// The offsets table, one per service database (in the kit's schema, beside the projection checkpoints).
    public static let migrations = MigrationSet(
        component: "stream-ingestor",
        migrations: [
            Migration(
                1, "stream offsets",
                [
                    """
                    CREATE TABLE IF NOT EXISTS slipway.stream_offsets (
                        ingestion text NOT NULL,
                        cluster_id text NOT NULL,
                        topic text NOT NULL,
                        partition integer NOT NULL,
                        next_offset bigint NOT NULL,
                        updated_at timestamptz NOT NULL DEFAULT now(),
                        PRIMARY KEY (ingestion, cluster_id, topic, partition))
                    """
                ])
        ])

    let ingestion: any StreamIngestion
    let client: PostgresClient
    let configuration: Configuration
    let logger: Logger
    let ingested: Counter
    let skipped: Counter
    let lost: Counter
    private let seen = Atomic<Int>(0)

    /// Messages handled since start, new or redelivered (progress for tests and benchmarks).
    public var messagesSeen: Int { seen.load(ordering: .relaxed) }

    public init(ingestion: any StreamIngestion, client: PostgresClient, configuration: Configuration, logger: Logger) {
        self.ingestion = ingestion
        self.client = client
        var configuration = configuration
        configuration.kafka.topics = ingestion.topics
        self.configuration = configuration
        self.logger = logger
        self.ingested = Counter(label: "stream_ingestor.ingested", dimensions: [("ingestion", ingestion.name)])
        self.skipped = Counter(label: "stream_ingestor.redelivered_skipped", dimensions: [("ingestion", ingestion.name)])
        self.lost = Counter(label: "stream_ingestor.lost", dimensions: [("ingestion", ingestion.name)])
    }

    enum Input: Sendable {
        case batch([KafkaMessage])
        case event(KafkaConsumerEvent)
    }

    public func run() async throws {
        let consumer = try KafkaConsumer(configuration: configuration.kafka, logger: logger)
        do {
            let batches = consumer.batches(maxCount: configuration.maxBatch).map { Input.batch($0) }
            let events = consumer.events.map { Input.event($0) }
            for try await input in merge(batches, events).cancelOnGracefulShutdown() {
                switch input {
                case .batch(let messages):
                    try await apply(messages, cluster: try await clusterID(of: consumer))
                    try consumer.storeOffsets(messages)
                case .event(.offsetJump(let partition, let expected, let actual)):
                    // Retention (the dev broker keeps ~5 MiB per partition) removed messages before they were read.
                    lost.increment(by: Int(max(0, actual - expected)))
                    logger.warning(
                        "messages were lost before they were ingested",
                        metadata: [
                            LogKey.ingestion: "\(ingestion.name)", LogKey.kafkaPartition: "\(partition)", LogKey.count: "\(actual - expected)",
                        ])
                case .event(.clusterChanged(_, let current)):
                    logger.info("the broker is a new cluster: ingesting its log from the start", metadata: [LogKey.kafkaCluster: "\(current)"])
                case .event:
                    break
                }
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }

    /// The cluster the messages came from. Known once the client has metadata, which it has before the first
    /// message; waiting a little covers a slow broker, and guessing is never an option (offsets stored under the
    /// wrong cluster would be skipped or counted twice).
    func clusterID(of consumer: KafkaConsumer) async throws -> String {
        for _ in 0..<50 {
            if let id = consumer.clusterID { return id }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw UnknownCluster()
    }

    /// Applies the messages not yet ingested and stores the next offset of each partition, in one transaction.
    public func apply(_ messages: [KafkaMessage], cluster: String) async throws {
        guard !messages.isEmpty else { return }
        let name = ingestion.name
        let ingestion = self.ingestion
        let logger = self.logger
        let (fresh, redelivered) = try await client.withTransaction(logger: logger) { connection -> (Int, Int) in
            // Locking the rows serializes replicas that briefly own the same partition during a rebalance.
            let rows = try await connection.query(
                """
                SELECT topic, partition, next_offset FROM slipway.stream_offsets
                WHERE ingestion = \(name) AND cluster_id = \(cluster) FOR UPDATE
                """, logger: logger)
            var next: [KafkaTopicPartition: Int64] = [:]
            for try await (topic, partition, offset) in rows.decode((String, Int32, Int64).self) {
                next[KafkaTopicPartition(topic: topic, partition: partition)] = offset
            }
            var fresh: [KafkaMessage] = []
            fresh.reserveCapacity(messages.count)
            var highest: [KafkaTopicPartition: Int64] = [:]
            for message in messages {
                let partition = KafkaTopicPartition(topic: message.topic, partition: message.partition)
                guard message.offset >= next[partition] ?? 0 else { continue }
                fresh.append(message)
                highest[partition] = max(highest[partition] ?? -1, message.offset)
            }
            guard !fresh.isEmpty else { return (0, messages.count) }
            try await ingestion.ingest(fresh, on: connection, logger: logger)
            for (partition, offset) in highest {
                try await connection.query(
                    """
                    INSERT INTO slipway.stream_offsets (ingestion, cluster_id, topic, partition, next_offset)
                    VALUES (\(name), \(cluster), \(partition.topic), \(partition.partition), \(offset + 1))
                    ON CONFLICT (ingestion, cluster_id, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()
                    """, logger: logger)
            }
            return (fresh.count, messages.count - fresh.count)
        }
        ingested.increment(by: fresh)
        if redelivered > 0 { skipped.increment(by: redelivered) }
        seen.add(messages.count, ordering: .relaxed)
    }
}
