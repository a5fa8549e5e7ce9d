import Foundation
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayPlatform
import SwiftProtobuf
import Synchronization

/// Drains the buffer into `slipway.serving.requests` in batches, as `PredictionRequestLogged` envelopes
/// keyed by endpoint id. Failures are counted, never retried into the buffer (the buffer bound holds);
/// what was lost — dropped by a full buffer or refused by the broker — is reported at most once a
/// second as `RequestLogsDropped` per endpoint and minute, so metrics-svc knows which figures are
/// incomplete. The Kafka producer is its own: made when `run` starts, flushed and shut down when it ends.
final class RequestLogShipper: Sendable {
    let buffer: RequestLogBuffer
    let makeProducer: @Sendable () throws -> KafkaProducer
    let sampleInstances: Int
    let logger: Logger
    let sent = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    private let position = Atomic<Int64>(0)
    private let sentCounter = Counter(label: "slipway.router.request_logs.sent_total")
    private let failedCounter = Counter(label: "slipway.router.request_logs.failed_total")
    static let batchSize = 1000
    static let dropReportInterval: Duration = .seconds(1)

    init(buffer: RequestLogBuffer, sampleInstances: Int, logger: Logger, makeProducer: @escaping @Sendable () throws -> KafkaProducer) {
        self.buffer = buffer
        self.makeProducer = makeProducer
        self.sampleInstances = sampleInstances
        self.logger = logger
    }

    /// Runs until graceful shutdown (it is the last service stopped), then ships what is left, reports the drops and
    /// flushes. When the last delivery failed (no broker), shutdown does not wait out a delivery timeout (10 s) for each
    /// of those: what is left counts as not delivered, and the process stops in one timeout, not five.
    func run() async throws {
        let producer = try makeProducer()
        var lastDropReport = ContinuousClock.now
        var delivering = true
        while true {
            let stopping = Task.isCancelled || Task.isShuttingDownGracefully
            if !stopping, ContinuousClock.now - lastDropReport >= Self.dropReportInterval {
                delivering = await reportDrops(with: producer)
                lastDropReport = .now
            }
            let records = buffer.takeAll()
            if records.isEmpty {
                if stopping { break }
                try? await Task.sleep(for: .milliseconds(10))
                continue
            }
            if stopping, !delivering {
                countUndelivered(records)
                continue
            }
            var start = 0
            while start < records.count {
                let chunk = records[start..<min(start + Self.batchSize, records.count)]
                start += chunk.count
                delivering = await ship(Array(chunk), with: producer)
            }
        }
        if delivering { _ = await reportDrops(with: producer) }
        await producer.shutdown()
    }

    /// Whether the broker took them (or there was nothing to send); failures are counted.
    @discardableResult
    func ship(_ records: [RequestLogRecord], with producer: KafkaProducer) async -> Bool {
        var messages: [KafkaOutgoingMessage] = []
        var encoded: [RequestLogRecord] = []
        messages.reserveCapacity(records.count)
        encoded.reserveCapacity(records.count)
        for record in records {
            do {
                let envelope = try envelope(for: record)
                messages.append(
                    KafkaOutgoingMessage(
                        topic: EventContext.serving.topic, key: Array(envelope.aggregateID.utf8),
                        value: try envelope.serializedBytes()))
                encoded.append(record)
            } catch {
                countUndelivered([record])
            }
        }
        guard !messages.isEmpty else { return true }
        do {
            _ = try await producer.send(messages)
            sent.add(messages.count, ordering: .relaxed)
            sentCounter.increment(by: messages.count)
            return true
        } catch {
            countUndelivered(encoded)
            logger.warning("request logs not delivered", metadata: [LogKey.routerCount: "\(messages.count)", LogKey.error: "\(error)"])
            return false
        }
    }

    private func countUndelivered(_ records: [RequestLogRecord]) {
        failed.add(records.count, ordering: .relaxed)
        failedCounter.increment(by: records.count)
        for record in records { buffer.droppedTally.record(record, reason: .deliveryFailed) }
    }

