import Foundation
import Logging
import SlipwayKafka
import Testing

@Suite("SlipwayKafka against a mock cluster", .timeLimit(.minutes(1)))
struct KafkaRoundTripTests {
    let logger = TestSupport.logger()

    @Test func keyedRoundTripWithHeaders() async throws {
        let cluster = try KafkaMockCluster(logger: logger)
        let topic = TestSupport.unique("roundtrip")
        try cluster.createTopic(topic, partitions: 3)

        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        let outgoing = (0..<12).map { i in
            KafkaOutgoingMessage(
                topic: topic, key: TestSupport.bytes("aggregate-\(i % 4)"), value: TestSupport.bytes("event-\(i)"),
                headers: [
                    KafkaHeader(key: "event-type", value: TestSupport.bytes("Type\(i)")),
                    KafkaHeader(key: "binary", value: [0, 1, 2, UInt8(i)]),
                ])
        }
        let reports = try await producer.send(outgoing)
        #expect(reports.count == 12)
        // Same key, same partition.
        for i in 0..<12 {
            #expect(reports[i].partition == reports[i % 4].partition)
            #expect(reports[i].topic == topic)
        }
        await producer.shutdown()

        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                bootstrapServers: cluster.bootstrapServers, groupId: TestSupport.unique("group"), topics: [topic]),
            logger: logger)
        let received = try await TestSupport.consume(consumer, count: 12)
        await consumer.close()

        #expect(received.count == 12)
        let byValue = Dictionary(uniqueKeysWithValues: received.map { (TestSupport.string($0.value)!, $0) })
        for (i, report) in reports.enumerated() {
            let message = try #require(byValue["event-\(i)"])
            #expect(TestSupport.string(message.key) == "aggregate-\(i % 4)")
            #expect(message.partition == report.partition)
            #expect(message.offset == report.offset)
            #expect(message.headers == outgoing[i].headers)
            #expect(message.timestamp != nil)
        }
        // Per key, messages arrive in the order they were produced.
        for key in 0..<4 {
            let values = received.filter { TestSupport.string($0.key) == "aggregate-\(key)" }.map { TestSupport.string($0.value)! }
            #expect(values == stride(from: key, to: 12, by: 4).map { "event-\($0)" })
        }
    }

    @Test func restartedConsumerResumesFromCommittedOffset() async throws {
        let cluster = try KafkaMockCluster(logger: logger)
        let topic = TestSupport.unique("resume")
        let group = TestSupport.unique("group")
        try cluster.createTopic(topic, partitions: 2)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        _ = try await producer.send(
            (0..<100).map {
                KafkaOutgoingMessage(topic: topic, key: TestSupport.bytes("k\($0 % 7)"), value: TestSupport.bytes("m\($0)"))
            })

        let config = KafkaConsumerConfiguration(bootstrapServers: cluster.bootstrapServers, groupId: group, topics: [topic])
        // First consumer processes exactly 50 messages, stores their offsets, commits, leaves.
        let first = try KafkaConsumer(configuration: config, logger: logger)
        var processed: [KafkaMessage] = []
        for try await batch in first.batches(maxCount: 7) {
            for message in batch where processed.count < 50 {
                processed.append(message)
                try first.storeOffset(message)
            }
            if processed.count >= 50 { break }
        }
        try await first.commit()
        await first.close()

        let second = try KafkaConsumer(configuration: config, logger: logger)
        let rest = try await TestSupport.consume(second, count: 50)
        // Nothing more should come: give it a moment and check no extra message arrives.
        let extra = try? await TestSupport.consume(second, count: 1, timeout: .milliseconds(700))
        await second.close()

        let firstValues = Set(processed.map { TestSupport.string($0.value)! })
        let restValues = rest.map { TestSupport.string($0.value)! }
        #expect(firstValues.count == 50)
        #expect(restValues.count == 50)
        #expect(Set(restValues).isDisjoint(with: firstValues))
        #expect(firstValues.union(restValues) == Set((0..<100).map { "m\($0)" }))
        #expect(extra == nil)
        await producer.shutdown()
    }

    @Test func seekToBeginningReplays() async throws {
        let cluster = try KafkaMockCluster(logger: logger)
        let topic = TestSupport.unique("replay")
        try cluster.createTopic(topic, partitions: 2)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        _ = try await producer.send(
            (0..<20).map {
                KafkaOutgoingMessage(topic: topic, key: TestSupport.bytes("k\($0)"), value: TestSupport.bytes("m\($0)"))
            })
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                bootstrapServers: cluster.bootstrapServers, groupId: TestSupport.unique("group"), topics: [topic]),
            logger: logger)
        let firstPass = try await TestSupport.consume(consumer, count: 20)
        try await consumer.commit()
        try consumer.seekToBeginning(topic: topic)
        let replay = try await TestSupport.consume(consumer, count: 20)
        // Seeking a single partition to an absolute offset also works.
        let partition = firstPass[0].partition
        let total = firstPass.filter { $0.partition == partition }.count
        try consumer.seek(topic: topic, partition: partition, offset: 1)
        let tail = try await TestSupport.consume(consumer, count: total - 1)
        await consumer.close()

        #expect(Set(firstPass.map(\.value)) == Set(replay.map(\.value)))
        #expect(replay.count == 20)
        #expect(tail.allSatisfy { $0.partition == partition && $0.offset >= 1 })
        #expect(tail.count == total - 1)
        await producer.shutdown()
    }

    @Test func batchOfTenThousandIsDeliveredInOrder() async throws {
        let cluster = try KafkaMockCluster(logger: logger)
        let topic = TestSupport.unique("bulk")
        try cluster.createTopic(topic, partitions: 3)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        // Warm up: a fresh producer needs a moment for its producer id and metadata.
        _ = try await producer.send(KafkaOutgoingMessage(topic: topic, value: TestSupport.bytes("warm-up")))

        let payload = [UInt8](repeating: 0x61, count: 300)
        let messages = (0..<10_000).map { i in
            KafkaOutgoingMessage(topic: topic, key: TestSupport.bytes("aggregate-\(i % 97)"), value: payload)
        }
        let clock = ContinuousClock()
        let start = clock.now
        let reports = try await producer.send(messages)
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("PRODUCER-THROUGHPUT: 10000 x 300 B in \(elapsed) = \(Int(10_000 / seconds)) msgs/s")

        #expect(reports.count == 10_000)
        var lastOffset: [Int32: Int64] = [:]
        for report in reports {
            #expect(report.offset > lastOffset[report.partition, default: -1])
            lastOffset[report.partition] = report.offset
        }
        #expect(Set(reports.map { "\($0.partition)/\($0.offset)" }).count == 10_000)
        await producer.shutdown()
    }

    @Test func adminCreateTopicsFailsCleanlyWithoutAdminApi() async throws {
        // The mock cluster has no CreateTopics API: the call must end with an error, not hang.
        let cluster = try KafkaMockCluster(logger: logger)
        await #expect(throws: KafkaError.self) {
            try await KafkaAdmin.createTopics(
                bootstrapServers: cluster.bootstrapServers,
                topics: [(name: TestSupport.unique("admin"), partitions: 1, replicationFactor: 1)],
                timeout: .seconds(5), logger: logger)
        }
    }
}

