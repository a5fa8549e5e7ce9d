import CRdKafka
import Foundation
import Logging

enum SeekRequest: Sendable {
    case partition(KafkaTopicPartition, Int64)
    case topicToBeginning(String)
}

/// The state a consumer's poll thread shares with the tasks that read from it.
///
/// Everything under `condition` may be touched from any thread; `lastOffsets` and the
/// deferred seeks belong to whichever thread serves librdkafka callbacks (the poll thread,
/// or the closing queue after the poll thread has stopped — never both at once).
final class ConsumerCore: RdKafkaCallbackHandler, @unchecked Sendable {
    typealias Waiter = (continuation: CheckedContinuation<[KafkaMessage]?, any Error>, maxCount: Int)

    private let condition = NSCondition()
    private let maxBuffered: Int
    private let events: AsyncStream<KafkaConsumerEvent>.Continuation
    private let logger: Logger

    // Guarded by `condition`.
    private var buffer: [KafkaMessage] = []
    private var head = 0
    private var waiter: Waiter?
    private var terminal: Result<Void, any Error>?
    private var assigned: Set<KafkaTopicPartition> = []
    private var pendingSeeks: [SeekRequest] = []
    private var seekingPartitions: Set<KafkaTopicPartition> = []
    private var seekingTopics: Set<String> = []
    private var reportedClusterId: String?

    // Callback-thread only.
    private var lastOffsets: [KafkaTopicPartition: Int64] = [:]
    private var deferredSeeks: [KafkaTopicPartition: Int64] = [:]
    private var deferredTopics: Set<String> = []
    private var knownClusterId: String?
    private var lastClusterCheck = ContinuousClock.now

    init(maxBuffered: Int, events: AsyncStream<KafkaConsumerEvent>.Continuation, logger: Logger) {
        self.maxBuffered = maxBuffered
        self.events = events
        self.logger = logger
    }

    // MARK: - Reader side

