import Foundation
import Logging
import Metrics
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayKafka

/// The metrics aggregation consumer: folds serving-router's request log (`slipway.serving.requests`) into
/// per-minute and per-hour rollups. Exactly-once comes from `StreamIngestor` (offsets stored with the rows).
public struct ServingRollupIngestion: StreamIngestion {
    public let name = "serving-rollups"
    public let topics: [String]
    public var migrations: [Migration] { ServingRollupStore.migrations }
    let undecodable = Counter(label: "metrics.serving_rollups.undecodable")

    /// Another topic than the router's only for tests and benchmarks that need a stream of their own.
    public init(topics: [String] = [EventContext.serving.topic]) {
        self.topics = topics
    }

    public func ingest(_ messages: [KafkaMessage], on connection: PostgresConnection, logger: Logger) async throws {
        var accumulator = RollupAccumulator()
        var skipped = 0
        for message in messages {
            do {
                accumulator.add(try EventEnvelope(serializedBytes: message.value).decode(as: ServingEvent.self))
            } catch {
                // A message this version cannot read (garbage, or a newer producer's event) must not stop the stream.
                skipped += 1
            }
        }
        if skipped > 0 {
            undecodable.increment(by: skipped)
            logger.warning("skipped request-log messages that could not be read", metadata: [LogKey.count: "\(skipped)"])
        }
        try await ServingRollupStore.merge(accumulator.cells, on: connection, logger: logger)
        try await ServingRollupStore.merge(accumulator.samples, on: connection, logger: logger)
    }
}
