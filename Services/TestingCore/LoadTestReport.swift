import Foundation
import SlipwayContracts
import SlipwayLoadGenerator
import SlipwayPlatform

/// A load test as the API shows it, written by the read model from the test's events; while the test runs, the
/// route adds `progress` from the generator when this replica runs it.
struct LoadTestReport: Codable {
    struct Config: Codable {
        var connections: Int
        @Nullable var targetRps: Int?
        var durationSeconds: Int
        var sampleCount: Int
        var seed: UInt64
        var topK: Int
        var requestTimeoutMs: Int
    }

    struct Latency: Codable {
        var avgMs: Double
        var minMs: Double
        var maxMs: Double
        var p50Ms: Double
        var p95Ms: Double
        var p99Ms: Double
    }

    struct Results: Codable {
        var requests: Int64
        var succeeded: Int64
        var failed: Int64
        var achievedRps: Double
        var durationMs: Int64
        var latency: Latency
        /// "500": 3, "timeout": 1, "connection": 2.
        var errorsByStatus: [String: Int64]
    }

    struct Second: Codable {
        var second: Int
        var requests: Int64
        var errors: Int64
        var p50Ms: Double
        var p99Ms: Double

        init(second: Int, requests: Int64, errors: Int64, p50Ms: Double, p99Ms: Double) {
            self.second = second
            self.requests = requests
            self.errors = errors
            self.p50Ms = p50Ms
            self.p99Ms = p99Ms
        }

        /// A second measured so far, as the finished report will state it.
        init(_ second: LoadSecond) {
            self.init(
                second: second.second, requests: Int64(second.requests), errors: Int64(second.errors),
                p50Ms: (second.latency.quantile(0.5) ?? 0) / 1000, p99Ms: (second.latency.quantile(0.99) ?? 0) / 1000)
        }
    }

    var id: String
    var endpoint: String
    var status: String
    var deploymentId: String
    var modelVersionId: String
    var version: Int
    var targetUrl: String
    var datasetId: String
    var config: Config
    var startedBy: String
    var startedAt: Date
    @Nullable var finishedAt: Date?
    var cancelRequested: Bool
    @Nullable var results: Results?
    var perSecond: [Second]
    var error: String

    static func report(
        started: LoadTestStarted, finished: LoadTestFinished?, cancelRequested: Bool, finishedAt: Date?
    ) throws -> String {
        let params = started.params
        var report = LoadTestReport(
            id: started.loadTestID, endpoint: started.endpointName, status: finished.map { status($0.outcome) } ?? "running",
            deploymentId: started.deploymentID, modelVersionId: started.modelVersionID, version: Int(started.versionNumber),
            targetUrl: started.targetURL, datasetId: started.datasetID,
            config: Config(
                connections: Int(params.concurrency), targetRps: params.targetRps > 0 ? Int(params.targetRps) : nil,
                durationSeconds: Int(params.durationSeconds), sampleCount: Int(params.sampleCount), seed: params.seed, topK: Int(params.topK),
                requestTimeoutMs: Int(params.requestTimeoutMs)),
            startedBy: started.startedBy, startedAt: started.startedAt.date, finishedAt: finishedAt, cancelRequested: cancelRequested,
            perSecond: [], error: finished?.error ?? "")
        if let finished, finished.outcome != .failed, finished.outcome != .abandoned {
            let latency = finished.latency
            report.results = Results(
                requests: finished.requests, succeeded: finished.succeeded, failed: finished.failed, achievedRps: finished.achievedRps,
                durationMs: finished.durationMs,
                latency: Latency(
                    avgMs: latency.avgMs, minMs: latency.minMs, maxMs: latency.maxMs, p50Ms: latency.p50Ms, p95Ms: latency.p95Ms, p99Ms: latency.p99Ms
                ),
                errorsByStatus: finished.errorsByStatus)
            report.perSecond = finished.perSecond.map {
                Second(second: Int($0.second), requests: $0.requests, errors: $0.errors, p50Ms: $0.p50Ms, p99Ms: $0.p99Ms)
            }
        }
        return String(decoding: try PlatformJSON.encode(report), as: UTF8.self)
    }

    static func status(_ outcome: LoadTestOutcome) -> String {
        switch outcome {
        case .completed: "completed"
        case .cancelled: "cancelled"
        case .abandoned: "abandoned"
        case .failed, .unspecified, .UNRECOGNIZED: "failed"
        }
    }

    /// A running test's progress, as the route adds it to the report.
    struct Progress: Encodable {
        var elapsedSeconds: Int
        var requests: Int
        var errors: Int
        var lastSecondRps: Int
        var lastSecondP99Ms: Double

        init(_ progress: LoadProgress) {
            elapsedSeconds = progress.elapsedSeconds
            requests = progress.requests
            errors = progress.errors
            lastSecondRps = progress.lastSecondRequests
            lastSecondP99Ms = progress.lastSecondP99Ms
        }
    }
}
