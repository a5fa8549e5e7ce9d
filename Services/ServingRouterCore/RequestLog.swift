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

/// One answered request, as the public handler saw it. Cheap to make: bodies are kept by reference
/// and parsed into the log event by the background shipper, not on the request path.
struct RequestLogRecord: Sendable {
    var requestID: String
    /// The endpoint's id, or the URL's endpoint segment when the endpoint is unknown.
    var endpointID: String
    var endpointName: String
    var deploymentID = ""
    var revisionID = ""
    var modelName = ""
    var modelVersionID = ""
    var versionNumber = 0
    var apiKeyID = ""
    var api: ServingApi
    var receivedAt: Date
    var latencyMicros: Int64 = 0
    var upstreamLatencyMicros: Int64 = 0
    var status: Int
    var error = ""
    var customerID: String?
    var topK: Int?
    var instanceCount = 0
    var requestBody: ByteBuffer?
    var responseBody: ByteBuffer?
}

/// A bounded in-memory queue of request logs. Appending never blocks a request: when full, the record
/// is dropped and counted.
final class RequestLogBuffer: Sendable {
    let capacity: Int
    private let records = Mutex<[RequestLogRecord]>([])
    let dropped = Atomic<Int>(0)
    private let droppedCounter = Counter(label: "slipway.router.request_logs.dropped_total")

    init(capacity: Int) {
        self.capacity = capacity
    }

    func append(_ record: RequestLogRecord) {
        let accepted = records.withLock { records -> Bool in
            guard records.count < capacity else { return false }
            records.append(record)
            return true
        }
        if !accepted {
            dropped.add(1, ordering: .relaxed)
            droppedCounter.increment()
        }
    }

    /// Everything queued, oldest first.
    func takeAll() -> [RequestLogRecord] {
        records.withLock { records in
            guard !records.isEmpty else { return [] }
            var taken: [RequestLogRecord] = []
            taken.reserveCapacity(min(capacity, 1024))
            swap(&taken, &records)
            return taken
        }
    }

    var count: Int { records.withLock { $0.count } }
}

/// Drains the buffer into `slipway.serving.requests` in batches, as `PredictionRequestLogged` envelopes
/// keyed by endpoint id. Failures are counted, never retried into the buffer (the buffer bound holds).
final class RequestLogShipper: Sendable {
    let buffer: RequestLogBuffer
    let producer: KafkaProducer
    let sampleInstances: Int
    let logger: Logger
    let sent = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    private let position = Atomic<Int64>(0)
    private let sentCounter = Counter(label: "slipway.router.request_logs.sent_total")
    private let failedCounter = Counter(label: "slipway.router.request_logs.failed_total")
    static let batchSize = 1000

    init(buffer: RequestLogBuffer, producer: KafkaProducer, sampleInstances: Int, logger: Logger) {
        self.buffer = buffer
        self.producer = producer
        self.sampleInstances = sampleInstances
        self.logger = logger
    }

    /// Runs until graceful shutdown (it is the last service stopped), then ships what is left and flushes.
    func run() async {
        while true {
            let records = buffer.takeAll()
            if records.isEmpty {
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                try? await Task.sleep(for: .milliseconds(10))
                continue
            }
            var start = 0
            while start < records.count {
                let chunk = records[start..<min(start + Self.batchSize, records.count)]
                start += chunk.count
                await ship(Array(chunk))
            }
        }
        await producer.shutdown()
    }

    func ship(_ records: [RequestLogRecord]) async {
        var messages: [KafkaOutgoingMessage] = []
        messages.reserveCapacity(records.count)
        for record in records {
            do {
                let envelope = try envelope(for: record)
                messages.append(KafkaOutgoingMessage(topic: EventContext.serving.topic, key: Array(envelope.aggregateID.utf8),
                                                     value: try envelope.serializedBytes()))
            } catch {
                failed.add(1, ordering: .relaxed)
                failedCounter.increment()
            }
        }
        guard !messages.isEmpty else { return }
        do {
            _ = try await producer.send(messages)
            sent.add(messages.count, ordering: .relaxed)
            sentCounter.increment(by: messages.count)
        } catch {
            failed.add(messages.count, ordering: .relaxed)
            failedCounter.increment(by: messages.count)
            logger.warning("request logs not delivered", metadata: ["router.count": "\(messages.count)", "error": "\(error)"])
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
        var envelope = EventEnvelope()
        envelope.eventID = UUID.v7(now: record.receivedAt).uuidString.lowercased()
        envelope.aggregateType = "Endpoint"
        envelope.aggregateID = record.endpointID
        envelope.aggregateVersion = 0
        envelope.sourceService = "serving-router"
        envelope.sourcePosition = position.add(1, ordering: .relaxed).newValue
        envelope.occurredAt = Google_Protobuf_Timestamp(date: record.receivedAt)
        envelope.correlationID = record.requestID
        envelope.schemaVersion = 1
        try envelope.setPayload(event)
        return envelope
    }
}
