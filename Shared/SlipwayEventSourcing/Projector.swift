import AsyncAlgorithms
import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import SlipwayContracts
import SlipwayKafka

/// Keeps one projection of other services' events up to date.
///
/// Kafka is the fast path; each source's feed is the truth. The projector tracks, per source service,
/// the last contiguous source position it applied (stored with the read model, in the same transaction).
/// Events that arrive ahead of a hole wait in a small reorder buffer (partitions interleave); a hole
/// that outlives `gapTimeout` — lost, truncated or reset topic — is filled from the source's feed. A quiet
/// source is polled every `catchUpInterval`, so even the last events before a broker loss arrive.
public final class Projector: Service {
    public struct Source: Sendable {
        public var service: String
        public var topic: String
        public var feed: any EventFeed

        public init(service: String, topic: String, feed: any EventFeed) {
            self.service = service
            self.topic = topic
            self.feed = feed
        }
    }

    public struct Configuration: Sendable {
        public var kafka: KafkaConsumerConfiguration
        public var schema: String = "public"
        public var maxBatch: Int = 2000
        public var gapTimeout: Duration = .milliseconds(300)
        public var catchUpInterval: Duration = .seconds(2)
        public var feedPageSize: Int = 2000

        public init(kafka: KafkaConsumerConfiguration) { self.kafka = kafka }
    }

    let projection: any Projection
    let sources: [String: Source]
    let client: PostgresClient
    let configuration: Configuration
    let logger: Logger
    let applied: Counter
    let lag: Gauge

    public init(projection: any Projection, sources: [Source], client: PostgresClient, configuration: Configuration, logger: Logger) {
        self.projection = projection
        self.sources = Dictionary(uniqueKeysWithValues: sources.map { ($0.service, $0) })
        self.client = client
        var configuration = configuration
        configuration.kafka.topics = sources.map(\.topic)
        self.configuration = configuration
        self.logger = logger
        self.applied = Counter(label: "projector.applied", dimensions: [("projection", projection.name)])
        self.lag = Gauge(label: "projector.lag", dimensions: [("projection", projection.name)])
    }

    enum Input: Sendable {
        case batch([KafkaMessage])
        case tick
    }

    /// Per-source progress, owned by the single loop in `run`.
    struct SourceState {
        var checkpoint: Int64
        var buffer: [Int64: EventEnvelope] = [:]
        var gapSince: ContinuousClock.Instant?
        var lastHeard: ContinuousClock.Instant = .now
    }

