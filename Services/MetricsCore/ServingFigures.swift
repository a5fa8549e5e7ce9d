import Foundation
import SlipwayPlatform
import SlipwayStatistics

/// The serving figures of one merged set of buckets, as the API shows them. Percentiles come from the
/// merged sketch (≤ 1 % relative error), never from averaging stored percentiles.
public struct ServingSummary: Codable, Sendable, Equatable {
    public struct Requests: Codable, Sendable, Equatable {
        public let total: Int64
        public let successful: Int64
        /// Every answer that was not 2xx.
        public let failed: Int64
        public let clientErrors: Int64
        public let serverErrors: Int64
    }

    public struct Latency: Codable, Sendable, Equatable {
        public let avgMs: Double
        public let p50Ms: Double
        public let p95Ms: Double
        public let p99Ms: Double
        public let maxMs: Double

        init?(_ sketch: LatencySketch) {
            guard let mean = sketch.mean, let p50 = sketch.quantile(0.5), let p95 = sketch.quantile(0.95), let p99 = sketch.quantile(0.99),
                let max = sketch.max
            else { return nil }
            func ms(_ micros: Double) -> Double { (micros / 10).rounded() / 100 }
            avgMs = ms(mean)
            p50Ms = ms(p50)
            p95Ms = ms(p95)
            p99Ms = ms(p99)
            maxMs = ms(max)
        }
    }

    public let requests: Requests
    /// Failed / total (0 without requests).
    public let errorRate: Double
    /// 5xx / total: what the model side caused.
    public let serverErrorRate: Double
    public let requestsPerMinute: Double
    public let uniqueCustomers: Int
    /// Router latency (what clients saw); null without requests.
    @Nullable public var latency: Latency?
    /// Time in the model-server; null when no request reached one.
    @Nullable public var upstreamLatency: Latency?
    @Nullable public var avgTopK: Double?
    @Nullable public var avgBatchSize: Double?
    /// Request logs serving-router lost in this window: the figures above miss that many requests.
    public let logsDropped: Int64
    /// False when logs were dropped, so a reader can tell complete figures from incomplete ones.
    public let complete: Bool
    @Nullable public var lastRequestAt: Date?

    public init(_ cell: RollupCell, seconds: Double) {
        let total = cell.requests
        requests = Requests(
            total: total, successful: cell.successes, failed: total - cell.successes, clientErrors: cell.clientErrors,
            serverErrors: cell.serverErrors)
        errorRate = total > 0 ? Self.rounded(Double(total - cell.successes) / Double(total)) : 0
        serverErrorRate = total > 0 ? Self.rounded(Double(cell.serverErrors) / Double(total)) : 0
        requestsPerMinute = Self.rounded(Double(total) / max(seconds, 1) * 60)
        uniqueCustomers = cell.customers.estimate
        latency = Latency(cell.latency)
        upstreamLatency = Latency(cell.upstreamLatency)
        avgTopK = cell.topKRequests > 0 ? Self.rounded(Double(cell.topKSum) / Double(cell.topKRequests)) : nil
        avgBatchSize = total > 0 ? Self.rounded(Double(cell.instances) / Double(total)) : nil
        logsDropped = cell.logsDropped
        complete = cell.logsDropped == 0
        lastRequestAt = cell.lastReceivedAt
    }

    static func rounded(_ value: Double) -> Double { (value * 10_000).rounded() / 10_000 }
}

/// One point of a chartable series: a minute or an hour.
public struct ServingPoint: Codable, Sendable, Equatable {
    public let start: Date
    public let requests: Int64
    public let failed: Int64
    public let serverErrors: Int64
    public let errorRate: Double
    @Nullable public var p50Ms: Double?
    @Nullable public var p95Ms: Double?
    @Nullable public var p99Ms: Double?
    public let logsDropped: Int64

    init(start: Date, cell: RollupCell) {
        let summary = ServingSummary(cell, seconds: 60)
        self.start = start
        requests = cell.requests
        failed = summary.requests.failed
        serverErrors = cell.serverErrors
        errorRate = summary.errorRate
        p50Ms = summary.latency?.p50Ms
        p95Ms = summary.latency?.p95Ms
        p99Ms = summary.latency?.p99Ms
        logsDropped = cell.logsDropped
    }
}

/// One revision's figures in the window: how the canary compares with the stable revision.
public struct RevisionFigures: Codable, Sendable, Equatable {
    public let deploymentId: String
    public let revisionId: String
    public let modelVersionId: String
    public let versionNumber: Int32
    public let summary: ServingSummary
}

/// One API key's share of the traffic.
public struct ApiKeyFigures: Codable, Sendable, Equatable {
    public let apiKeyId: String
    public let requests: Int64
    public let failed: Int64
}

/// Merges the cells of a window into the views the routes answer with.
public struct ServingFiguresBuilder: Sendable {
    public let window: ServingWindow
    public private(set) var total = RollupCell()
    private var revisions: [String: (deploymentID: String, cell: RollupCell)] = [:]
    private var apiKeys: [String: RollupCell] = [:]
    private var points: [Date: RollupCell] = [:]
    var step: RollupGranularity { window.step }

    public init(window: ServingWindow) {
        self.window = window
    }

    /// Cells of both granularities; each request is in exactly one of the cells the window's plan read.
    public mutating func add(_ key: RollupKey, _ cell: RollupCell) {
        total.merge(cell)
        revisions[key.revisionID, default: (key.deploymentID, RollupCell())].cell.merge(cell)
        if !key.apiKeyID.isEmpty { apiKeys[key.apiKeyID, default: RollupCell()].merge(cell) }
        points[step.bucket(of: key.bucketStart), default: RollupCell()].merge(cell)
    }

    public var summary: ServingSummary { ServingSummary(total, seconds: window.seconds) }

    /// Every revision that answered (or lost logs) in the window, busiest first; requests rejected before
    /// routing (unknown key) have no revision and are left out here (they are in the summary).
    public var byRevision: [RevisionFigures] {
        revisions.filter { !$0.key.isEmpty }
            .map { revision, entry in
                RevisionFigures(
                    deploymentId: entry.deploymentID, revisionId: revision, modelVersionId: entry.cell.modelVersionID,
                    versionNumber: entry.cell.versionNumber, summary: ServingSummary(entry.cell, seconds: window.seconds))
            }
            .sorted { ($0.summary.requests.total, $0.revisionId) > ($1.summary.requests.total, $1.revisionId) }
    }

    public var byApiKey: [ApiKeyFigures] {
        apiKeys.map { ApiKeyFigures(apiKeyId: $0.key, requests: $0.value.requests, failed: $0.value.requests - $0.value.successes) }
            .sorted { ($0.requests, $0.apiKeyId) > ($1.requests, $1.apiKeyId) }
    }

    /// A point per `step` from the window's start to its end, empty buckets included (a chart needs the gaps).
    public var series: [ServingPoint] {
        var result: [ServingPoint] = []
        var start = step.bucket(of: window.start)
        while start <= window.end {
            result.append(ServingPoint(start: start, cell: points[start] ?? RollupCell()))
            start = start.addingTimeInterval(TimeInterval(step.seconds))
        }
        return result
    }
}
