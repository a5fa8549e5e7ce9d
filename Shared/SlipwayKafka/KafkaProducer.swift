import CRdKafka
import Dispatch
import Logging
import Synchronization

/// An idempotent (`acks=all`) Kafka producer.
///
/// A dedicated thread calls `rd_kafka_poll` to serve delivery reports; `send` suspends until
/// every message it enqueued has its delivery report. Each enqueued message carries a
/// retained `DeliveryTicket` as its opaque pointer, released exactly once by the delivery
/// report callback (or by `send` itself when librdkafka refuses the message).
public final class KafkaProducer: Sendable {
    private let client: RdKafkaClient
    private let pollThread: DedicatedThread
    private let blockingQueue: DispatchQueue
    private let logger: Logger
    private let handler: ProducerCallbacks
    private let isShutDown = Atomic<Bool>(false)

    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws {
        let client = try RdKafkaClient(
            kind: .producer, settings: configuration.librdkafkaSettings, logger: logger
        ) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
                guard let message else { return }
                KafkaProducer.deliveryReport(message.pointee)
            }
        }
        let handler = ProducerCallbacks(logger: logger)
        client.context.handler = handler
        self.client = client
        self.handler = handler
        self.logger = logger
        self.blockingQueue = DispatchQueue(label: "slipway.kafka.producer.blocking")
        self.pollThread = DedicatedThread(name: "kafka-producer-poll") { thread in
            // The thread holds the client: librdkafka is destroyed only after the loop ends.
            while !thread.isStopRequested {
                rd_kafka_poll(client.handle, 100)
            }
            KafkaProducer.drainOnStop(client)
        }
        logger.info("kafka producer started", metadata: [LogKey.kafkaClient: "\(client.name)"])
    }

    deinit {
        pollThread.requestStop()
    }

    /// Produces one message and waits for its delivery report.
    public func send(_ message: KafkaOutgoingMessage) async throws -> KafkaDeliveryReport {
        try await send([message])[0]
    }

    /// Enqueues every message (retrying while librdkafka's queue is full), then waits until
    /// every delivery report arrived. Reports are returned in the order of `messages`.
    /// Throws the first failure if any message was not delivered; the others may still
    /// have been delivered (at-least-once: callers retry the whole batch).
    public func send(_ messages: [KafkaOutgoingMessage]) async throws -> [KafkaDeliveryReport] {
        guard !messages.isEmpty else { return [] }
        guard !isShutDown.load(ordering: .acquiring) else { throw KafkaError.shutDown }
        let batch = DeliveryBatch(count: messages.count)
        for (index, message) in messages.enumerated() {
            while true {
                let ticket = Unmanaged.passRetained(DeliveryTicket(batch: batch, index: index))
                let err = enqueue(message, opaque: ticket.toOpaque())
                if err == RD_KAFKA_RESP_ERR_NO_ERROR { break }
                ticket.release()  // librdkafka did not take the message: no report will come
                if err == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                    // Serve delivery reports now (non-blocking) and give the poll thread a
                    // moment. The pause ignores cancellation on purpose: part of the batch
                    // is already enqueued, so `send` must finish or fail as a whole.
                    rd_kafka_poll(client.handle, 0)
                    await pause(milliseconds: 2)
                    continue
                }
                batch.complete(index: index, with: .failure(KafkaError(err, "produce to \(message.topic)")))
                break
            }
        }
        return try await batch.wait()
    }

    /// Waits until every enqueued message has been delivered (or `timeout` expires).
    public func flush(timeout: Duration) async throws {
        let milliseconds = Int32(
            clamping: timeout.components.seconds * 1000
                + timeout.components.attoseconds / 1_000_000_000_000_000)
        let client = self.client
        let err = try await runBlocking(on: blockingQueue) {
            rd_kafka_flush(client.handle, milliseconds)
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, "flush: \(rd_kafka_outq_len(client.handle)) messages still queued")
        }
    }

    /// Flushes (up to 10 s), then stops the poll thread. Messages still queued after that are
    /// purged and their `send` calls fail. The handle itself is destroyed when the last
    /// reference goes. Idempotent.
    public func shutdown() async {
        guard !isShutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        do {
            try await flush(timeout: .seconds(10))
        } catch {
            logger.warning("kafka producer flush on shutdown failed", metadata: [LogKey.error: "\(error)"])
        }
        await pollThread.stopAndWait()
        logger.info("kafka producer stopped")
    }

    // MARK: - librdkafka plumbing

    private func enqueue(_ message: KafkaOutgoingMessage, opaque: UnsafeMutableRawPointer) -> rd_kafka_resp_err_t {
        var headers: OpaquePointer? = nil
        if !message.headers.isEmpty {
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                _ = header.value.withUnsafeBytes { bytes in
                    rd_kafka_header_add(headers, header.key, -1, bytes.baseAddress, bytes.count)
                }
            }
        }
        let handle = client.handle
        let err = message.topic.withCString { topic in
            message.value.withUnsafeBytes { value in
                withOptionalBytes(message.key) { key in
                    withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 7) { vus in
                        var count = 0
                        func append(_ type: rd_kafka_vtype_t, _ set: (inout rd_kafka_vu_t) -> Void) {
                            var vu = rd_kafka_vu_t()
                            vu.vtype = type
                            set(&vu)
                            (vus.baseAddress! + count).initialize(to: vu)
                            count += 1
                        }
                        append(RD_KAFKA_VTYPE_TOPIC) { $0.u.cstr = topic }
                        if let partition = message.partition {
                            append(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = partition }
                        }
                        append(RD_KAFKA_VTYPE_VALUE) {
                            $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                            $0.u.mem.size = value.count
                        }
                        if let key {
                            append(RD_KAFKA_VTYPE_KEY) {
                                $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                                $0.u.mem.size = key.count
                            }
                        }
                        append(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
                        append(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = opaque }
                        if let headers {
                            append(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = headers }
                        }
                        defer { vus.baseAddress!.deinitialize(count: count) }
                        guard let error = rd_kafka_produceva(handle, vus.baseAddress, count) else {
                            return RD_KAFKA_RESP_ERR_NO_ERROR
                        }
                        let code = rd_kafka_error_code(error)
                        rd_kafka_error_destroy(error)
                        return code
                    }
                }
            }
        }
        // On success the message owns the headers; on failure they are still ours.
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, let headers { rd_kafka_headers_destroy(headers) }
        return err
    }

    /// Delivery report callback body (runs on the poll thread).
    fileprivate static func deliveryReport(_ message: rd_kafka_message_t) {
        guard let opaque = message._private else { return }
        let ticket = Unmanaged<DeliveryTicket>.fromOpaque(opaque).takeRetainedValue()
        if message.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            let topic = String(cString: rd_kafka_topic_name(message.rkt))
            ticket.batch.complete(
                index: ticket.index,
                with: .success(KafkaDeliveryReport(topic: topic, partition: message.partition, offset: message.offset)))
        } else {
            ticket.batch.complete(index: ticket.index, with: .failure(KafkaError(message.err, "delivery")))
        }
    }

    /// After the poll loop: purge what is left so every outstanding ticket is released and
    /// every waiting `send` resumes (with a purge error), then serve those reports.
    private static func drainOnStop(_ client: RdKafkaClient) {
        rd_kafka_purge(client.handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        var rounds = 0
        while rd_kafka_outq_len(client.handle) > 0 && rounds < 50 {
            rd_kafka_poll(client.handle, 100)
            rounds += 1
        }
        rd_kafka_poll(client.handle, 0)
    }
}