    public func run() async throws {
        var states: [String: SourceState] = [:]
        for service in sources.keys {
            states[service] = SourceState(checkpoint: try await loadCheckpoint(source: service))
        }
        // Catch up from the feeds before listening: a fresh projection or one restarted after a long stop
        // should not wait for Kafka to redeliver what the feeds already hold.
        for service in sources.keys { await catchUpLogged(service, &states) }

        let consumer = try KafkaConsumer(configuration: configuration.kafka, logger: logger)
        do {
            let batches = consumer.batches(maxCount: configuration.maxBatch).map { Input.batch($0) }
            let ticks = AsyncTimerSequence(interval: .milliseconds(100), clock: ContinuousClock()).map { _ in Input.tick }
            for try await input in merge(batches, ticks).cancelOnGracefulShutdown() {
                switch input {
                case .batch(let messages):
                    try await handle(messages, &states)
                    var lastPerPartition: [String: KafkaMessage] = [:]
                    for message in messages { lastPerPartition["\(message.topic)/\(message.partition)"] = message }
                    for message in lastPerPartition.values { try consumer.storeOffset(message) }
                case .tick:
                    try await tick(&states)
                }
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }

    func handle(_ messages: [KafkaMessage], _ states: inout [String: SourceState]) async throws {
        var touched = Set<String>()
        for message in messages {
            guard let envelope = try? EventEnvelope(serializedBytes: message.value) else {
                logger.warning(
                    "skipping undecodable message", metadata: [LogKey.kafkaTopic: "\(message.topic)", LogKey.kafkaOffset: "\(message.offset)"])
                continue
            }
            // Mutated in place: a copy of the state would copy its whole buffer for every message.
            let service = envelope.sourceService
            guard let checkpoint = states[service]?.checkpoint else { continue }
            states[service]?.lastHeard = .now
            if envelope.sourcePosition > checkpoint {
                states[service]?.buffer[envelope.sourcePosition] = envelope
                touched.insert(service)
            }
        }
        for service in touched { try await drain(service, &states) }
    }

    func tick(_ states: inout [String: SourceState]) async throws {
        for service in sources.keys {
            guard let state = states[service] else { continue }
            if !state.buffer.isEmpty {
                try await drain(service, &states)
            } else if ContinuousClock.now - state.lastHeard >= configuration.catchUpInterval {
                await catchUpLogged(service, &states)
                states[service]?.lastHeard = .now
            }
        }
    }

    /// Applies the contiguous run after the checkpoint; backfills a hole that waited too long.
    func drain(_ service: String, _ states: inout [String: SourceState]) async throws {
        // Taken out of the dictionary and put back, so its buffer is not copied.
        guard var state = states.removeValue(forKey: service) else { return }
        defer { states[service] = state }
        try await applyContiguous(service, &state)
        if let lowest = state.buffer.keys.min() {
            let now = ContinuousClock.now
            let since = state.gapSince ?? now
            state.gapSince = since
            if now - since >= configuration.gapTimeout || state.buffer.count >= configuration.maxBatch * 4 {
                logger.info(
                    "filling a gap from the source feed",
                    metadata: [
                        LogKey.source: "\(service)", LogKey.checkpoint: "\(state.checkpoint)", LogKey.nextBuffered: "\(lowest)",
                    ])
                do {
                    try await backfill(service, &state, through: lowest - 1)
                    try await applyContiguous(service, &state)
                    state.gapSince = state.buffer.isEmpty ? nil : now
                } catch {
                    // The source may be restarting: keep the buffer and try again on a later tick.
                    logger.warning("backfill failed; will retry", metadata: [LogKey.source: "\(service)", LogKey.error: "\(error)"])
                }
            }
        } else {
            state.gapSince = nil
        }
    }

    private func applyContiguous(_ service: String, _ state: inout SourceState) async throws {
        var run: [EventEnvelope] = []
        var next = state.checkpoint + 1
        while let envelope = state.buffer.removeValue(forKey: next) {
            run.append(envelope)
            next += 1
        }
        if !run.isEmpty { state.checkpoint = try await apply(run, source: service) }
        state.buffer = state.buffer.filter { $0.key > state.checkpoint }
    }

    private func backfill(_ service: String, _ state: inout SourceState, through target: Int64) async throws {
        guard let source = sources[service] else { return }
        while state.checkpoint < target {
            let page = try await source.feed.events(after: state.checkpoint, limit: min(configuration.feedPageSize, Int(target - state.checkpoint)))
            if page.isEmpty { break }
            state.checkpoint = try await apply(page, source: service)
        }
    }

    /// A source whose feed is unreachable (restarting, not started yet) is retried on a later tick.
    func catchUpLogged(_ service: String, _ states: inout [String: SourceState]) async {
        do {
            try await catchUp(service, &states)
        } catch {
            logger.warning("catch-up from the source feed failed; will retry", metadata: [LogKey.source: "\(service)", LogKey.error: "\(error)"])
        }
    }

    func catchUp(_ service: String, _ states: inout [String: SourceState]) async throws {
        guard let source = sources[service], var state = states.removeValue(forKey: service) else { return }
        defer { states[service] = state }
        while true {
            let page = try await source.feed.events(after: state.checkpoint, limit: configuration.feedPageSize)
            if page.isEmpty { break }
            state.checkpoint = try await apply(page, source: service)
            if page.count < configuration.feedPageSize { break }
        }
        state.buffer = state.buffer.filter { $0.key > state.checkpoint }
    }

    /// Applies events (contiguous, ascending) and advances the checkpoint in one transaction. Another
    /// replica may have moved the checkpoint already: what it applied is skipped. Returns the checkpoint.
    func apply(_ events: [EventEnvelope], source: String) async throws -> Int64 {
        let projection = self.projection
        let name = projection.name
        let schema = configuration.schema
        let logger = self.logger
        let checkpoint: Int64 = try await client.withTransaction(logger: logger) { connection in
            // Locking the row (made by `loadCheckpoint`) serializes replicas applying the same source.
            let rows = try await connection.query(
                """
                SELECT position FROM slipway.projection_checkpoints WHERE projection = \(name) AND source_service = \(source) FOR UPDATE
                """, logger: logger)
            var current: Int64 = 0
            for try await position in rows.decode(Int64.self) { current = position }
            var fresh: [EventEnvelope] = []
            var expected = current + 1
            for event in events where event.sourcePosition >= expected {
                guard event.sourcePosition == expected else { break }
                fresh.append(event)
                expected += 1
            }
            guard let last = fresh.last else { return current }
            // Pooled connections resolve unqualified names in `public`; another schema is set for this transaction.
            if schema != "public" {
                try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(quoteIdentifier(schema))"), logger: logger)
            }
            try await projection.apply(envelopes: fresh, on: connection, logger: logger)
            try await connection.query(
                """
                INSERT INTO slipway.projection_checkpoints (projection, source_service, position) VALUES (\(name), \(source), \(last.sourcePosition))
                ON CONFLICT (projection, source_service) DO UPDATE SET position = EXCLUDED.position, updated_at = now()
                """, logger: logger)
            return last.sourcePosition
        }
        if let last = events.last {
            applied.increment(by: events.count)
            lag.record(Date().timeIntervalSince(last.occurredDate))
        }
        return checkpoint
    }

    /// The checkpoint of `source`, its row created at 0 the first time.
    func loadCheckpoint(source: String) async throws -> Int64 {
        try await client.query(
            """
            INSERT INTO slipway.projection_checkpoints (projection, source_service) VALUES (\(projection.name), \(source))
            ON CONFLICT DO NOTHING
            """, logger: logger)
        let rows = try await client.query(
            """
            SELECT position FROM slipway.projection_checkpoints WHERE projection = \(projection.name) AND source_service = \(source)
            """, logger: logger)
        for try await position in rows.decode(Int64.self) { return position }
        return 0
    }
}
