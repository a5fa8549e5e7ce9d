import Foundation
import Logging
import SlipwayKafka
import Testing

enum TestSupport {
    static func logger(_ label: String = "slipway.kafka.test", level: Logger.Level = .warning) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = level
        return logger
    }

    static func unique(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func string(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    /// Reads batches until `count` messages arrived (or `timeout` passes), storing offsets.
    static func consume(
        _ consumer: KafkaConsumer, count: Int, timeout: Duration = .seconds(30), store: Bool = true
    ) async throws -> [KafkaMessage] {
        try await withThrowingTaskGroup(of: [KafkaMessage]?.self) { group in
            group.addTask {
                var received: [KafkaMessage] = []
                for try await batch in consumer.batches(maxCount: 500) {
                    received.append(contentsOf: batch)
                    if store { try consumer.storeOffsets(batch) }
                    if received.count >= count { break }
                }
                return received
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            guard let messages = first else {
                throw TestTimeout(description: "timed out waiting for \(count) messages")
            }
            return messages
        }
    }
}

struct TestTimeout: Error, CustomStringConvertible {
    var description: String
}
