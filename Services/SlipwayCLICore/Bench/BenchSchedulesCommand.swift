import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import PostgresNIO
import SlipwayContracts
import SlipwayKafka
import SlipwayLocalRuntime
import SlipwayPlatform
import SwiftProtobuf
import Synchronization

/// `slipway bench schedules`: one real schedule-svc process with many schedules due at the same minute.
struct BenchSchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedules",
        abstract: "Measure schedule-svc: how late a slot fires with many schedules due at once, duplicates, idle CPU.",
        discussion: """
            Starts a throwaway PostgreSQL, dev broker and schedule-svc (the executable next to this one) unless
            --database-url / --kafka-brokers are given. It publishes a dataset and configs as training-svc would, then
            makes --schedules daily schedules (one per model, through POST /api/training/schedules, --clients at a
            time), all at the same minute: the first whole minute at least --lead seconds after they are made.
            fire lag: per slot, the moment its start is visible in schedule-svc's ledger (polled every 10 ms) minus
            the slot's nominal time. duplicates: starts beyond one per schedule and slot. idle_cpu_pct: schedule-svc's
            CPU time over --idle-seconds once every slot fired and was published (nothing is due for a day) and it has
            settled (a second under 2 % of a core; settle_s says how long that took), as a share of one core.
            """)

    @Option(help: "Active schedules, all due at the same minute.") var schedules = 10_000
    @Option(help: "Concurrent creating clients.") var clients = 8
    @Option(help: "Seconds between the last schedule made and their minute, at least.") var lead = 20
    @Option(help: "Seconds of idle CPU measurement after the slot.") var idleSeconds = 20
    @Option(
        help: """
            schedule-svc's Kafka fetch wait (ms). Its default, 100, is how late it may learn a training event from the dev \
            broker (a waiting fetch is not woken by new data); polling is most of an idle service's CPU.
            """)
    var fetchWaitMaxMs: Int?
    @OptionGroup var infrastructure: BenchInfrastructure.Options

    func run() async throws {
        Observability.bootstrap(level: .warning)
        let logger = serviceLogger("bench", level: .warning)
        try await BenchInfrastructure.using(infrastructure, logger: logger) { infrastructure in
            let database = try await infrastructure.freshDatabase("schedules", logger: logger)
            let service = try await BenchService.start(
                "schedule-svc", database: database, brokers: infrastructure.kafkaBrokers,
                arguments: fetchWaitMaxMs.map { ["--fetch-wait-max-ms", "\($0)"] } ?? [])
            defer { service.stop() }
            let client = PostgresClient(configuration: try database.clientConfiguration(), backgroundLogger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                try await measure(
                    base: service.base, brokers: infrastructure.kafkaBrokers, database: client, pid: service.process.processIdentifier, logger: logger
                )
            }
        }
    }

    func measure(base: String, brokers: String, database: PostgresClient, pid: Int32, logger: Logger) async throws {
        print("bench schedules: schedule-svc at \(base) (pid \(pid)), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        try await publishCatalog(brokers: brokers, logger: logger)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let started = Date()
        let slot: Date
        do {
            slot = try await makeSchedules(http: http, base: base)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
        print(String(format: "  made %d schedules in %.1f s; all due at %@", schedules, Date().timeIntervalSince(started), "\(slot)"))

        // Watch the ledger fill from before the slot until every schedule has fired (or 60 s past the slot).
        var seen: [Double] = []
        var counted = 0
        while Date() < slot.addingTimeInterval(60) {
            let count = try await scalar(database, "SELECT count(*) FROM schedule_ledger WHERE outcome LIKE 'started%'")
            if count > counted {
                let now = Date().timeIntervalSince(slot) * 1000
                seen += Array(repeating: now, count: Int(count) - counted)
                counted = Int(count)
            }
            if counted >= schedules { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        let fired = try await scalar(database, "SELECT count(*) FROM schedule_ledger WHERE outcome LIKE 'started%'")
        let distinct = try await scalar(
            database, "SELECT count(DISTINCT (schedule_id, slot_time)) FROM schedule_ledger WHERE outcome LIKE 'started%'")
        let sorted = seen.sorted()
        func percentile(_ p: Double) -> Double { sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        print(
            String(
                format: "  fired %d of %d slots; lag p50 %.0f ms, p99 %.0f ms, max %.0f ms", fired, schedules, percentile(0.5), percentile(0.99),
                sorted.last ?? .nan))

        // Idle: nothing due for a day, and the starts published (the outbox relay is done).
        let drained = Date().addingTimeInterval(60)
        while try await scalar(database, "SELECT count(*) FROM slipway.outbox") > 0, Date() < drained {
            try await Task.sleep(for: .milliseconds(100))
        }
        // The fire's aftermath (its events published, buffers freed) is not idleness: wait until a second passes with
        // under 2 % of a core spent (at most 30 s), and say how long that took.
        let settling = Date()
        while Date().timeIntervalSince(settling) < 30 {
            let start = Self.cpuSeconds(pid)
            try await Task.sleep(for: .seconds(1))
            if Self.cpuSeconds(pid) - start < 0.02 { break }
        }
        let settled = Date().timeIntervalSince(settling)
        let before = Self.cpuSeconds(pid)
        try await Task.sleep(for: .seconds(idleSeconds))
        let idle = (Self.cpuSeconds(pid) - before) / Double(idleSeconds) * 100
        print(String(format: "  settled %.0f s after the outbox drained; idle: %.2f%% of a core over %d s", settled, idle, idleSeconds))
        print(
            String(
                format:
                    "RESULT schedules=%d fired=%d fire_lag_p50_ms=%.0f fire_lag_p99_ms=%.0f duplicates=%d idle_cpu_pct=%.2f settle_s=%.0f fetch_wait_ms=%d",
                schedules, fired, percentile(0.5), percentile(0.99), fired - distinct, idle, settled, fetchWaitMaxMs ?? 100))  // schedule-svc's own default (ScheduleService.definition)
    }

    /// A dataset, feature config and model config, as training-svc publishes them (source positions 1–3).
    func publishCatalog(brokers: String, logger: Logger) async throws {
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientId: "bench-schedules"), logger: logger)
        var dataset = DatasetRegistered()
        dataset.datasetID = "bench-ds"
        var features = FeatureConfigCreated()
        features.featureConfigID = "bench-fc"
        var model = ModelConfigCreated()
        model.modelConfigID = "bench-mc"
        let messages: [(any SwiftProtobuf.Message, String)] = [(dataset, "Dataset"), (features, "FeatureConfig"), (model, "ModelConfig")]
        var outgoing: [KafkaOutgoingMessage] = []
        for (index, (message, type)) in messages.enumerated() {
            var envelope = EventEnvelope()
            envelope.eventID = UUID.v7().uuidString.lowercased()
            envelope.eventType = Swift.type(of: message).protoMessageName
            envelope.aggregateType = type
            envelope.aggregateID = "bench-\(type)"
            envelope.aggregateVersion = 1
            envelope.sourceService = "training"
            envelope.sourcePosition = Int64(index + 1)
            envelope.occurredAt = .init(date: Date())
            envelope.schemaVersion = 1
            envelope.payload = try message.serializedData()
            outgoing.append(
                KafkaOutgoingMessage(topic: EventContext.training.topic, key: Array(envelope.aggregateID.utf8), value: try envelope.serializedBytes())
            )
        }
        _ = try await producer.send(outgoing)
        await producer.shutdown()
    }

    /// Makes the schedules, daily at one UTC minute at least `lead` s after the estimate of when they are all made;
    /// returns that minute. The first request is retried until the projector has the catalog.
    func makeSchedules(http: HTTPClient, base: String) async throws -> Date {
        // ~1,000 schedules/s on two cores: the minute after that, plus the lead.
        let ready = Date().addingTimeInterval(Double(schedules) / 500 + Double(lead))
        let slot = Date(timeIntervalSince1970: ceil(ready.timeIntervalSince1970 / 60) * 60)
        let minute = Calendar.current.dateComponents(in: TimeZone(identifier: "UTC")!, from: slot)
        let time = String(format: "%02d:%02d", minute.hour ?? 0, minute.minute ?? 0)
        @Sendable func body(_ index: Int) -> [UInt8] {
            Array(
                #"{"model_name": "bench-model-\#(index)", "name": "bench \#(index)", "dataset_id": "bench-ds", "feature_config_id": "bench-fc", "model_config_id": "bench-mc", "schedule_type": "daily", "schedule_time": "\#(time)", "schedule_timezone": "UTC"}"#
                    .utf8)
        }
        @Sendable func post(_ index: Int) async throws -> Int {
            var request = HTTPClientRequest(url: "\(base)/api/training/schedules")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body(index)))
            let response = try await http.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        }
        let catalogDeadline = Date().addingTimeInterval(60)
        while try await post(0) != 201 {
            guard Date() < catalogDeadline else { throw BenchError("schedule-svc never learned the bench's dataset and configs") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let next = AtomicCounter(1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    while true {
                        let index = next.take()
                        guard index < schedules else { return }
                        let status = try await post(index)
                        guard status == 201 else { throw BenchError("creating schedule \(index) answered \(status)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        guard Date() < slot.addingTimeInterval(-2) else { throw BenchError("making the schedules took past their minute; raise --lead") }
        return slot
    }

    func scalar(_ client: PostgresClient, _ sql: String) async throws -> Int {
        for try await value in try await client.query(PostgresQuery(unsafeSQL: sql)).decode(Int64.self) { return Int(value) }
        return 0
    }

    /// User + system CPU seconds of a process (Linux `/proc/<pid>/stat`, in clock ticks of 1/100 s).
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / 100
    }
}

/// Hands out n, n + 1, n + 2 … to concurrent tasks.
final class AtomicCounter: Sendable {
    private let value: Mutex<Int>
    init(_ start: Int) { value = Mutex(start) }
    func take() -> Int {
        value.withLock {
            $0 += 1
            return $0 - 1
        }
    }
}
