import CRdKafka
import Logging

/// librdkafka's in-process mock Kafka cluster (`rdkafka_mock.h`), reachable over TCP on
/// random loopback ports. Keeps ~5 MiB per partition, nothing survives `deinit`.
public final class KafkaMockCluster: @unchecked Sendable {
    // The mock cluster runs on threads of the `rd_kafka_t` it was created from.
    private let client: RdKafkaClient
    private let cluster: OpaquePointer
    private let logger: Logger
    public let bootstrapServers: String

    public init(brokerCount: Int = 1, logger: Logger) throws {
        precondition(brokerCount >= 1, "a mock cluster needs at least one broker")
        let client = try RdKafkaClient(kind: .producer, settings: [("client.id", "slipway-mock-cluster")], logger: logger)
        guard let cluster = rd_kafka_mock_cluster_new(client.handle, Int32(brokerCount)) else {
            throw KafkaError.client("rd_kafka_mock_cluster_new failed")
        }
        self.client = client
        self.cluster = cluster
        self.logger = logger
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        let ports = Set(bootstrapServers.split(separator: ",").compactMap { $0.split(separator: ":").last.flatMap { UInt16($0) } })
        let updated = Self.disableNagleOnListeners(ports: ports)
        if updated != ports.count {
            logger.warning("could not set TCP_NODELAY on every mock broker listener", metadata: [LogKey.kafkaListeners: "\(updated)/\(ports.count)"])
        }
        logger.info("kafka mock cluster started", metadata: [LogKey.kafkaBootstrap: "\(bootstrapServers)", LogKey.kafkaBrokers: "\(brokerCount)"])
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        // `client` (the owning rd_kafka_t) is destroyed after this, when the property goes.
    }

    /// Creates a topic. Creating an existing topic fails with TOPIC_ALREADY_EXISTS.
    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int16 = 1) throws {
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, Int32(replicationFactor))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(err, "create topic \(name)")
        }
        logger.debug("kafka mock topic created", metadata: [LogKey.kafkaTopic: "\(name)", LogKey.kafkaPartitions: "\(partitions)"])
    }
}
