import Foundation
import PostgresNIO
import SlipwayContracts
import SlipwayKafka
import SlipwayTestSupport
import Testing

@testable import SlipwayEventSourcing

/// The outbox relay and a projection in another service (its own database and consumer group),
/// over the dev broker started by `scripts/test`.
@Suite("Outbox relay and projections over Kafka", .serialized, .timeLimit(.minutes(3)))
struct RelayAndProjectorTests {
    let environment = TestEnvironment.shared

    struct SimulatedCrash: Error {}

    @Test("relay killed between publish and mark-sent, then restarted: all events arrive, each applied once")
    func relayCrashThenRestart() async throws {
        let topic = environment.uniqueTopic("relaycrash")
        let brokers = environment.kafkaBrokers
        try await environment.withSourceAndSink(topic: topic) { source, sourceClient, sinkClient in
            for index in 0..<5 { try await source.create("c\(index)") }
            for index in 0..<45 { try await source.increment("c\(index % 5)", by: Int64(index + 1)) }

            // First relay: publishes a batch, then "dies" before marking it sent.
            let crashing = try source.relay(brokers: brokers) { _ in throw SimulatedCrash() }
            await #expect(throws: SimulatedCrash.self) { try await crashing.run() }
            #expect(try await scalar(sourceClient, "SELECT count(*) FROM slipway.outbox") == 50)
            #expect(try await scalar(sourceClient, "SELECT count(*) FROM slipway.events WHERE source_position IS NOT NULL") > 0)

            // Restarted relay and the other service's projection.
            let relay = try source.relay(brokers: brokers)
            let projector = makeProjector(
                client: sinkClient, service: "source", topic: topic, feed: EmptyFeed(), brokers: brokers, group: "sink.\(topic)")
            try await withBackground([{ try await relay.run() }, { try await projector.run() }]) {
                try await eventually("sink applied all 50 events") {
                    try await checkpoint(sinkClient, projection: "counter_totals", source: "source") == 50
                }
                try await eventually("outbox drained") { try await scalar(sourceClient, "SELECT count(*) FROM slipway.outbox") == 0 }
            }
            let expected = try await counterRows(sourceClient, logger: TestEnvironment.logger)
            let projected = try await counterRows(sinkClient, logger: TestEnvironment.logger)
            #expect(projected == expected)
            #expect(projected.map(\.events).reduce(0, +) == 50)

            // Kafka holds the first batch twice (at least once), positions 1...50 all present.
            let positions = try await readAllPositions(topic: topic, brokers: brokers, atLeast: 100)
            #expect(positions.count >= 100)
            #expect(Set(positions) == Set(1...50))
        }
    }

    @Test("a commit by another process on the database wakes the relay at once: PostgreSQL notifies it, no polling")
    func anotherProcessesCommitWakesTheRelay() async throws {
        let topic = environment.uniqueTopic("notify")
        try await environment.withSourceAndSink(topic: topic) { source, sourceClient, _ in
            // The relay would sleep a minute between polls: only the notification can wake it within the 20 s below.
            let relay = try source.relay(brokers: environment.kafkaBrokers, idlePoll: .seconds(60))
            // A replica's event store on the same database: its commits signal nothing in the relay's process.
            let replica = SourceService(url: source.url, client: sourceClient, topic: topic)
            try await withBackground([{ try await relay.run() }]) {
                try await source.create("here")
                try await eventually("the relay published this process's commit") {
                    try await scalar(sourceClient, "SELECT count(*) FROM slipway.outbox") == 0
                }
                try await Task.sleep(for: .milliseconds(300))  // the relay is waiting now
                for index in 0..<3 {
                    try await replica.create("there-\(index)")
                    try await eventually(timeout: .seconds(20), "the relay published the replica's commit") {
                        try await scalar(sourceClient, "SELECT count(*) FROM slipway.outbox") == 0
                    }
                }
            }
        }
    }

