import Foundation
import SlipwayContracts
import SlipwayStatistics

/// The two bucket sizes every request is counted in. Minute buckets answer windows up to a few hours and
/// the edges of longer ones; hour buckets answer the rest, so a 7-day window merges ~170 buckets, not 10,080.
public enum RollupGranularity: Int32, Sendable, CaseIterable {
    case minute = 60
    case hour = 3600

    public var seconds: Int64 { Int64(rawValue) }

    /// The start of the bucket holding `date`.
    public func bucket(of date: Date) -> Date {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        return Date(timeIntervalSince1970: TimeInterval(seconds - ((seconds % self.seconds) + self.seconds) % self.seconds))
    }
}

/// One row of `serving_rollups`: what one bucket holds for one endpoint × deployment × revision × API key.
public struct RollupKey: Hashable, Sendable {
    public var granularity: RollupGranularity
    public var bucketStart: Date
    public var endpointID: String
    public var deploymentID: String
    public var revisionID: String
    public var apiKeyID: String

    public init(
        granularity: RollupGranularity, bucketStart: Date, endpointID: String, deploymentID: String, revisionID: String, apiKeyID: String
    ) {
        self.granularity = granularity
        self.bucketStart = bucketStart
        self.endpointID = endpointID
        self.deploymentID = deploymentID
        self.revisionID = revisionID
        self.apiKeyID = apiKeyID
    }
}

/// What a bucket counts. Every field merges by addition (counts), by max (largest batch, last request),
/// or by the sketch's own merge, so a bucket can be built from any split of its requests.
public struct RollupCell: Sendable, Equatable {
    public var requests: Int64 = 0
    /// 2xx answers.
    public var successes: Int64 = 0
    /// 4xx answers: bad input, unknown or revoked keys.
    public var clientErrors: Int64 = 0
    /// 5xx answers: the model-server failed or was unreachable.
    public var serverErrors: Int64 = 0
    /// Instances predicted (a batch request counts its instances).
    public var instances: Int64 = 0
    public var maxInstances: Int32 = 0
    public var topKSum: Int64 = 0
    /// Requests that named a top-k (the average top-k divides by these).
    public var topKRequests: Int64 = 0
    /// Request logs serving-router lost for this bucket (reported by `RequestLogsDropped`).
    public var logsDropped: Int64 = 0
    /// Router latency (receive to response written), microseconds.
    public var latency = LatencySketch()
    /// Time spent in the model-server, microseconds; only requests that reached one.
    public var upstreamLatency = LatencySketch()
    public var customers = HyperLogLog()
    /// The version the revision serves (one revision serves one version; kept for the canary/stable view).
    public var modelVersionID = ""
    public var versionNumber: Int32 = 0
    public var lastReceivedAt: Date?

    public init() {}

    public mutating func add(_ log: PredictionRequestLogged) {
        requests += 1
        switch log.statusCode {
        case 200..<300: successes += 1
        case 400..<500: clientErrors += 1
        case 500...: serverErrors += 1
        default: break
        }
        let count = Int64(max(log.instanceCount, 1))
        instances += count
        maxInstances = max(maxInstances, Int32(clamping: count))
        if log.topK > 0 {
            topKSum += Int64(log.topK)
            topKRequests += 1
        }
        latency.add(Double(max(log.latencyUs, 0)))
        if log.upstreamLatencyUs > 0 { upstreamLatency.add(Double(log.upstreamLatencyUs)) }
        if !log.customerID.isEmpty { customers.add(log.customerID) }
        if !log.modelVersionID.isEmpty {
            modelVersionID = log.modelVersionID
            versionNumber = log.versionNumber
        }
        let received = log.receivedAt.date
        if lastReceivedAt.map({ received > $0 }) ?? true { lastReceivedAt = received }
    }

    public mutating func merge(_ other: RollupCell) {
        requests += other.requests
        successes += other.successes
        clientErrors += other.clientErrors
        serverErrors += other.serverErrors
        instances += other.instances
        maxInstances = max(maxInstances, other.maxInstances)
        topKSum += other.topKSum
        topKRequests += other.topKRequests
        logsDropped += other.logsDropped
        latency.merge(other.latency)
        upstreamLatency.merge(other.upstreamLatency)
        customers.merge(other.customers)
        if !other.modelVersionID.isEmpty {
            modelVersionID = other.modelVersionID
            versionNumber = other.versionNumber
        }
        if let theirs = other.lastReceivedAt, lastReceivedAt.map({ theirs > $0 }) ?? true { lastReceivedAt = theirs }
    }
}

/// An endpoint-minute, the unit feature samples are kept in.
public struct SampleKey: Hashable, Sendable {
    public var endpointID: String
    public var minute: Date
}

/// Folds a batch of the serving stream into cells, each request counted once in its minute and once in its
/// hour, and into the endpoint-minute feature samples drift analysis reads.
public struct RollupAccumulator: Sendable {
    public private(set) var cells: [RollupKey: RollupCell] = [:]
    public private(set) var samples: [SampleKey: FeatureSample] = [:]

    public init() {}

    /// Test traffic (testing-svc's endpoint tests and load tests) is left out: serving figures, alerts and drift
    /// describe clients.
    public mutating func add(_ log: PredictionRequestLogged) {
        guard log.traffic == .client else { return }
        let received = log.receivedAt.date
        for granularity in RollupGranularity.allCases {
            let key = RollupKey(
                granularity: granularity, bucketStart: granularity.bucket(of: received), endpointID: log.endpointID,
                deploymentID: log.deploymentID, revisionID: log.revisionID, apiKeyID: log.apiKeyID)
            cells[key, default: RollupCell()].add(log)
        }
        // Only answered requests describe what the model was asked: a 400's input is malformed, a 401's unauthorised.
        if (200..<300).contains(log.statusCode), !log.instances.isEmpty {
            let key = SampleKey(endpointID: log.endpointID, minute: RollupGranularity.minute.bucket(of: received))
            for (index, instance) in log.instances.enumerated() {
                samples[key, default: FeatureSample()].offer(key: "\(log.requestID)#\(index)", row: instance)
            }
        }
    }

    /// Dropped logs carry no key: they are counted under the revision with an empty API key.
    public mutating func add(_ dropped: RequestLogsDropped) {
        guard dropped.count > 0 else { return }
        for granularity in RollupGranularity.allCases {
            let key = RollupKey(
                granularity: granularity, bucketStart: granularity.bucket(of: dropped.minute.date), endpointID: dropped.endpointID,
                deploymentID: dropped.deploymentID, revisionID: dropped.revisionID, apiKeyID: "")
            cells[key, default: RollupCell()].logsDropped += dropped.count
        }
    }

    public mutating func add(_ event: ServingEvent) {
        switch event {
        case .predictionRequestLogged(let log): add(log)
        case .requestLogsDropped(let dropped): add(dropped)
        }
    }
}
