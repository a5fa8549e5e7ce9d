import Foundation
import Synchronization

/// Request logs lost instead of shipped, counted per endpoint, revision, minute of receipt and reason, so
/// the shipper can tell metrics-svc which windows are incomplete (`RequestLogsDropped`). Keys are few
/// (drops happen in bursts for the endpoints under load), so a locked dictionary is cheap enough.
final class DroppedLogTally: Sendable {
    enum Reason: String, Sendable {
        case bufferFull = "buffer_full"
        case deliveryFailed = "delivery_failed"
    }

    struct Key: Hashable, Sendable {
        var endpointID: String
        var deploymentID: String
        var revisionID: String
        /// Seconds since 1970 of the start of the minute the request was received in.
        var minute: Int64
        var reason: Reason
    }

    private let counts = Mutex<[Key: Int64]>([:])

    func record(_ record: RequestLogRecord, reason: Reason) {
        let key = Key(
            endpointID: record.endpointID, deploymentID: record.deploymentID, revisionID: record.revisionID,
            minute: Int64(record.receivedAt.timeIntervalSince1970 / 60) * 60, reason: reason)
        counts.withLock { $0[key, default: 0] += 1 }
    }

    /// Everything counted so far; the tally starts again from zero.
    func takeAll() -> [Key: Int64] {
        counts.withLock { counts in
            defer { counts = [:] }
            return counts
        }
    }

    /// Puts back counts whose report could not be delivered, to go with the next one.
    func restore(_ taken: [Key: Int64]) {
        counts.withLock { counts in counts.merge(taken, uniquingKeysWith: +) }
    }
}