    @Test("projector restarted: it resumes from its checkpoint, nothing skipped or applied twice")
    func projectorRestart() async throws {
        let topic = environment.uniqueTopic("restart")
        let brokers = environment.kafkaBrokers
        try await environment.withSourceAndSink(topic: topic) { source, sourceClient, sinkClient in
            let relay = try source.relay(brokers: brokers)
            let feed = CountingFeed(LocalEventFeed(store: source.store))
            try await withBackground([{ try await relay.run() }]) {
                try await source.create("a")
                let first = makeProjector(client: sinkClient, service: "source", topic: topic, feed: feed, brokers: brokers, group: "sink.\(topic)")
                try await withBackground([{ try await first.run() }]) {
                    for _ in 0..<29 { try await source.increment("a") }
                    try await eventually("first 30 applied") {
                        try await checkpoint(sinkClient, projection: "counter_totals", source: "source") == 30
                    }
                }
                for _ in 0..<30 { try await source.increment("a") }
                let second = makeProjector(client: sinkClient, service: "source", topic: topic, feed: feed, brokers: brokers, group: "sink.\(topic)")
                try await withBackground([{ try await second.run() }]) {
                    try await eventually("all 60 applied") { try await checkpoint(sinkClient, projection: "counter_totals", source: "source") == 60 }
                }
            }
            let row = try await counterRows(sinkClient, logger: TestEnvironment.logger).first
            #expect(row == CounterRow(id: "a", name: "a", total: 59, events: 60, version: 60))
        }
    }

    @Test("events arriving out of order across partitions wait for the hole instead of skipping it")
    func reorderAcrossPartitions() async throws {
        let sinkURL = try await environment.freshDatabase("sink")
        try await withPostgres(sinkURL) { sinkClient in
            try await migrateCounterStore(sinkClient)
            let envelopes = try (1...4).map { position -> EventEnvelope in
                var envelope = EventEnvelope()
                envelope.sourceService = "source"
                envelope.sourcePosition = Int64(position)
                envelope.aggregateType = Counter.aggregateType
                envelope.aggregateID = "a"
                envelope.aggregateVersion = Int64(position)
                let event: Counter.Event = position == 1 ? .created(name: "a") : .incremented(by: Int64(position))
                envelope.eventType = event.eventType
                envelope.payload = Data(try event.encodePayload())
                return envelope
            }
            let projector = makeProjector(
                client: sinkClient, service: "source", topic: "unused", feed: StaticFeed(events: envelopes), brokers: environment.kafkaBrokers,
                group: "unused")
            var states = ["source": Projector.SourceState(checkpoint: 0)]
            // 3 and 4 arrive first: held back.
            try await projector.handle([message(envelopes[2]), message(envelopes[3])], &states)
            #expect(try await checkpoint(sinkClient, projection: "counter_totals", source: "source") == 0)
            // 1 and 2 arrive: the whole run applies in order.
            try await projector.handle([message(envelopes[0]), message(envelopes[1])], &states)
            #expect(try await checkpoint(sinkClient, projection: "counter_totals", source: "source") == 4)
            // A duplicate changes nothing.
            try await projector.handle([message(envelopes[1])], &states)
            #expect(try await counterRows(sinkClient, logger: TestEnvironment.logger).first?.total == 9)
        }
    }

    func message(_ envelope: EventEnvelope) throws -> KafkaMessage {
        KafkaMessage(
            topic: "t", partition: 0, offset: envelope.sourcePosition, key: nil, value: try envelope.serializedBytes(), headers: [], timestamp: nil)
    }
}

/// Reads a topic from the beginning with a fresh group and returns the source positions seen.
func readAllPositions(topic: String, brokers: String, atLeast count: Int) async throws -> [Int64] {
    let consumer = try KafkaConsumer(
        configuration: KafkaConsumerConfiguration(
            bootstrapServers: brokers, groupId: "reader.\(UUID().uuidString)", topics: [topic], fetchWaitMaxMs: 10),
        logger: TestEnvironment.logger)
    var positions: [Int64] = []
    let deadline = ContinuousClock.now + .seconds(20)
    for try await batch in consumer.batches(maxCount: 500) {
        for message in batch { positions.append(try EventEnvelope(serializedBytes: message.value).sourcePosition) }
        if positions.count >= count || ContinuousClock.now > deadline { break }
    }
    await consumer.close()
    return positions
}

/// A feed with nothing in it: the relay test proves delivery through Kafka alone.
struct EmptyFeed: EventFeed {
    func events(after position: Int64, limit: Int) async throws -> [EventEnvelope] { [] }
}

struct StaticFeed: EventFeed {
    let events: [EventEnvelope]
    func events(after position: Int64, limit: Int) async throws -> [EventEnvelope] {
        Array(events.filter { $0.sourcePosition > position }.prefix(limit))
    }
}

final class CountingFeed: EventFeed, @unchecked Sendable {
    let base: any EventFeed
    private let lock = NSLock()
    private var _served = 0
    init(_ base: any EventFeed) { self.base = base }
    var served: Int { lock.withLock { _served } }
    func events(after position: Int64, limit: Int) async throws -> [EventEnvelope] {
        let page = try await base.events(after: position, limit: limit)
        lock.withLock { _served += page.count }
        return page
    }
}
