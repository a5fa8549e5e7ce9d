/// Log metadata keys of SlipwayKafka, dotted lowercase (STYLE.md), listed once.
enum LogKey {
    static let error = "error"
    static let kafkaBootstrap = "kafka.bootstrap"
    static let kafkaBrokers = "kafka.brokers"
    static let kafkaClient = "kafka.client"
    static let kafkaCluster = "kafka.cluster"
    static let kafkaClusterPrevious = "kafka.cluster.previous"
    static let kafkaExpected = "kafka.expected"
    static let kafkaFacility = "kafka.facility"
    static let kafkaGroup = "kafka.group"
    static let kafkaListeners = "kafka.listeners"
    static let kafkaOffset = "kafka.offset"
    static let kafkaPartition = "kafka.partition"
    static let kafkaPartitions = "kafka.partitions"
    static let kafkaTopic = "kafka.topic"
    static let kafkaTopics = "kafka.topics"
}
