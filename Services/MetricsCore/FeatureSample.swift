import Foundation
import SlipwayContracts
import SlipwayStatistics

/// A uniform sample of the request instances of one endpoint-minute, for drift analysis: the `capacity`
/// instances whose key hash is smallest (bottom-k). Unlike a reservoir it needs no random state, so the
/// same requests always give the same sample, a sample of a union is the bottom-k of the parts, and a
/// replay of the request log rebuilds it exactly.
public struct FeatureSample: Sendable, Equatable {
    /// Per endpoint-minute: 1,440 minutes of a day give up to 144,000 comparison rows.
    public static let capacity = 100

    public private(set) var hashes: [UInt64] = []
    public private(set) var rows: [FeatureRow] = []
    /// Instances offered, kept or not.
    public private(set) var seen: Int64 = 0

    public init() {}

    /// Offers one instance; `key` identifies it (request id and instance index).
    public mutating func offer(key: String, row: FeatureRow) {
        seen += 1
        insert(StableHash.hash64(key), row)
    }

    public mutating func merge(_ other: FeatureSample) {
        seen += other.seen
        for (hash, row) in zip(other.hashes, other.rows) { insert(hash, row) }
    }

    private mutating func insert(_ hash: UInt64, _ row: FeatureRow) {
        if hashes.count == Self.capacity, let largest = hashes.last, hash >= largest { return }
        var low = 0
        var high = hashes.count
        while low < high {
            let middle = (low + high) / 2
            if hashes[middle] < hash { low = middle + 1 } else { high = middle }
        }
        if low < hashes.count, hashes[low] == hash { return }  // the same instance again
        hashes.insert(hash, at: low)
        rows.insert(row, at: low)
        if hashes.count > Self.capacity {
            hashes.removeLast()
            rows.removeLast()
        }
    }

    public func serialized() throws -> [UInt8] {
        var record = FeatureSampleRecord()
        record.hashes = hashes
        record.rows = rows
        record.seen = seen
        return try record.serializedBytes()
    }

    public init(serialized bytes: [UInt8]) throws {
        let record = try FeatureSampleRecord(serializedBytes: bytes)
        guard record.hashes.count == record.rows.count, record.hashes.count <= Self.capacity,
            zip(record.hashes, record.hashes.dropFirst()).allSatisfy({ $0 < $1 })
        else { throw RollupDecodingError(message: "a feature sample's hashes and rows do not match") }
        hashes = record.hashes
        rows = record.rows
        seen = record.seen
    }
}
