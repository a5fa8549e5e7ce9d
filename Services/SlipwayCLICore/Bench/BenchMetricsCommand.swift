import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayLocalRuntime
import SlipwayPlatform
import SwiftProtobuf

/// `slipway bench metrics`: one real metrics-svc process fed request logs through the dev broker, as
/// serving-router publishes them.
struct BenchMetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Measure metrics-svc: rollup ingest rate, freshness of the realtime view and 7-day query latency.",
        discussion: """
            Starts a throwaway PostgreSQL, dev broker and metrics-svc (the executable next to this one) unless
            --database-url / --kafka-brokers are given (then the serving topic must be one nobody else writes).
            ingest: --logs request logs (one instance of five features, ten product ids each, ~400 bytes) produced
            as fast as the broker takes them, the producer never more than --max-lag ahead of what metrics-svc has
            stored (the dev broker keeps only ~5 MiB per partition: a consumer further behind loses data).
            ingest_logs_per_s = logs / (first send → all counted in the rollups, polled in its database).
            burst: --burst logs at once; lag_zero_s = last send → all counted.
            freshness: with --background-rate logs/s of other traffic, --probes single logs, each waited for in
            GET /api/v1/monitoring/metrics/realtime/{endpoint}?minutes=1 (polled every 5 ms): send → visible.
            query: 7 days of traffic for one endpoint (every minute, two revisions, two keys), then
            GET /api/v1/monitoring/metrics/performance?endpoint_id=…&hours=168 --queries times, one client.
            drift: --drift-rows logs with ten features (six numeric, four categorical) in the last 24 hours and as many
            in the week before, then GET /api/v1/monitoring/drift/{endpoint} --drift-queries times: drift_ms is the
            slowest (read the samples, build the baselines, analyse every feature).
            """)

    @Option(help: "Request logs in the ingest phase.") var logs = 500_000
    @Option(help: "Most logs produced ahead of what metrics-svc has counted.") var maxLag = 40_000
    @Option(help: "Logs in the burst phase (keep it under the dev broker's retention, ~60,000).") var burst = 40_000
    @Option(help: "Single logs whose visibility is timed in the freshness phase.") var probes = 200
    @Option(help: "Logs per second of other traffic during the freshness phase.") var backgroundRate = 5_000
    @Option(help: "Performance queries over 7 days.") var queries = 200
    @Option(help: "Sampled rows on each side of the drift analysis.") var driftRows = 100_000
    @Option(help: "Drift analyses timed.") var driftQueries = 5
    @OptionGroup var infrastructure: BenchInfrastructure.Options

    func run() async throws {
        Observability.bootstrap(level: .warning)
        let logger = serviceLogger("bench", level: .warning)
        try await BenchInfrastructure.using(infrastructure, logger: logger) { infrastructure in
            let runID = UUID().uuidString.prefix(6).lowercased()
            let database = try DatabaseURL(infrastructure.postgresURL, defaultDatabase: "bench_metrics_\(runID)")
            try await database.ensureDatabaseExists(logger: logger)
            let service = try await BenchService.start(
                "metrics-svc", database: database, brokers: infrastructure.kafkaBrokers, arguments: ["--fetch-wait-max-ms", "10"])
            defer { service.stop() }
            let client = PostgresClient(configuration: try database.clientConfiguration(), backgroundLogger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                let run = MetricsBenchRun(
                    runID: String(runID), brokers: infrastructure.kafkaBrokers, base: service.base, database: client, logger: logger)
                try await run.measure(self)
            }
        }
    }
}

/// The phases, in order, against one running metrics-svc.
private struct MetricsBenchRun {
    let runID: String
    let brokers: String
    let base: String
    let database: PostgresClient
    let logger: Logger

