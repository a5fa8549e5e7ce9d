import ArgumentParser
import Dispatch
import Foundation
import Logging
import SlipwayContracts
import SlipwayKafka

#if canImport(Glibc)
    import Glibc
#endif

/// The platform's topics, created at start.
let platformTopics: [(name: String, partitions: Int32)] = EventContext.allCases.map { ($0.topic, $0.partitions) }

@main
struct DevBrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipway-devbroker",
        abstract: "A local Kafka-protocol broker (librdkafka's mock cluster) with the platform's topics.")

    @Option(
        help: ArgumentHelp(
            "Publish a stable address: a proxy on 127.0.0.1:PORT (PORT+i for broker i+1) forwards to the mock cluster and makes clients use only the proxy addresses, so they survive a restart on the same port (0 = free ports).",
            valueName: "PORT"))
    var port: Int?

    @Option(help: "Number of mock brokers.")
    var brokers: Int = 1

    @Option(help: "Write the bootstrap address to this file once the topics exist.")
    var addressFile: String?

    @Option(name: .customLong("topic"), help: "Extra topic as name:partitions (repeatable).")
    var topics: [String] = []

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String = "info"

    func validate() throws {
        guard brokers >= 1 else { throw ValidationError("--brokers must be at least 1") }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be 0...65535") }
        _ = try parseTopics()
    }

    func parseTopics() throws -> [(name: String, partitions: Int32)] {
        try topics.map { spec in
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, let count = Int32(parts[1]), count > 0 else {
                throw ValidationError("--topic must be name:partitions, got '\(spec)'")
            }
            return (String(parts[0]), count)
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "slipway.devbroker")
        signal(SIGPIPE, SIG_IGN)

        var cluster: KafkaMockCluster? = try KafkaMockCluster(brokerCount: brokers, logger: logger)
        var bootstrap = cluster!.bootstrapServers
        for topic in platformTopics + (try parseTopics()) {
            try cluster!.createTopic(topic.name, partitions: topic.partitions)
        }
        var proxies: [TCPProxy] = []
        if let port {
            // One proxy per mock broker, on PORT, PORT+1, ... (each a free port if PORT is 0).
            let mockAddresses = try bootstrap.split(separator: ",").map { entry in
                let hostPort = entry.split(separator: ":")
                guard hostPort.count == 2, let targetPort = UInt16(hostPort[1]) else {
                    throw ValidationError("unexpected mock bootstrap address \(bootstrap)")
                }
                return (host: String(hostPort[0]), port: targetPort)
            }
            for (index, mock) in mockAddresses.enumerated() {
                let listenPort = port == 0 ? 0 : UInt16(port + index)
                proxies.append(try TCPProxy(port: listenPort, targetHost: mock.host, targetPort: mock.port, logger: logger))
            }
            var advertised: [String: (host: String, port: Int32)] = [:]
            for proxy in proxies {
                advertised["\(proxy.targetHost):\(proxy.targetPort)"] = ("127.0.0.1", Int32(proxy.port))
            }
            let rewriter = KafkaAddressRewriter(addresses: advertised)
            for proxy in proxies {
                proxy.start(rewriter: rewriter)
                logger.info(
                    "broker proxy listening",
                    metadata: [LogKey.proxyPort: "\(proxy.port)", LogKey.kafkaMock: "\(proxy.targetHost):\(proxy.targetPort)"])
            }
            bootstrap = "127.0.0.1:\(proxies[0].port)"
        }
        if let addressFile {
            let temporary = addressFile + ".tmp"
            try bootstrap.write(toFile: temporary, atomically: false, encoding: .utf8)
            guard rename(temporary, addressFile) == 0 else {
                throw ValidationError("cannot write \(addressFile): \(String(cString: strerror(errno)))")
            }
        }
        FileHandle.standardOutput.write(Data("SLIPWAY_KAFKA_BROKERS=\(bootstrap)\n".utf8))
        logger.info("dev broker ready", metadata: [LogKey.kafkaBootstrap: "\(bootstrap)"])

        let received = await waitForTermination()
        logger.info("dev broker stopping", metadata: [LogKey.signal: "\(received)"])
        for proxy in proxies { proxy.stop() }
        cluster = nil
        if let addressFile { unlink(addressFile) }
    }

    /// Suspends until SIGTERM or SIGINT.
    private func waitForTermination() async -> Int32 {
        let queue = DispatchQueue(label: "slipway.devbroker.signals")
        return await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            let once = ResumeOnce(continuation)
            var sources: [DispatchSourceSignal] = []
            for number in [SIGTERM, SIGINT] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { once.resume(number) }
                source.resume()
                sources.append(source)
            }
            // Keep the sources alive for the life of the process.
            SignalSources.keep(sources)
        }
    }
}

private final class ResumeOnce: @unchecked Sendable {
    private var continuation: CheckedContinuation<Int32, Never>?
    private let lock = NSLock()
    init(_ continuation: CheckedContinuation<Int32, Never>) { self.continuation = continuation }
    func resume(_ value: Int32) {
        lock.lock()
        let pending = continuation
        continuation = nil
        lock.unlock()
        pending?.resume(returning: value)
    }
}

private enum SignalSources {
    nonisolated(unsafe) static var retained: [DispatchSourceSignal] = []
    static func keep(_ sources: [DispatchSourceSignal]) { retained.append(contentsOf: sources) }
}
