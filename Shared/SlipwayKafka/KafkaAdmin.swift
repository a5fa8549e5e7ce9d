import CRdKafka
import Dispatch
import Logging

/// Administrative operations against a real Kafka cluster (the mock cluster has no admin
/// API: use `KafkaMockCluster.createTopic` there).
public enum KafkaAdmin {
    /// Creates topics with `rd_kafka_CreateTopics`; topics that already exist are fine.
    public static func createTopics(
        bootstrapServers: String,
        topics: [(name: String, partitions: Int32, replicationFactor: Int16)],
        timeout: Duration = .seconds(30),
        logger: Logger
    ) async throws {
        guard !topics.isEmpty else { return }
        let specs = topics.map { TopicSpec(name: $0.name, partitions: $0.partitions, replicationFactor: $0.replicationFactor) }
        let millis = Int32(clamping: timeout.components.seconds * 1000)
        let client = try RdKafkaClient(
            kind: .producer,
            settings: [("bootstrap.servers", bootstrapServers), ("client.id", "slipway-admin")],
            logger: logger)
        let queue = DispatchQueue(label: "slipway.kafka.admin")
        try await runBlocking(on: queue) {
            try createTopicsBlocking(client: client, specs: specs, timeoutMs: millis, logger: logger)
        }
    }

    private struct TopicSpec: Sendable {
        var name: String
        var partitions: Int32
        var replicationFactor: Int16
    }

    private static func createTopicsBlocking(
        client: RdKafkaClient, specs: [TopicSpec], timeoutMs: Int32, logger: Logger
    ) throws {
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for spec in specs {
            guard let topic = rd_kafka_NewTopic_new(spec.name, spec.partitions, Int32(spec.replicationFactor), &errstr, errstr.count) else {
                throw KafkaError.client("topic \(spec.name): \(cString(errstr))")
            }
            newTopics.append(topic)
        }
        let options = rd_kafka_AdminOptions_new(client.handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errstr, errstr.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errstr, errstr.count)
        let resultQueue = rd_kafka_queue_new(client.handle)
        defer { rd_kafka_queue_destroy(resultQueue) }

        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(client.handle, buffer.baseAddress, buffer.count, options, resultQueue)
        }
        // Wait a little longer than the request timeout for the result event.
        guard let event = rd_kafka_queue_poll(resultQueue, Int32(clamping: Int(timeoutMs) + 5000)) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "create topics")
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: eventError.rawValue, message: "create topics: \(String(cString: rd_kafka_event_error_string(event)))")
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError.client("create topics: unexpected result event")
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for i in 0..<count {
            let topicResult = results[i]
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let err = rd_kafka_topic_result_error(topicResult)
            switch err {
            case RD_KAFKA_RESP_ERR_NO_ERROR:
                logger.info("kafka topic created", metadata: [LogKey.kafkaTopic: "\(name)"])
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
                logger.debug("kafka topic already exists", metadata: [LogKey.kafkaTopic: "\(name)"])
            default:
                let text = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? ""
                throw KafkaError(code: err.rawValue, message: "create topic \(name): \(text)")
            }
        }
    }
}