    func measure(_ options: BenchMetricsCommand) async throws {
        print("bench metrics: metrics-svc at \(base), kafka \(brokers), \(ProcessInfo.processInfo.activeProcessorCount) cores")
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientId: "bench-metrics", lingerMs: 5), logger: logger)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            // Warm-up: the consumer group has joined and the producer knows the partitions.
            try await send(producer, (0..<100).map { log(endpoint: "warmup", index: $0, at: Date()) })
            try await waitCounted("warmup", 100, timeout: .seconds(60))

            let (rate, ingestSeconds) = try await ingestPhase(producer, logs: options.logs, maxLag: options.maxLag)
            print(String(format: "  ingest: %d logs in %.2f s = %.0f logs/s into rollups", options.logs, ingestSeconds, rate))
            let lagZero = try await burstPhase(producer, logs: options.burst)
            print(String(format: "  burst: %d logs at once, counted %.2f s after the last was sent", options.burst, lagZero))
            let freshness = try await freshnessPhase(producer, http: http, probes: options.probes, backgroundRate: options.backgroundRate)
            print("  freshness (send → realtime view, \(options.backgroundRate) logs/s beside): \(freshness.summary)")
            let query = try await queryPhase(producer, http: http, queries: options.queries)
            print("  query performance?hours=168 over 7 days of minutes: \(query.summary)")
            let drift = try await driftPhase(producer, http: http, rows: options.driftRows, queries: options.driftQueries)
            print("  drift of \(options.driftRows) rows × 10 features against as many: \(drift.summary)")
            print(
                String(
                    format:
                        "RESULT ingest_logs_per_s=%.0f lag_zero_s=%.2f freshness_p50_ms=%.0f freshness_p99_ms=%.0f query_p50_ms=%.1f query_p99_ms=%.1f drift_ms=%.0f",
                    rate, lagZero, freshness.p50, freshness.p99, query.p50, query.p99, drift.sorted.last ?? 0))
        } catch {
            await producer.shutdown()
            try? await http.shutdown()
            throw error
        }
        await producer.shutdown()
        try await http.shutdown()
    }

    /// Logs of one endpoint share a partition; the dev broker keeps ~5 MiB of each, so one endpoint's logs are sent in
    /// chunks well under that (5,000 × ≤ 700 bytes), each counted before the next.
    static let singlePartitionChunk = 5_000

    // MARK: Phases

    func ingestPhase(_ producer: KafkaProducer, logs count: Int, maxLag: Int) async throws -> (Double, Double) {
        let endpoints = (0..<8).map { "bench-\(runID)-ingest-\($0)" }
        let started = ContinuousClock.now
        var sent = 0
        var counted = 0
        let chunk = 5_000
        while sent < count {
            if sent - counted >= maxLag {
                counted = try await countedRequests(prefix: "bench-\(runID)-ingest-")
                if sent - counted >= maxLag {
                    try await Task.sleep(for: .milliseconds(5))
                    continue
                }
            }
            let size = min(chunk, count - sent)
            let now = Date()
            try await send(producer, (sent..<sent + size).map { log(endpoint: endpoints[$0 % endpoints.count], index: $0, at: now) })
            sent += size
        }
        try await waitCounted(prefix: "bench-\(runID)-ingest-", count, timeout: .seconds(300))
        let seconds = (ContinuousClock.now - started).seconds
        return (Double(count) / seconds, seconds)
    }

    func burstPhase(_ producer: KafkaProducer, logs count: Int) async throws -> Double {
        // Over eight endpoints, so over the partitions: one partition alone holds only ~5 MiB in the dev broker.
        let prefix = "bench-\(runID)-burst-"
        let now = Date()
        try await send(producer, (0..<count).map { log(endpoint: prefix + "\($0 % 8)", index: $0, at: now) })
        let sentAt = ContinuousClock.now
        try await waitCounted(prefix: prefix, count, timeout: .seconds(120))
        return (ContinuousClock.now - sentAt).seconds
    }

    func freshnessPhase(_ producer: KafkaProducer, http: HTTPClient, probes: Int, backgroundRate: Int) async throws -> Latencies {
        let probeEndpoint = "bench-\(runID)-probe"
        return try await withThrowingTaskGroup(of: Latencies?.self) { group in
            group.addTask {
                // Other traffic, in 10 ms slices, until the probes are done.
                let perSlice = max(1, backgroundRate / 100)
                var index = 0
                while !Task.isCancelled {
                    let now = Date()
                    try await send(producer, (0..<perSlice).map { log(endpoint: "bench-\(runID)-background", index: index + $0, at: now) })
                    index += perSlice
                    try? await Task.sleep(for: .milliseconds(10))
                }
                return nil
            }
            var samples: [Double] = []
            let url = "\(base)/api/v1/monitoring/metrics/realtime/\(probeEndpoint)?minutes=1"
            for probe in 1...probes {
                let sent = ContinuousClock.now
                try await send(producer, [log(endpoint: probeEndpoint, index: probe, at: Date())])
                while try await realtimeTotal(http, url) < probe {
                    guard ContinuousClock.now - sent < .seconds(30) else { throw BenchError("probe \(probe) not visible within 30 s") }
                    try await Task.sleep(for: .milliseconds(5))
                }
                samples.append((ContinuousClock.now - sent).milliseconds)
            }
            group.cancelAll()
            return Latencies(samples)
        }
    }

    func queryPhase(_ producer: KafkaProducer, http: HTTPClient, queries: Int) async throws -> Latencies {
        let endpoint = "bench-\(runID)-week"
        let now = Date()
        let minutes = 7 * 24 * 60
        // Four logs a minute for a week: both revisions and both keys in every minute bucket.
        let week = (0..<(minutes * 4)).map { index in
            log(endpoint: endpoint, index: index, at: now.addingTimeInterval(-Double(index / 4) * 60), revisions: 2, keys: 2)
        }
        for start in stride(from: 0, to: week.count, by: Self.singlePartitionChunk) {
            try await send(producer, Array(week[start..<min(start + Self.singlePartitionChunk, week.count)]))
            try await waitCounted(endpoint, min(start + Self.singlePartitionChunk, week.count), timeout: .seconds(120))
        }
        let url = "\(base)/api/v1/monitoring/metrics/performance?endpoint_id=\(endpoint)&hours=168"
        var samples: [Double] = []
        for _ in 0..<queries {
            let started = ContinuousClock.now
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 64 << 20)
            guard response.status == .ok else { throw BenchError("performance query answered \(response.status)") }
            samples.append((ContinuousClock.now - started).milliseconds)
        }
        return Latencies(samples)
    }

    func driftPhase(_ producer: KafkaProducer, http: HTTPClient, rows: Int, queries: Int) async throws -> Latencies {
        let endpoint = "bench-\(runID)-drift"
        let now = Date()
        // Spread so that no minute holds more than its sample keeps (100): every row is analysed.
        let comparisonSpacing = 86_000.0 / Double(rows)
        let baselineSpacing = 6.0 * 86_400 / Double(rows)
        var sent = 0
        for side in 0..<2 {
            for start in stride(from: 0, to: rows, by: Self.singlePartitionChunk) {
                let logs = (start..<min(start + Self.singlePartitionChunk, rows)).map { index in
                    let at =
                        side == 0
                        ? now.addingTimeInterval(-Double(index) * comparisonSpacing)
                        : now.addingTimeInterval(-86_400 - 3_600 - Double(index) * baselineSpacing)
                    var log = log(endpoint: endpoint, index: index, at: at)
                    log.instances = [driftRow(index: index, shifted: side == 0)]
                    return log
                }
                try await send(producer, logs)
                sent += logs.count
                try await waitCounted(endpoint, sent, timeout: .seconds(120))
            }
        }
        let url = "\(base)/api/v1/monitoring/drift/\(endpoint)?baseline_days=7&comparison_hours=24"
        var samples: [Double] = []
        for _ in 0..<queries {
            let started = ContinuousClock.now
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(60))
            let body = try await response.body.collect(upTo: 64 << 20)
            guard response.status == .ok else { throw BenchError("drift answered \(response.status): \(String(buffer: body))") }
            samples.append((ContinuousClock.now - started).milliseconds)
        }
        return Latencies(samples)
    }

    /// Ten features; the comparison side has two of them shifted, so the analysis does real work on both kinds.
    func driftRow(index: Int, shifted: Bool) -> FeatureRow {
        var row = FeatureRow()
        let wave = Double((index * 7919) % 1000) / 1000
        for numeric in 0..<6 {
            let value = wave * 100 + Double(numeric) + (shifted && numeric == 0 ? 25 : 0)
            row.features["num_\(numeric)"] = .with { $0.doubleValue = value }
        }
        for categorical in 0..<4 {
            let category = shifted && categorical == 0 && index % 3 == 0 ? "new" : "c\((index + categorical) % 12)"
            row.features["cat_\(categorical)"] = .with { $0.stringValue = category }
        }
        return row
    }

    // MARK: Plumbing

    /// A request log of `endpoint`, answered by one of `revisions` revisions, with one of `keys` API keys.
    func log(endpoint: String, index: Int, at date: Date, revisions: Int = 2, keys: Int = 4) -> PredictionRequestLogged {
        let route = RequestLogs.Route(
            endpointID: endpoint, deploymentID: "dep-\(endpoint)", registeredModelID: "bench-model",
            revisions: (0..<revisions).map { .init(id: "rev-\(endpoint)-\($0)", version: Int32($0 + 1), modelVersionID: "bench-model/\($0 + 1)") })
        return RequestLogs.log(id: "\(runID)-\(index)", route: route, index: index, at: date, keys: keys)
    }

    func send(_ producer: KafkaProducer, _ logs: [PredictionRequestLogged]) async throws {
        _ = try await producer.send(try RequestLogs.messages(logs))
    }

    /// Requests counted in minute buckets for endpoints starting with `prefix` (or exactly `endpoint`).
    func countedRequests(prefix: String) async throws -> Int {
        let pattern = prefix + "%"
        let rows = try await database.query(
            "SELECT coalesce(sum(requests), 0)::bigint FROM serving_rollups WHERE granularity_s = 60 AND endpoint_id LIKE \(pattern)",
            logger: logger)
        for try await total in rows.decode(Int64.self) { return Int(total) }
        return 0
    }

    func waitCounted(prefix: String, _ count: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await countedRequests(prefix: prefix) < count {
            guard ContinuousClock.now < deadline else { throw BenchError("metrics-svc did not count \(count) logs of \(prefix)* within \(timeout)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func waitCounted(_ endpoint: String, _ count: Int, timeout: Duration) async throws {
        try await waitCounted(prefix: endpoint, count, timeout: timeout)
    }

    func realtimeTotal(_ http: HTTPClient, _ url: String) async throws -> Int {
        let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 16 << 20)
        guard response.status == .ok else { return 0 }  // 404 until the endpoint's first log is in
        let json = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        return ((json?["summary"] as? [String: Any])?["requests"] as? [String: Any])?["total"] as? Int ?? 0
    }
}
