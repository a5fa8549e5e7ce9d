import AsyncAlgorithms
import Foundation
import Logging
import ServiceLifecycle
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayPlatform
import Synchronization

/// The platform's events as they happen, for `GET /api/events/stream`: one Kafka consumer per gateway process reads
/// every context's topic from its end (its own consumer group, so every replica sees every event) and hands each
/// event to the open streams whose filter takes it. A stream that cannot keep up loses its oldest events, never
/// holds the others up. Not a replay: what happened before a stream opened is in `slipway events`.
public final class LiveEvents: Service, Sendable {
    public enum Item: Sendable {
        case event(EventView)
        /// Sent every `heartbeat` so proxies and clients see a live connection while nothing happens.
        case heartbeat
    }

    public struct Filter: Sendable {
        /// Source services (contexts) to show; nil for all.
        public var contexts: Set<String>?
        public var aggregateID: String?

        public init(contexts: Set<String>? = nil, aggregateID: String? = nil) {
            self.contexts = contexts
            self.aggregateID = aggregateID
        }

        func accepts(_ event: EventView) -> Bool {
            (contexts?.contains(event.sourceService) ?? true) && (aggregateID.map { $0 == event.aggregateId } ?? true)
        }
    }

    struct Subscriber {
        let filter: Filter
        let continuation: AsyncStream<Item>.Continuation
    }

    /// The event topics (not serving-router's request log, which is traffic, not changes).
    public static let topics = EventContext.allCases.filter { $0 != .serving }.map(\.topic)

    let brokers: String
    let fetchWaitMaxMs: Int
    let heartbeat: Duration
    let logger: Logger
    private let subscribers = Mutex<[UUID: Subscriber]>([:])

    public init(brokers: String, fetchWaitMaxMs: Int, heartbeat: Duration = .seconds(15), logger: Logger) {
        self.brokers = brokers
        self.fetchWaitMaxMs = fetchWaitMaxMs
        self.heartbeat = heartbeat
        self.logger = logger
    }

    /// A stream of the events `filter` takes, until `unsubscribe(id)` or shutdown.
    public func subscribe(_ filter: Filter) -> (id: UUID, items: AsyncStream<Item>) {
        let (items, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(1000))
        let id = UUID()
        subscribers.withLock { $0[id] = Subscriber(filter: filter, continuation: continuation) }
        return (id, items)
    }

    public func unsubscribe(_ id: UUID) {
        subscribers.withLock { $0.removeValue(forKey: id) }?.continuation.finish()
    }

    public func run() async throws {
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: brokers, groupId: "gateway.live.\(UUID().uuidString.lowercased())", topics: Self.topics, autoOffsetReset: "latest")
        configuration.fetchWaitMaxMs = fetchWaitMaxMs
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        do {
            // Whichever ends first ends both: graceful shutdown ends them together; a consumer error is thrown, and the
            // worker is restarted with the streams still open.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in AsyncTimerSequence(interval: self.heartbeat, clock: .continuous).cancelOnGracefulShutdown() {
                        self.publish(.heartbeat) { _ in true }
                    }
                }
                group.addTask {
                    for try await batch in consumer.batches(maxCount: 500).cancelOnGracefulShutdown() {
                        for message in batch {
                            guard let envelope = try? EventEnvelope(serializedBytes: message.value) else { continue }
                            let event = EventView(envelope)
                            self.publish(.event(event)) { $0.accepts(event) }
                        }
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
        // Open streams end with the process.
        for subscriber in subscribers.withLock({ Array($0.values) }) { subscriber.continuation.finish() }
    }

    private func publish(_ item: Item, to accepts: (Filter) -> Bool) {
        for subscriber in subscribers.withLock({ Array($0.values) }) where accepts(subscriber.filter) {
            subscriber.continuation.yield(item)
        }
    }
}