/// Sleeps without a pool thread and without reacting to cancellation.
private func pause(milliseconds: Int) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) {
            continuation.resume()
        }
    }
}

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}

private final class ProducerCallbacks: RdKafkaCallbackHandler {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }

    func clientError(_ error: KafkaError) {
        if error.isFatal {
            logger.error("kafka producer fatal error", metadata: [LogKey.error: "\(error)"])
        } else {
            // librdkafka already logged it (log callback) and retries by itself.
            logger.debug("kafka producer error", metadata: [LogKey.error: "\(error)"])
        }
    }
}

/// The per-message opaque: which batch and which slot.
private final class DeliveryTicket {
    let batch: DeliveryBatch
    let index: Int
    init(batch: DeliveryBatch, index: Int) {
        self.batch = batch
        self.index = index
    }
}

/// Collects the delivery reports of one `send` call and resumes it when all arrived.
private final class DeliveryBatch: Sendable {
    private struct State {
        var reports: [KafkaDeliveryReport?]
        var firstError: KafkaError?
        var remaining: Int
        var continuation: CheckedContinuation<[KafkaDeliveryReport], any Error>?
    }
    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(reports: Array(repeating: nil, count: count), remaining: count))
    }

    func complete(index: Int, with result: Result<KafkaDeliveryReport, KafkaError>) {
        let toResume = state.withLock { state -> CheckedContinuation<[KafkaDeliveryReport], any Error>? in
            switch result {
            case .success(let report): state.reports[index] = report
            case .failure(let error): if state.firstError == nil { state.firstError = error }
            }
            state.remaining -= 1
            guard state.remaining == 0, let continuation = state.continuation else { return nil }
            state.continuation = nil
            return continuation
        }
        toResume.map(resume)
    }

    func wait() async throws -> [KafkaDeliveryReport] {
        try await withCheckedThrowingContinuation { continuation in
            let done = state.withLock { state -> Bool in
                if state.remaining == 0 { return true }
                state.continuation = continuation
                return false
            }
            if done { resume(continuation) }
        }
    }

    private func resume(_ continuation: CheckedContinuation<[KafkaDeliveryReport], any Error>) {
        let (reports, error) = state.withLock { ($0.reports, $0.firstError) }
        if let error {
            continuation.resume(throwing: error)
        } else {
            continuation.resume(returning: reports.map { $0! })
        }
    }
}
