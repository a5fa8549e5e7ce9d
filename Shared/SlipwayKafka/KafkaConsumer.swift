import CRdKafka
import Dispatch
import Foundation
import Logging
import Synchronization

/// A consumer-group member. A dedicated thread runs `rd_kafka_consumer_poll` (which also
/// serves rebalance and error callbacks) and fills a bounded buffer that `batches(maxCount:)`
/// drains. See `KafkaConsumerConfiguration` for the offset commit mode.
public final class KafkaConsumer: Sendable {
    private let client: RdKafkaClient
    private let core: ConsumerCore
    private let pollThread: DedicatedThread
    private let blockingQueue: DispatchQueue
    private let logger: Logger
    private let isClosed = Atomic<Bool>(false)

    /// Rebalances, offset resets and jumps, errors. Iterate it from one task only.
    public let events: AsyncStream<KafkaConsumerEvent>

    public init(configuration: KafkaConsumerConfiguration, logger: Logger) throws {
        guard !configuration.topics.isEmpty else { throw KafkaError.client("a consumer needs at least one topic") }
        let (events, eventContinuation) = AsyncStream.makeStream(
            of: KafkaConsumerEvent.self, bufferingPolicy: .bufferingNewest(1024))
        let core = ConsumerCore(
            maxBuffered: max(1, configuration.maxBufferedMessages), events: eventContinuation, logger: logger)
        let client = try RdKafkaClient(
            kind: .consumer, settings: configuration.librdkafkaSettings, logger: logger
        ) { conf in
            rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, _ in
                guard let rk, let handler = RdKafkaContext.from(rk)?.handler else { return }
                handler.rebalance(rk, err, partitions)
            }
        }
        client.context.handler = core
        rd_kafka_poll_set_consumer(client.handle)

        let list = rd_kafka_topic_partition_list_new(Int32(configuration.topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in configuration.topics {
            rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
        }
        let err = rd_kafka_subscribe(client.handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "subscribe") }

        self.client = client
        self.core = core
        self.events = events
        self.logger = logger
        self.blockingQueue = DispatchQueue(label: "slipway.kafka.consumer.blocking")
        self.pollThread = DedicatedThread(name: "kafka-consumer-poll") { thread in
            core.pollLoop(client: client, thread: thread)
        }
        logger.info(
            "kafka consumer started",
            metadata: [LogKey.kafkaGroup: "\(configuration.groupId)", LogKey.kafkaTopics: "\(configuration.topics)"])
    }

    deinit {
        pollThread.requestStop()
        core.finish(throwing: nil)
    }

    /// Batches of messages in partition order: each element holds whatever is buffered
    /// (at least one message), at most `maxCount`. Iterate from one task at a time. Ends
    /// after `close()`; throws on a fatal client error or when the iterating task is cancelled.
    public func batches(maxCount: Int) -> KafkaMessageBatches {
        KafkaMessageBatches(core: core, maxCount: max(1, maxCount))
    }

    /// Messages fetched but not yet handed out by `batches` (at most about
    /// `maxBufferedMessages` + 512: the poll thread checks the bound between poll rounds).
    public var bufferedMessageCount: Int { core.bufferedCount }

    /// Marks `message` as processed: offset + 1 is committed by the next (auto) commit.
    public func storeOffset(_ message: KafkaMessage) throws {
        try storeOffsets([message])
    }

    /// Stores the highest offset + 1 per partition among `messages`.
    public func storeOffsets(_ messages: [KafkaMessage]) throws {
        var highest: [KafkaTopicPartition: Int64] = [:]
        for message in messages {
            let tp = KafkaTopicPartition(topic: message.topic, partition: message.partition)
            highest[tp] = max(highest[tp] ?? -1, message.offset)
        }
        guard !highest.isEmpty else { return }
        let list = rd_kafka_topic_partition_list_new(Int32(highest.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (tp, offset) in highest {
            rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition).pointee.offset = offset + 1
        }
        let err = rd_kafka_offsets_store(client.handle, list)
        if let failure = firstPartitionError(list) { throw failure }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "store offsets") }
    }

    /// Synchronously commits the stored offsets (runs on a dedicated queue).
    public func commit() async throws {
        let client = self.client
        let err = try await runBlocking(on: blockingQueue) {
            rd_kafka_commit(client.handle, nil, 0)
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw KafkaError(err, "commit")
        }
    }

    /// Moves the fetch position of an assigned partition (or of one assigned later, if it is
    /// not assigned yet). Buffered messages of that partition are dropped; messages already
    /// returned by `batches` are not affected. Takes effect within one poll interval.
    public func seek(topic: String, partition: Int32, offset: Int64) throws {
        guard offset >= 0 || offset == Int64(RD_KAFKA_OFFSET_BEGINNING) || offset == Int64(RD_KAFKA_OFFSET_END) else {
            throw KafkaError.client("invalid seek offset \(offset)")
        }
        core.requestSeek(.partition(KafkaTopicPartition(topic: topic, partition: partition), offset))
    }

    /// Replays `topic` from the beginning on every partition assigned now or later
    /// (until the next rebalance after this call).
    public func seekToBeginning(topic: String) throws {
        core.requestSeek(.topicToBeginning(topic))
    }

    /// The id of the cluster the client is connected to, from its cached metadata (nil before the first
    /// metadata answer). Offsets mean something only within one cluster: the dev broker restarts empty.
    public var clusterID: String? {
        guard let id = rd_kafka_clusterid(client.handle, 0) else { return nil }
        defer { rd_kafka_mem_free(client.handle, id) }
        return String(cString: id)
    }

    /// Partitions currently assigned to this consumer.
    public func assignment() throws -> [KafkaTopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        let err = rd_kafka_assignment(client.handle, &list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { throw KafkaError(err, "assignment") }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return topicPartitions(list)
    }

    /// Stops the poll thread, commits stored offsets and leaves the group
    /// (`rd_kafka_consumer_close`), then ends `batches` and `events`. Idempotent.
    public func close() async {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        await pollThread.stopAndWait()
        let client = self.client
        let err = try? await runBlocking(on: blockingQueue) {
            rd_kafka_consumer_close(client.handle)
        }
        if let err, err != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("kafka consumer close failed", metadata: [LogKey.error: "\(KafkaError(err, "close"))"])
        }
        core.finish(throwing: nil)
        logger.info("kafka consumer closed")
    }
}

func topicPartitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [KafkaTopicPartition] {
    (0..<Int(list.pointee.cnt)).map { i in
        let element = list.pointee.elems[i]
        return KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)
    }
}

func firstPartitionError(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> KafkaError? {
    for i in 0..<Int(list.pointee.cnt) {
        let element = list.pointee.elems[i]
        if element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            return KafkaError(element.err, "\(String(cString: element.topic))[\(element.partition)]")
        }
    }
    return nil
}

/// The `AsyncSequence` returned by `KafkaConsumer.batches(maxCount:)`.
public struct KafkaMessageBatches: AsyncSequence, Sendable {
    public typealias Element = [KafkaMessage]
    public typealias Failure = any Error

    let core: ConsumerCore
    let maxCount: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let core: ConsumerCore
        let maxCount: Int

        public mutating func next() async throws -> [KafkaMessage]? {
            try await core.next(maxCount: maxCount)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(core: core, maxCount: maxCount)
    }
}
