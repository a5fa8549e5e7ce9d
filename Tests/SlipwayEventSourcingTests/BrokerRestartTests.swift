import Foundation
import PostgresNIO
import SlipwayEventSourcing
import SlipwayLocalRuntime
import SlipwayTestSupport
import Testing

/// The dev broker forgets everything on restart. Projections must notice the reset and backfill.
@Suite("Dev broker killed and restarted", .serialized, .timeLimit(.minutes(3)))
struct BrokerRestartTests {
    let environment = TestEnvironment.shared

    @Test("events keep being written across a broker restart; the projection ends complete and correct")
    func brokerRestart() async throws {
        let port = try freeTCPPort()
        let addressFile = environment.workDirectory + "/broker-\(port).addr"
        let broker = BrokerHandle(path: environment.devbrokerPath, port: port, addressFile: addressFile)
        try broker.start()
        defer { broker.terminate() }
        let brokers = "127.0.0.1:\(port)"

        let topic = "slipway.training.events"  // a topic the dev broker creates at start, so it exists again after the restart
        try await environment.withSourceAndSink(topic: topic) { source, sourceClient, sinkClient in
            let relay = try source.relay(brokers: brokers)
            let feed = CountingFeed(LocalEventFeed(store: source.store))
            let projector = makeProjector(client: sinkClient, service: "source", topic: topic, feed: feed, brokers: brokers, group: "sink.restart")
            try await withBackground([{ try await relay.run() }, { try await projector.run() }]) {
                for index in 0..<10 { try await source.create("c\(index)") }
                for round in 0..<300 {
                    try await source.increment("c\(round % 10)", by: Int64(round + 1))
                    if round == 100 {
                        try await eventually("some events projected before the kill") {
                            try await checkpoint(sinkClient, projection: "counter_totals", source: "source") > 50
                        }
                        broker.kill()
                    }
                    if round == 150 {
                        try broker.start()
                    }
                    try await Task.sleep(for: .milliseconds(5))
                }
                try await eventually(timeout: .seconds(60), "every event published after the restart") {
                    try await scalar(sourceClient, "SELECT count(*) FROM slipway.outbox") == 0
                }
                try await eventually(timeout: .seconds(60), "projection complete") {
                    try await checkpoint(sinkClient, projection: "counter_totals", source: "source") == 310
                }
            }
            #expect(try await counterRows(sinkClient, logger: TestEnvironment.logger) == counterRows(sourceClient, logger: TestEnvironment.logger))
            #expect(feed.served > 0, "the gap left by the lost broker was filled from the source feed")
        }
    }

}

/// A `slipway-devbroker` child process on a fixed port, which can be killed and started again.
final class BrokerHandle: @unchecked Sendable {
    let path: String
    let port: Int
    let addressFile: String
    private let lock = NSLock()
    private var process: Process?

    init(path: String, port: Int, addressFile: String) {
        self.path = path
        self.port = port
        self.addressFile = addressFile
    }

    func start() throws {
        try? FileManager.default.removeItem(atPath: addressFile)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--port", "\(port)", "--address-file", addressFile]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        while !FileManager.default.fileExists(atPath: addressFile) {
            guard Date() < deadline, process.isRunning else { throw BrokerDidNotStart() }
            Thread.sleep(forTimeInterval: 0.05)
        }
        lock.withLock { self.process = process }
    }

    /// SIGKILL: the broker loses everything it held.
    func kill() {
        guard let process = lock.withLock({ self.process }) else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func terminate() {
        guard let process = lock.withLock({ self.process }), process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    struct BrokerDidNotStart: Error {}
}
