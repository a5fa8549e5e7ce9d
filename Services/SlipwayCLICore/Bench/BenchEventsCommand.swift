import ArgumentParser
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayLocalRuntime
import SlipwayPlatform

/// `slipway bench events`: the event pipeline end to end — command → event store + outbox → relay →
/// Kafka → a projection in another process — for throughput, commit-to-read-model latency at a fixed
/// rate, and replay of a read model from a million events.
struct BenchEventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Measure event throughput, end-to-end latency and replay speed.",
        discussion: "Starts a throwaway PostgreSQL and dev broker unless --database-url / --kafka-brokers are given. Ends with a RESULT line.")

    @Option(help: "Events for the throughput phase.") var events = 50_000
    /// Each writer waits for its own commit before the next command (a closed loop), so throughput is
    /// writers ÷ commit latency: enough must be in flight to load the pipeline, as many API clients would.
    @Option(help: "Concurrent command writers in the throughput phase.") var writers = 128
    @Option(help: "Accounts the commands are spread over.") var accounts = 5_000
    @Option(help: "Events per second in the latency phase.") var rate = 500
    @Option(help: "Seconds of the latency phase.") var latencySeconds = 10
    @Option(help: "Events to replay (0 skips the replay phase).") var replayEvents = 1_000_000
    @OptionGroup var infrastructure: BenchInfrastructure.Options

    func run() async throws {
        Observability.bootstrap(level: .warning)
        let logger = serviceLogger("bench", level: .warning)
        try await BenchInfrastructure.using(infrastructure, logger: logger) { infrastructure in
            try await measure(infrastructure, logger: logger)
        }
    }

    func measure(_ infrastructure: BenchInfrastructure, logger: Logger) async throws {
        let runID = UUID().uuidString.prefix(6).lowercased()
        let sourceURL = try DatabaseURL(infrastructure.postgresURL, defaultDatabase: "bench_source_\(runID)")
        let sinkURL = try DatabaseURL(infrastructure.postgresURL, defaultDatabase: "bench_sink_\(runID)")
        try await sourceURL.ensureDatabaseExists(logger: logger)
        let topic = "slipway.bench-\(runID).events"
        print(
            "bench events: postgres \(sourceURL.host):\(sourceURL.port), kafka \(infrastructure.kafkaBrokers), \(ProcessInfo.processInfo.activeProcessorCount) cores"
        )

        let client = PostgresClient(configuration: try sourceURL.clientConfiguration(), backgroundLogger: logger)
        let sinkClient = PostgresClient(configuration: try sinkURL.clientConfiguration(), backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.addTask { await sinkClient.run() }
            defer { group.cancelAll() }

            let ledger = LedgerProjection()
            try await Migrator.migrate([EventStore.migrations, ledger.migrationSet], client: client, logger: logger)
            let store = EventStore(service: "bench", client: client, logger: logger, readModel: ledger)
            let feedPort = try freeTCPPort()
            let sink = try startSink(sinkURL: sinkURL, brokers: infrastructure.kafkaBrokers, feedURL: "http://127.0.0.1:\(feedPort)", topic: topic)
            defer { if sink.process.isRunning { sink.process.terminate(); sink.process.waitUntilExit() } }

            var relayConfiguration = OutboxRelay.Configuration(topic: topic, database: try sourceURL.connectionConfiguration())
            relayConfiguration.idlePoll = .milliseconds(20)
            let brokers = infrastructure.kafkaBrokers
            let relay = OutboxRelay(store: store, configuration: relayConfiguration, logger: logger) {
                try KafkaProducer(
                    configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientId: "bench-relay", lingerMs: 2), logger: logger)
            }
            let feed = try feedServer(store: store, port: feedPort, logger: logger)
            group.addTask { try await relay.run() }
            group.addTask { try await feed.run() }

            try await waitFor(file: sink.readyFile, process: sink.process)
            // Warm-up: the sink joins its consumer group and the producer learns the partitions.
            let warmup = 500
            try await write(store: store, count: warmup, writers: 4)
            try await waitForCheckpoint(sinkClient, Int64(warmup), sink: sink.process, timeout: .seconds(60))
            print("  warm-up: \(warmup) events projected")

            // Throughput: as fast as the writers go; the clock stops when the other process has applied the last event.
            let started = ContinuousClock.now
            try await write(store: store, count: events, writers: writers)
            let written = ContinuousClock.now - started
            try await waitForCheckpoint(sinkClient, Int64(warmup + events), sink: sink.process, timeout: .seconds(600))
            let elapsed = ContinuousClock.now - started
            let eps = Double(events) / elapsed.seconds
            print(
                String(
                    format: "  throughput: %d events in %.2f s end to end = %.0f events/s (commands committed at %.0f/s)",
                    events, elapsed.seconds, eps, Double(events) / written.seconds))

            // Latency at a fixed rate: commit on the source to visible in the sink's read model.
            let firstPosition = Int64(warmup + events) + 1
            let latencyEvents = rate * latencySeconds
            try await writePaced(store: store, count: latencyEvents, rate: rate)
            let lastPosition = Int64(warmup + events + latencyEvents)
            try await waitForCheckpoint(sinkClient, lastPosition, sink: sink.process, timeout: .seconds(120))
            let (p50, p99, maxLatency) = try await latencyPercentiles(sinkClient, from: firstPosition, to: lastPosition)
            print(
                String(format: "  latency at %d events/s for %d s: p50 %.1f ms, p99 %.1f ms, max %.1f ms", rate, latencySeconds, p50, p99, maxLatency)
            )

            var replaySeconds = 0.0
            var replayRate = 0.0
            var verified = "skipped"
            if replayEvents > 0 {
                (replaySeconds, replayRate, verified) = try await replayPhase(
                    baseURL: infrastructure.postgresURL, runID: String(runID), logger: logger)
            }
            print(
                String(
                    format: "RESULT eps=%.0f p50_ms=%.1f p99_ms=%.1f replay_events=%d replay_s=%.1f replay_eps=%.0f replay_verified=%@",
                    eps, p50, p99, replayEvents, replaySeconds, replayRate, verified))
        }
    }

    // MARK: Phases

    func write(store: EventStore, count: Int, writers: Int) async throws {
        let accounts = self.accounts
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var index = writer
                    while index < count {
                        try await store.execute(
                            BenchAccount.self, aggregateID: "acct-\(index % accounts)", command: .deposit([Int64(index % 100 + 1)]),
                            metadata: CommandMetadata())
                        index += writers
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Paced writes: one command every 1/rate seconds on a fixed schedule (late commands do not shift it).
    func writePaced(store: EventStore, count: Int, rate: Int) async throws {
        let accounts = self.accounts
        let interval = Duration.nanoseconds(1_000_000_000 / Int64(rate))
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            let lanes = 8
            for lane in 0..<lanes {
                group.addTask {
                    var index = lane
                    while index < count {
                        try await Task.sleep(until: start + interval * index, clock: .continuous)
                        try await store.execute(
                            BenchAccount.self, aggregateID: "acct-\(index % accounts)", command: .deposit([1]),
                            metadata: CommandMetadata())
                        index += lanes
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    func replayPhase(baseURL: String, runID: String, logger: Logger) async throws -> (Double, Double, String) {
        let url = try DatabaseURL(baseURL, defaultDatabase: "bench_replay_\(runID)")
        try await url.ensureDatabaseExists(logger: logger)
        let client = PostgresClient(configuration: try url.clientConfiguration(), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let ledger = LedgerProjection()
            try await Migrator.migrate([EventStore.migrations, ledger.migrationSet], client: client, logger: logger)
            let store = EventStore(service: "bench", client: client, logger: logger, readModel: ledger)
            // Seed through the real write path, 1,000 events per command.
            let perCommand = 1000
            let commands = (replayEvents + perCommand - 1) / perCommand
            let seedStart = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { seeders in
                for seeder in 0..<4 {
                    seeders.addTask {
                        var command = seeder
                        while command < commands {
                            let size = min(perCommand, replayEvents - command * perCommand)
                            try await store.execute(
                                BenchAccount.self, aggregateID: "acct-\(command)", command: .deposit((0..<size).map { Int64($0 % 50 + 1) }),
                                metadata: CommandMetadata())
                            command += 4
                        }
                    }
                }
                try await seeders.waitForAll()
            }
            print(String(format: "  replay: seeded %d events in %.1f s", replayEvents, (ContinuousClock.now - seedStart).seconds))
            let report = try await Replayer.replay(ledger, from: store, verify: true, logger: logger)
            let verified = report.verified == true ? "true" : "false"
            print(
                String(
                    format: "  replay: rebuilt %@ from %d events in %.1f s (%.0f events/s), verified against live: %@",
                    report.projection, report.events, report.seconds, report.eventsPerSecond, verified))
            return (report.seconds, report.eventsPerSecond, verified)
        }
    }

    // MARK: Plumbing

    struct Sink {
        let process: Process
        let readyFile: String
    }

    func startSink(sinkURL: DatabaseURL, brokers: String, feedURL: String, topic: String) throws -> Sink {
        let readyFile = FileManager.default.temporaryDirectory.appendingPathComponent("bench-sink-\(UUID().uuidString).ready").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path), let found = findExecutable(named: "slipway") {
            process.executableURL = found
        }
        process.arguments = [
            "bench", "sink", "--database-url", "postgres://\(sinkURL.username)@\(sinkURL.host):\(sinkURL.port)/\(sinkURL.database)",
            "--kafka-brokers", brokers, "--feed-url", feedURL, "--topic", topic, "--ready-file", readyFile,
        ]
        try process.run()
        return Sink(process: process, readyFile: readyFile)
    }

    func waitFor(file: String, process: Process) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: file) {
            guard ContinuousClock.now < deadline, process.isRunning else { throw BenchError("the bench sink process did not start") }
            try await Task.sleep(for: .milliseconds(20))
        }
        try? FileManager.default.removeItem(atPath: file)
    }

    func feedServer(store: EventStore, port: Int, logger: Logger) throws -> some Service {
        let definition = ServiceDefinition(name: "bench", topic: "slipway.bench.events", defaultPort: port, readModel: LedgerProjection())
        let config = try ServiceConfig.load(service: "bench", defaultPort: port, reader: ConfigReader(arguments: [], environment: [:]))
        let environment = ServiceEnvironment(config: config, store: store, postgres: store.client, httpClient: .slipwayInternal, logger: logger)
        let readiness = Readiness()
        readiness.markMigrated()
        let router = SlipwayServiceRunner.buildRouter(definition, ServiceComponents(), environment: environment, readiness: readiness)
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
    }

    /// Fails at once when the sink process has ended: nothing would move the checkpoint any more.
    func waitForCheckpoint(_ client: PostgresClient, _ position: Int64, sink: Process, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        let logger = Logger(label: "bench")
        while ContinuousClock.now < deadline {
            guard sink.isRunning else {
                throw BenchError("the bench sink process exited with status \(sink.terminationStatus) before reaching position \(position)")
            }
            let rows = try await client.query(
                "SELECT coalesce(max(position), 0) FROM slipway.projection_checkpoints WHERE projection = 'ledger'", logger: logger)
            for try await current in rows.decode(Int64.self) where current >= position { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw BenchError("the sink did not reach position \(position) within \(timeout)")
    }

    func latencyPercentiles(_ client: PostgresClient, from: Int64, to: Int64) async throws -> (Double, Double, Double) {
        let rows = try await client.query(
            """
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_us), percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_us), max(latency_us)::float8
            FROM bench_latency WHERE position BETWEEN \(from) AND \(to)
            """, logger: Logger(label: "bench"))
        for try await (p50, p99, maxValue) in rows.decode((Double, Double, Double).self) {
            return (p50 / 1000, p99 / 1000, maxValue / 1000)
        }
        return (0, 0, 0)
    }
}
