import Foundation
import Synchronization

/// Per-revision request counts, errors and latency over a sliding window of whole seconds: a ring of
/// per-second buckets, each with a log-scale latency histogram (buckets 15% wide, from 50 µs).
/// deploy-svc's rollout gates read it through `GET /internal/stats`.
final class RevisionStats: Sendable {
    static let ringSeconds = 600
    static let histogramBuckets = 100
    static let smallestMicros = 50.0
    static let growth = 1.15

    struct Bucket: Sendable {
        var second: Int64 = -1
        var requests = 0
        var errors = 0
        var histogram: [UInt32] = []
    }

    struct Series: Sendable {
        var endpointID: String
        var buckets = [Bucket](repeating: Bucket(), count: RevisionStats.ringSeconds)
        var lastSecond: Int64 = 0

        mutating func record(second: Int64, index: Int, isError: Bool) {
            let slot = Int(second % Int64(RevisionStats.ringSeconds))
            if buckets[slot].second != second {
                buckets[slot] = Bucket(second: second, histogram: [UInt32](repeating: 0, count: RevisionStats.histogramBuckets))
            }
            buckets[slot].requests += 1
            if isError { buckets[slot].errors += 1 }
            buckets[slot].histogram[index] += 1
            lastSecond = max(lastSecond, second)
        }
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var revisionID: String
        public var endpointID: String
        public var requests: Int
        public var errors: Int
        public var errorRate: Double
        public var p50Ms: Double
        public var p99Ms: Double

        enum CodingKeys: String, CodingKey {
            case revisionID = "revision_id", endpointID = "endpoint_id", requests, errors, errorRate = "error_rate", p50Ms = "p50_ms", p99Ms =
                "p99_ms"
        }
    }

    private let series = Mutex<[String: Series]>([:])

    static func histogramIndex(micros: Int64) -> Int {
        let value = Double(max(micros, 0))
        guard value >= smallestMicros else { return 0 }
        let index = Int(log(value / smallestMicros) / log(growth)) + 1
        return min(index, histogramBuckets - 1)
    }

    /// A representative latency of a histogram bucket (its geometric middle), in milliseconds.
    static func bucketMillis(_ index: Int) -> Double {
        guard index > 0 else { return smallestMicros / 2 / 1000 }
        let lower = smallestMicros * pow(growth, Double(index - 1))
        return lower * growth.squareRoot() / 1000
    }

    /// Records one routed request. `second` is Unix seconds (passed in for tests).
    func record(revisionID: String, endpointID: String, latencyMicros: Int64, isError: Bool, second: Int64 = Int64(Date().timeIntervalSince1970)) {
        let index = Self.histogramIndex(micros: latencyMicros)
        series.withLock { all in
            // Mutated in place: copying a series out and back would copy its 600 buckets on every request.
            all[revisionID, default: Series(endpointID: endpointID)].record(second: second, index: index, isError: isError)
        }
    }

    /// Every revision with requests in the last `windowSeconds` (1...600), including the current second.
    func summaries(windowSeconds: Int, now: Int64 = Int64(Date().timeIntervalSince1970)) -> [Summary] {
        let window = Int64(min(max(windowSeconds, 1), Self.ringSeconds))
        let oldest = now - window + 1
        return series.withLock { all -> [Summary] in
            for (id, entry) in all where entry.lastSecond < now - Int64(Self.ringSeconds) { all[id] = nil }
            return all.compactMap { revisionID, entry -> Summary? in
                var requests = 0
                var errors = 0
                var histogram = [UInt64](repeating: 0, count: Self.histogramBuckets)
                for bucket in entry.buckets where bucket.second >= oldest && bucket.second <= now {
                    requests += bucket.requests
                    errors += bucket.errors
                    for (i, count) in bucket.histogram.enumerated() { histogram[i] += UInt64(count) }
                }
                guard requests > 0 else { return nil }
                return Summary(
                    revisionID: revisionID, endpointID: entry.endpointID, requests: requests, errors: errors,
                    errorRate: Double(errors) / Double(requests),
                    p50Ms: Self.percentile(0.50, histogram, total: requests), p99Ms: Self.percentile(0.99, histogram, total: requests))
            }.sorted { $0.revisionID < $1.revisionID }
        }
    }

    static func percentile(_ p: Double, _ histogram: [UInt64], total: Int) -> Double {
        let rank = UInt64(max(1, (p * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for (index, count) in histogram.enumerated() {
            seen += count
            if seen >= rank { return (bucketMillis(index) * 1000).rounded() / 1000 }
        }
        return (bucketMillis(histogramBuckets - 1) * 1000).rounded() / 1000
    }
}