extension KafkaRoundTripTests {
    @Test func slowReaderBoundsTheBufferAndLosesNothing() async throws {
        let cluster = try KafkaMockCluster(logger: logger)
        let topic = TestSupport.unique("backpressure")
        try cluster.createTopic(topic, partitions: 3)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        _ = try await producer.send(
            (0..<5_000).map {
                KafkaOutgoingMessage(topic: topic, key: TestSupport.bytes("k\($0 % 50)"), value: TestSupport.bytes("m\($0)"))
            })
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                bootstrapServers: cluster.bootstrapServers, groupId: TestSupport.unique("group"), topics: [topic],
                maxBufferedMessages: 200),
            logger: logger)
        // Wait for the assignment and the first fetches, then do not read for a while.
        var waited = 0
        while consumer.bufferedMessageCount == 0 && waited < 100 {
            try await Task.sleep(for: .milliseconds(100))
            waited += 1
        }
        try await Task.sleep(for: .milliseconds(500))
        let buffered = consumer.bufferedMessageCount
        #expect(buffered > 0)
        #expect(buffered < 200 + 512)
        let all = try await TestSupport.consume(consumer, count: 5_000)
        await consumer.close()
        #expect(Set(all.map { TestSupport.string($0.value)! }).count == 5_000)
        await producer.shutdown()
    }
}

extension DevBrokerRestartTests {
    @Test func multiBrokerClusterThroughProxies() async throws {
        let topic = TestSupport.unique("multi")
        let broker = try DevBrokerProcess(port: 0, topics: ["\(topic):6"], brokers: 3)
        let bootstrap = try await broker.bootstrapAddress()
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap), logger: logger)
        let reports = try await producer.send(
            (0..<300).map {
                KafkaOutgoingMessage(topic: topic, key: TestSupport.bytes("k\($0)"), value: TestSupport.bytes("m\($0)"))
            })
        #expect(Set(reports.map(\.partition)).count == 6)
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                bootstrapServers: bootstrap, groupId: TestSupport.unique("group"), topics: [topic]),
            logger: logger)
        let received = try await TestSupport.consume(consumer, count: 300)
        #expect(Set(received.map { TestSupport.string($0.value)! }) == Set((0..<300).map { "m\($0)" }))
        await consumer.close()
        await producer.shutdown()
        #expect(await broker.terminate() == 0)
    }
}
