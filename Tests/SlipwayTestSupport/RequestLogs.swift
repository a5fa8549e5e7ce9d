import Foundation
import SlipwayContracts
import SlipwayKafka
import SwiftProtobuf

/// serving-router's request logs as tests make them: one `PredictionRequestLogged`, its envelope, and publishing
/// them to a broker as the router's shipper does.
public enum RequestLogs {
    public static func log(endpoint: String, revision: String, status: Int, latencyMicros: Int64, at date: Date, customer: String = "C1")
        -> PredictionRequestLogged
    {
        var log = PredictionRequestLogged()
        log.requestID = UUID().uuidString.lowercased()
        log.endpointID = endpoint
        log.endpointName = endpoint
        log.deploymentID = "dep-\(endpoint)"
        log.revisionID = revision
        log.apiKeyID = "key-1"
        log.modelVersionID = "model/\(revision)"
        log.versionNumber = revision == "canary" ? 2 : 1
        log.api = .recommend
        log.statusCode = Int32(status)
        log.latencyUs = latencyMicros
        log.upstreamLatencyUs = status == 400 ? 0 : latencyMicros - 100
        log.receivedAt = Google_Protobuf_Timestamp(date: date)
        log.customerID = customer
        log.topK = 10
        log.instanceCount = 1
        return log
    }

    public static func envelope(_ message: some SwiftProtobuf.Message, endpoint: String? = nil) throws -> EventEnvelope {
        var envelope = EventEnvelope()
        envelope.eventID = UUID().uuidString.lowercased()
        envelope.aggregateType = "Endpoint"
        envelope.aggregateID = endpoint ?? (message as? PredictionRequestLogged)?.endpointID ?? ""
        envelope.sourceService = "serving-router"
        envelope.occurredAt = Google_Protobuf_Timestamp(date: Date())
        envelope.schemaVersion = 1
        try envelope.setPayload(message)
        return envelope
    }

    /// Keyed by endpoint, as the router keys them.
    public static func publish(
        _ logs: [PredictionRequestLogged], topic: String = EventContext.serving.topic, brokers: String = TestInfrastructure.shared.kafkaBrokers
    ) async throws {
        try await publish(envelopes: logs.map { try envelope($0) }, topic: topic, brokers: brokers)
    }

    public static func publish(envelopes: [EventEnvelope], topic: String, brokers: String = TestInfrastructure.shared.kafkaBrokers) async throws {
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientId: "request-logs-test"), logger: TestInfrastructure.logger)
        let messages = try envelopes.map {
            KafkaOutgoingMessage(topic: topic, key: Array($0.aggregateID.utf8), value: try $0.serializedBytes())
        }
        _ = try await producer.send(messages)
        await producer.shutdown()
    }
}