    /// Sends what the tally counted since the last report; on failure the counts wait for the next one. Whether the
    /// broker took it (or there was nothing to report).
    @discardableResult
    func reportDrops(with producer: KafkaProducer) async -> Bool {
        let counts = buffer.droppedTally.takeAll()
        guard !counts.isEmpty else { return true }
        do {
            let messages = try counts.map { key, count in
                var event = RequestLogsDropped()
                event.endpointID = key.endpointID
                event.deploymentID = key.deploymentID
                event.revisionID = key.revisionID
                event.minute = Google_Protobuf_Timestamp(seconds: key.minute)
                event.count = count
                event.reason = key.reason.rawValue
                let envelope = try makeEnvelope(endpointID: key.endpointID, at: Date(), correlationID: "", payload: event)
                return KafkaOutgoingMessage(
                    topic: EventContext.serving.topic, key: Array(key.endpointID.utf8), value: try envelope.serializedBytes())
            }
            _ = try await producer.send(messages)
            return true
        } catch {
            buffer.droppedTally.restore(counts)
            logger.warning("dropped-log report not delivered; will retry", metadata: [LogKey.error: "\(error)"])
            return false
        }
    }

    func envelope(for record: RequestLogRecord) throws -> EventEnvelope {
        var event = PredictionRequestLogged()
        event.requestID = record.requestID
        event.endpointID = record.endpointID
        event.endpointName = record.endpointName
        event.deploymentID = record.deploymentID
        event.revisionID = record.revisionID
        event.registeredModelID = record.modelName
        event.modelVersionID = record.modelVersionID
        event.versionNumber = Int32(clamping: record.versionNumber)
        event.apiKeyID = record.apiKeyID
        event.traffic = record.traffic
        event.api = record.api
        event.receivedAt = Google_Protobuf_Timestamp(date: record.receivedAt)
        event.latencyUs = record.latencyMicros
        event.upstreamLatencyUs = record.upstreamLatencyMicros
        event.statusCode = Int32(record.status)
        event.error = record.error
        var topK = record.topK
        var instanceCount = record.instanceCount
        if let body = record.requestBody {
            let json = PredictionBody.parse(body)
            let parsed = PredictionBody(api: record.api, json: json)
            topK = topK ?? parsed.topK
            instanceCount = max(instanceCount, parsed.instanceCount)
            event.instances = PredictionBody.sampledInstances(api: record.api, json: json, limit: sampleInstances)
        }
        event.customerID = record.customerID ?? ""
        event.topK = Int32(clamping: topK ?? 0)
        event.instanceCount = Int32(clamping: instanceCount)
        if let body = record.responseBody, (200..<300).contains(record.status) {
            event.productIds = PredictionBody.firstProductIDs(body, limit: topK.map { max($0, 1) } ?? 1000)
        }
        return try makeEnvelope(endpointID: record.endpointID, at: record.receivedAt, correlationID: record.requestID, payload: event)
    }

    /// The serving stream's envelope: keyed by endpoint, not an event-sourced aggregate (version 0), positioned
    /// by this process's sequence.
    private func makeEnvelope(endpointID: String, at date: Date, correlationID: String, payload: some SwiftProtobuf.Message) throws
        -> EventEnvelope
    {
        var envelope = EventEnvelope()
        envelope.eventID = UUID.v7(now: date).uuidString.lowercased()
        envelope.aggregateType = EndpointState.aggregateType
        envelope.aggregateID = endpointID
        envelope.aggregateVersion = 0
        envelope.sourceService = "serving-router"
        envelope.sourcePosition = position.add(1, ordering: .relaxed).newValue
        envelope.occurredAt = Google_Protobuf_Timestamp(date: date)
        envelope.correlationID = correlationID
        envelope.schemaVersion = 1
        try envelope.setPayload(payload)
        return envelope
    }
}
