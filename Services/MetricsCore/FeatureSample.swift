import Foundation
import SlipwayContracts
import SlipwayStatistics

/// One feature value as drift sees it: a number (doubles and integers) or a category (strings and booleans).
/// Lists have no single distribution and are not sampled.
public enum SampledValue: Sendable, Equatable {
    case number(Double)
    case category(String)

    init?(_ value: FeatureValue) {
        switch value.kind {
        case .doubleValue(let number): self = .number(number)
        case .int64Value(let number): self = .number(Double(number))
        case .stringValue(let text): self = .category(text)
        case .boolValue(let flag): self = .category(flag ? "true" : "false")
        case .stringList, .doubleList, nil: return nil
        }
    }
}

/// A uniform sample of the request instances of one endpoint-minute, for drift analysis: the `capacity`
/// instances whose key hash is smallest (bottom-k). Unlike a reservoir it needs no random state, so the
/// same requests always give the same sample, a sample of a union is the bottom-k of the parts, and a
/// replay of the request log rebuilds it exactly.
public struct FeatureSample: Sendable, Equatable {
    public typealias Row = [String: SampledValue]

    /// Per endpoint-minute: 1,440 minutes of a day give up to 144,000 comparison rows.
    public static let capacity = 100

    public private(set) var hashes: [UInt64] = []
    public private(set) var rows: [Row] = []
    /// Instances offered, kept or not.
    public private(set) var seen: Int64 = 0

    public init() {}

    /// Offers one instance; `key` identifies it (request id and instance index).
    public mutating func offer(key: String, row: FeatureRow) {
        seen += 1
        let hash = StableHash.hash64(key)
        guard admits(hash) else { return }
        insert(hash, row.features.compactMapValues(SampledValue.init))
    }

    public mutating func merge(_ other: FeatureSample) {
        seen += other.seen
        for (hash, row) in zip(other.hashes, other.rows) where admits(hash) { insert(hash, row) }
    }

    private func admits(_ hash: UInt64) -> Bool {
        hashes.count < Self.capacity || hash < (hashes.last ?? .max)
    }

    private mutating func insert(_ hash: UInt64, _ row: Row) {
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

    // MARK: Storage (by column, see `FeatureSampleRecord`)

    public func serialized() throws -> [UInt8] {
        var features: [String: SampledFeature] = [:]
        for (index, row) in rows.enumerated() {
            for (name, value) in row {
                features[name, default: SampledFeature.with { $0.name = name }].append(value, row: UInt32(index))
            }
        }
        var record = FeatureSampleRecord()
        record.hashes = hashes
        record.seen = seen
        record.features = features.keys.sorted().compactMap { features[$0] }
        return try record.serializedBytes()
    }

    public init(serialized bytes: [UInt8]) throws {
        let record = try Self.record(bytes)
        hashes = record.hashes
        seen = record.seen
        rows = Array(repeating: [:], count: record.hashes.count)
        for feature in record.features {
            for (row, number) in zip(feature.numberRows, feature.numbers) { rows[Int(row)][feature.name] = .number(number) }
            for (row, category) in zip(feature.categoryRows, feature.categories) { rows[Int(row)][feature.name] = .category(category) }
        }
    }

    /// A stored sample checked before use: hashes ascending, every row index in range.
    static func record(_ bytes: [UInt8]) throws -> FeatureSampleRecord {
        let record = try FeatureSampleRecord(serializedBytes: bytes)
        let count = record.hashes.count
        guard count <= capacity, zip(record.hashes, record.hashes.dropFirst()).allSatisfy({ $0 < $1 }),
            record.features.allSatisfy({
                $0.numbers.count == $0.numberRows.count && $0.categories.count == $0.categoryRows.count
                    && ($0.numberRows + $0.categoryRows).allSatisfy { Int($0) < count }
            })
        else { throw RollupDecodingError(message: "a stored feature sample is inconsistent") }
        return record
    }
}

extension SampledFeature {
    mutating func append(_ value: SampledValue, row: UInt32) {
        switch value {
        case .number(let number):
            numbers.append(number)
            numberRows.append(row)
        case .category(let category):
            categories.append(category)
            categoryRows.append(row)
        }
    }
}

/// The sampled rows' values, column by column, as drift analysis reads them.
public struct FeatureColumns: Sendable {
    public private(set) var numeric: [String: [Double]] = [:]
    public private(set) var categorical: [String: [String]] = [:]
    public private(set) var rows = 0

    public init() {}

    var features: Set<String> { Set(numeric.keys).union(categorical.keys) }

    /// Appends a stored sample's columns straight from its encoding (no per-row maps: this is the hot path of
    /// a drift analysis over 100,000 rows).
    public mutating func append(serialized bytes: [UInt8]) throws {
        let record = try FeatureSample.record(bytes)
        rows += record.hashes.count
        for feature in record.features {
            if !feature.numbers.isEmpty { numeric[feature.name, default: []].append(contentsOf: feature.numbers) }
            if !feature.categories.isEmpty { categorical[feature.name, default: []].append(contentsOf: feature.categories) }
        }
    }
}