    var bufferedCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return buffer.count - head
    }

    func next(maxCount: Int) async throws -> [KafkaMessage]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[KafkaMessage]?, any Error>) in
                condition.lock()
                if head < buffer.count {
                    let taken = take(maxCount)
                    condition.signal()
                    condition.unlock()
                    continuation.resume(returning: taken)
                } else if let terminal {
                    condition.unlock()
                    continuation.resume(with: terminal.map { nil })
                } else if Task.isCancelled {
                    condition.unlock()
                    continuation.resume(throwing: CancellationError())
                } else {
                    precondition(waiter == nil, "KafkaConsumer.batches must be iterated by one task at a time")
                    waiter = (continuation, maxCount)
                    condition.unlock()
                }
            }
        } onCancel: {
            condition.lock()
            let cancelled = waiter
            waiter = nil
            condition.unlock()
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Must hold the lock.
    private func take(_ maxCount: Int) -> [KafkaMessage] {
        let end = min(buffer.count, head + maxCount)
        let taken = Array(buffer[head..<end])
        head = end
        if head == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 4096 {
            buffer.removeFirst(head)
            head = 0
        }
        return taken
    }

    /// Must hold the lock.
    private func purge(where drop: (KafkaMessage) -> Bool) {
        guard head < buffer.count else { return }
        let kept = buffer[head...].filter { !drop($0) }
        buffer = Array(kept)
        head = 0
    }

    func finish(throwing error: (any Error)?) {
        condition.lock()
        if terminal == nil {
            terminal = error.map { .failure($0) } ?? .success(())
        }
        let pending = waiter
        waiter = nil
        condition.broadcast()
        condition.unlock()
        if let pending {
            if let error { pending.continuation.resume(throwing: error) } else { pending.continuation.resume(returning: nil) }
        }
        events.finish()
    }

    func requestSeek(_ request: SeekRequest) {
        condition.lock()
        pendingSeeks.append(request)
        switch request {
        case .partition(let tp, _):
            seekingPartitions.insert(tp)
            purge { $0.topic == tp.topic && $0.partition == tp.partition }
        case .topicToBeginning(let topic):
            seekingTopics.insert(topic)
            purge { $0.topic == topic }
        }
        condition.unlock()
    }

    // MARK: - Poll thread

    func pollLoop(client: RdKafkaClient, thread: DedicatedThread) {
        var batch: [KafkaMessage] = []
        batch.reserveCapacity(512)
        while !thread.isStopRequested {
            checkCluster(client)
            applyPendingSeeks(client)
            condition.lock()
            if buffer.count - head >= maxBuffered && terminal == nil {
                // Far behind: stop polling until the reader catches up (bounded memory).
                // max.poll.interval.ms (default 300 s) bounds how long this may last.
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.1))
                condition.unlock()
                continue
            }
            condition.unlock()

            var next = rd_kafka_consumer_poll(client.handle, 100)
            while let message = next {
                handle(message, into: &batch)
                rd_kafka_message_destroy(message)
                if batch.count >= 512 { break }
                next = rd_kafka_consumer_poll(client.handle, 0)
            }
            if !batch.isEmpty {
                deliver(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
    }

    private func handle(_ pointer: UnsafeMutablePointer<rd_kafka_message_t>, into batch: inout [KafkaMessage]) {
        let message = pointer.pointee
        let tp = message.rkt.map {
            KafkaTopicPartition(topic: String(cString: rd_kafka_topic_name($0)), partition: message.partition)
        }
        guard message.err == RD_KAFKA_RESP_ERR_NO_ERROR, let tp else {
            var text = ""
            if let errstr = rd_kafka_message_errstr(pointer) {
                text = String(cString: errstr)
            }
            switch message.err {
            case RD_KAFKA_RESP_ERR__PARTITION_EOF:
                break
            case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
                logger.warning("kafka offset reset", metadata: [LogKey.kafkaPartition: "\(tp?.description ?? "-")", LogKey.error: "\(text)"])
                events.yield(.offsetReset(tp, message: text))
            default:
                let error = KafkaError(code: message.err.rawValue, message: text)
                // librdkafka already logged it (log callback) and retries by itself.
                logger.debug("kafka consumer error", metadata: [LogKey.error: "\(error)"])
                events.yield(.error(error))
            }
            return
        }
        if let last = lastOffsets[tp], message.offset != last + 1 {
            logger.warning(
                "kafka offset jump",
                metadata: [LogKey.kafkaPartition: "\(tp)", LogKey.kafkaExpected: "\(last + 1)", LogKey.kafkaOffset: "\(message.offset)"])
            events.yield(.offsetJump(tp, expected: last + 1, actual: message.offset))
        }
        lastOffsets[tp] = message.offset
        batch.append(Self.convert(pointer, tp))
    }

    private static func convert(_ pointer: UnsafeMutablePointer<rd_kafka_message_t>, _ tp: KafkaTopicPartition) -> KafkaMessage {
        let message = pointer.pointee
        let value: [UInt8] =
            message.payload.map {
                Array(UnsafeRawBufferPointer(start: $0, count: message.len))
            } ?? []
        let key: [UInt8]? = message.key.map {
            Array(UnsafeRawBufferPointer(start: $0, count: message.key_len))
        }
        var headers: [KafkaHeader] = []
        var hdrs: OpaquePointer? = nil
        if rd_kafka_message_headers(pointer, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
            var index = 0
            var name: UnsafePointer<CChar>? = nil
            var bytes: UnsafeRawPointer? = nil
            var size = 0
            while rd_kafka_header_get_all(hdrs, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let headerValue = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                headers.append(KafkaHeader(key: name.map { String(cString: $0) } ?? "", value: headerValue))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let millis = rd_kafka_message_timestamp(pointer, &timestampType)
        let timestamp = millis >= 0 ? Date(timeIntervalSince1970: Double(millis) / 1000) : nil
        return KafkaMessage(
            topic: tp.topic, partition: tp.partition, offset: message.offset, key: key, value: value,
            headers: headers, timestamp: timestamp)
    }

    private func deliver(_ batch: [KafkaMessage]) {
        condition.lock()
        let accepted = batch.filter { message in
            let tp = KafkaTopicPartition(topic: message.topic, partition: message.partition)
            return assigned.contains(tp) && !seekingPartitions.contains(tp) && !seekingTopics.contains(message.topic)
        }
        buffer.append(contentsOf: accepted)
        var resume: (Waiter, [KafkaMessage])? = nil
        if let pending = waiter, head < buffer.count {
            waiter = nil
            resume = (pending, take(pending.maxCount))
        }
        condition.unlock()
        if let (pending, messages) = resume {
            pending.continuation.resume(returning: messages)
        }
    }

    private func applyPendingSeeks(_ client: RdKafkaClient) {
        condition.lock()
        let requests = pendingSeeks
        pendingSeeks = []
        let current = assigned
        condition.unlock()
        guard !requests.isEmpty else { return }

        var targets: [KafkaTopicPartition: Int64] = [:]
        for request in requests {
            switch request {
            case .partition(let tp, let offset):
                if current.contains(tp) { targets[tp] = offset } else { deferredSeeks[tp] = offset }
            case .topicToBeginning(let topic):
                let partitions = current.filter { $0.topic == topic }
                if partitions.isEmpty { deferredTopics.insert(topic) }
                for tp in partitions { targets[tp] = Int64(RD_KAFKA_OFFSET_BEGINNING) }
            }
        }
        if !targets.isEmpty {
            let list = rd_kafka_topic_partition_list_new(Int32(targets.count))!
            for (tp, offset) in targets {
                rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition).pointee.offset = offset
                lastOffsets[tp] = nil
            }
            if let error = rd_kafka_seek_partitions(client.handle, list, 5000) {
                let failure = KafkaError(consuming: error, "seek")
                logger.warning("kafka seek failed", metadata: [LogKey.error: "\(failure)"])
                events.yield(.error(failure))
            } else if let failure = firstPartitionError(list) {
                logger.warning("kafka seek failed", metadata: [LogKey.error: "\(failure)"])
                events.yield(.error(failure))
            }
            rd_kafka_topic_partition_list_destroy(list)
        }
        condition.lock()
        for request in requests {
            switch request {
            case .partition(let tp, _):
                seekingPartitions.remove(tp)
                purge { $0.topic == tp.topic && $0.partition == tp.partition }
            case .topicToBeginning(let topic):
                seekingTopics.remove(topic)
                purge { $0.topic == topic }
            }
        }
        condition.unlock()
    }

    /// Notices a replaced cluster (see `KafkaConsumerEvent.clusterChanged`) and restarts
    /// every assigned partition from the beginning of the new log. Without this the
    /// positions and stored offsets of the old log carry over, and everything produced to
    /// the new broker below the old offsets is silently skipped.
    private func checkCluster(_ client: RdKafkaClient) {
        if knownClusterId == nil {
            let now = ContinuousClock.now
            guard now - lastClusterCheck > .milliseconds(500) else { return }
            lastClusterCheck = now
            if let id = rd_kafka_clusterid(client.handle, 0) {
                knownClusterId = String(cString: id)
                rd_kafka_mem_free(client.handle, id)
            }
            return
        }
        condition.lock()
        let reported = reportedClusterId
        condition.unlock()
        guard let reported, reported != knownClusterId else { return }
        let previous = knownClusterId
        knownClusterId = reported

        condition.lock()
        let partitions = assigned
        purge { _ in true }
        condition.unlock()
        lastOffsets = [:]
        logger.warning(
            "kafka cluster changed: rewinding assigned partitions",
            metadata: [
                LogKey.kafkaClusterPrevious: "\(previous ?? "-")", LogKey.kafkaCluster: "\(reported)", LogKey.kafkaPartitions: "\(partitions.count)",
            ])
        if !partitions.isEmpty {
            let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for tp in partitions {
                rd_kafka_topic_partition_list_add(list, tp.topic, tp.partition).pointee.offset = 0
            }
            let stored = rd_kafka_offsets_store(client.handle, list)
            if stored != RD_KAFKA_RESP_ERR_NO_ERROR {
                events.yield(.error(KafkaError(stored, "store offsets after cluster change")))
            }
            for i in 0..<Int(list.pointee.cnt) {
                list.pointee.elems[i].offset = Int64(RD_KAFKA_OFFSET_BEGINNING)
            }
            if let error = rd_kafka_seek_partitions(client.handle, list, 5000) {
                events.yield(.error(KafkaError(consuming: error, "seek after cluster change")))
            }
        }
        events.yield(.clusterChanged(previous: previous, current: reported))
    }

    func observedClusterId(_ id: String) {
        condition.lock()
        reportedClusterId = id
        condition.unlock()
    }

    // MARK: - librdkafka callbacks

    func clientError(_ error: KafkaError) {
        if error.isFatal {
            logger.error("kafka consumer fatal error", metadata: [LogKey.error: "\(error)"])
            events.yield(.error(error))
            finish(throwing: error)
        } else {
            // librdkafka already logged it (log callback) and retries by itself.
            logger.debug("kafka consumer error", metadata: [LogKey.error: "\(error)"])
            events.yield(.error(error))
        }
    }

    func rebalance(
        _ client: OpaquePointer, _ err: rd_kafka_resp_err_t,
        _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
    ) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(client)) == "COOPERATIVE"
        let tps = partitions.map(topicPartitions) ?? []
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if let partitions {
                var replayed: Set<String> = []
                for i in 0..<Int(partitions.pointee.cnt) {
                    let element = partitions.pointee.elems + i
                    let tp = KafkaTopicPartition(topic: String(cString: element.pointee.topic), partition: element.pointee.partition)
                    if let offset = deferredSeeks.removeValue(forKey: tp) {
                        element.pointee.offset = offset
                    } else if deferredTopics.contains(tp.topic) {
                        element.pointee.offset = Int64(RD_KAFKA_OFFSET_BEGINNING)
                        replayed.insert(tp.topic)
                    }
                    lastOffsets[tp] = nil
                }
                deferredTopics.subtract(replayed)
            }
            condition.lock()
            assigned.formUnion(tps)
            condition.unlock()
            if cooperative {
                if let error = rd_kafka_incremental_assign(client, partitions) {
                    events.yield(.error(KafkaError(consuming: error, "incremental assign")))
                }
            } else {
                let result = rd_kafka_assign(client, partitions)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR { events.yield(.error(KafkaError(result, "assign"))) }
            }
            logger.info("kafka partitions assigned", metadata: [LogKey.kafkaPartitions: "\(tps)"])
            events.yield(.partitionsAssigned(tps))
        default:
            let revoked = err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS ? tps : Array(assignedSnapshot())
            condition.lock()
            assigned.subtract(revoked)
            let set = Set(revoked)
            purge { set.contains(KafkaTopicPartition(topic: $0.topic, partition: $0.partition)) }
            condition.unlock()
            for tp in revoked { lastOffsets[tp] = nil }
            if cooperative && err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                if let error = rd_kafka_incremental_unassign(client, partitions) {
                    events.yield(.error(KafkaError(consuming: error, "incremental unassign")))
                }
            } else {
                _ = rd_kafka_assign(client, nil)
            }
            if err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                events.yield(.error(KafkaError(err, "rebalance")))
            }
            logger.info("kafka partitions revoked", metadata: [LogKey.kafkaPartitions: "\(revoked)"])
            events.yield(.partitionsRevoked(revoked))
        }
    }

    private func assignedSnapshot() -> Set<KafkaTopicPartition> {
        condition.lock()
        defer { condition.unlock() }
        return assigned
    }
}
