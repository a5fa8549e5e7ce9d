import Foundation
import Logging
import SlipwayKafka
import Testing

/// Measures `send([...])` throughput for 300-byte keyed messages and prints
/// `PRODUCER-THROUGHPUT ...` lines. The printed number is the measurement; the floor asserted here only
/// catches batching that broke outright (it runs alongside the whole suite on two cores, where 10,000/s
/// was missed once while model-servers and routers of other suites were busy).
@Suite("Producer throughput", .serialized, .timeLimit(.minutes(1)))
struct ProducerThroughputTests {
    let logger = TestSupport.logger()

    @Test(arguments: [1_000, 10_000])
    func sequentialBatches(batchSize: Int) async throws {
        let cluster = try KafkaMockCluster(logger: logger)
        let topic = TestSupport.unique("throughput")
        try cluster.createTopic(topic, partitions: 3)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        _ = try await producer.send(KafkaOutgoingMessage(topic: topic, value: TestSupport.bytes("warm-up")))

        let total = 100_000
        let payload = [UInt8](repeating: 0x62, count: 300)
        let clock = ContinuousClock()
        let start = clock.now
        var delivered = 0
        for batchStart in stride(from: 0, to: total, by: batchSize) {
            let batch = (batchStart..<min(total, batchStart + batchSize)).map { i in
                KafkaOutgoingMessage(
                    topic: topic, key: TestSupport.bytes("aggregate-\(i % 1_000)"), value: payload,
                    headers: [KafkaHeader(key: "event-type", value: TestSupport.bytes("Bench"))])
            }
            delivered += try await producer.send(batch).count
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = Int(Double(total) / seconds)
        print("PRODUCER-THROUGHPUT: \(total) x 300 B in batches of \(batchSize): \(elapsed) = \(rate) msgs/s")
        #expect(delivered == total)
        #expect(rate > 2_000)
        await producer.shutdown()
    }
}

extension ProducerThroughputTests {
    @Test func batchLargerThanTheLocalQueueRetriesQueueFull() async throws {
        let cluster = try KafkaMockCluster(logger: logger)
        let topic = TestSupport.unique("queue-full")
        try cluster.createTopic(topic, partitions: 2)
        // librdkafka's local queue holds 500 messages: a batch of 5,000 must hit QUEUE_FULL.
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                bootstrapServers: cluster.bootstrapServers, extra: ["queue.buffering.max.messages": "500"]),
            logger: logger)
        let reports = try await producer.send(
            (0..<5_000).map {
                KafkaOutgoingMessage(topic: topic, key: TestSupport.bytes("k\($0 % 10)"), value: TestSupport.bytes("m\($0)"))
            })
        #expect(reports.count == 5_000)
        #expect(Set(reports.map { "\($0.partition)/\($0.offset)" }).count == 5_000)
        await producer.shutdown()
        // After shutdown, sending fails instead of hanging.
        await #expect(throws: KafkaError.self) {
            try await producer.send(KafkaOutgoingMessage(topic: topic, value: [1]))
        }
    }
}
