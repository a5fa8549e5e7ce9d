/// Consumer settings.
///
/// Offset mode: `enable.auto.commit=true` with `enable.auto.offset.store=false`. Nothing is
/// marked consumed until the application calls `KafkaConsumer.storeOffset(_:)` after it has
/// applied a message; librdkafka then commits the stored offsets every
/// `autoCommitIntervalMs` in the background and once more on `close()`. `commit()` forces a
/// synchronous commit of what is stored. This gives at-least-once without a network round
/// trip per message.
public struct KafkaConsumerConfiguration: Sendable {
    public var bootstrapServers: String
    public var groupId: String
    public var topics: [String]
    /// `auto.offset.reset` when the group has no committed offset or it is out of range:
    /// "earliest", "latest" or "error" (then an `.offsetReset` event is raised instead).
    public var autoOffsetReset: String
    /// `fetch.wait.max.ms`. Keep it 10–50 against the mock broker (a waiting fetch is not
    /// woken by new data there, so it bounds latency).
    public var fetchWaitMaxMs: Int
    /// `session.timeout.ms`. The mock broker never assigns below ~2500.
    public var sessionTimeoutMs: Int
    /// `auto.commit.interval.ms` for the stored offsets.
    public var autoCommitIntervalMs: Int
    /// The poll thread stops polling while this many messages wait in the local buffer.
    public var maxBufferedMessages: Int
    /// Any other librdkafka property; overrides the values above except the offset mode.
    public var extra: [String: String]

    public init(
        bootstrapServers: String, groupId: String, topics: [String],
        autoOffsetReset: String = "earliest", fetchWaitMaxMs: Int = 20,
        sessionTimeoutMs: Int = 6000, autoCommitIntervalMs: Int = 1000,
        maxBufferedMessages: Int = 10_000, extra: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.groupId = groupId
        self.topics = topics
        self.autoOffsetReset = autoOffsetReset
        self.fetchWaitMaxMs = fetchWaitMaxMs
        self.sessionTimeoutMs = sessionTimeoutMs
        self.autoCommitIntervalMs = autoCommitIntervalMs
        self.maxBufferedMessages = maxBufferedMessages
        self.extra = extra
    }

    var librdkafkaSettings: [(String, String)] {
        var settings: [String: String] = [
            "bootstrap.servers": bootstrapServers,
            "group.id": groupId,
            "auto.offset.reset": autoOffsetReset,
            "fetch.wait.max.ms": String(fetchWaitMaxMs),
            "session.timeout.ms": String(sessionTimeoutMs),
            "heartbeat.interval.ms": String(max(100, sessionTimeoutMs / 3)),
            "auto.commit.interval.ms": String(autoCommitIntervalMs),
            "enable.partition.eof": "false",
            "reconnect.backoff.ms": "50",
            "reconnect.backoff.max.ms": "1000",
            // librdkafka 2.0 leaves Nagle on: small requests in flight then wait ~40 ms for
            // delayed ACKs. Off by default (override through `extra` if ever needed).
            "socket.nagle.disable": "true",
        ]
        settings.merge(extra) { _, new in new }
        settings["enable.auto.commit"] = "true"
        settings["enable.auto.offset.store"] = "false"
        return settings.sorted { $0.key < $1.key }
    }
}

/// A topic and partition.
public struct KafkaTopicPartition: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// What happened to a consumer besides messages.
public enum KafkaConsumerEvent: Sendable, Hashable {
    /// The group gave this consumer these partitions.
    case partitionsAssigned([KafkaTopicPartition])
    /// These partitions were taken away; buffered messages of them were dropped.
    case partitionsRevoked([KafkaTopicPartition])
    /// librdkafka reported RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET (with
    /// `auto.offset.reset=error`, or when it could not reset).
    case offsetReset(KafkaTopicPartition?, message: String)
    /// A message arrived whose offset is not the previous one + 1 on this partition without a
    /// seek or reassignment in between: data was skipped (retention, reset to latest) or
    /// the broker lost it (e.g. the dev broker restarted empty and offsets went back).
    case offsetJump(KafkaTopicPartition, expected: Int64, actual: Int64)
    /// The broker now belongs to a different cluster (the dev broker restarted empty). The
    /// consumer dropped its buffered messages, stored offset 0 and rewound every assigned
    /// partition to the beginning of the new log. Messages handed out before this event
    /// belong to the old cluster: do not store their offsets.
    case clusterChanged(previous: String?, current: String)
    /// A non-fatal client or broker error (librdkafka retries by itself).
    case error(KafkaError)
}
