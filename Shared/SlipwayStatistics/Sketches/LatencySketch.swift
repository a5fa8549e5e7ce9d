#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A mergeable latency distribution: DDSketch (Masson, Rim, Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch
/// with Relative-Error Guarantees", VLDB 2019).
///
/// Why a DDSketch: metrics-svc stores one sketch per minute bucket per endpoint and answers percentiles over any window
/// by *merging* the stored sketches. Percentiles cannot be averaged, but DDSketch buckets can be added, and a merged
/// sketch is bucket-for-bucket identical to a sketch that saw every value directly, so a 7-day p99 is as accurate as a
/// 1-minute one.
///
/// Guarantee: `quantile(q)` is within `relativeAccuracy` relative error of the exact order statistic at 0-based position
/// `floor(q * (count - 1))` (values `<= minIndexableValue` are reported as 0, an absolute error of at most 1e-9).
///
/// Mapping: value `v > minIndexableValue` goes to bucket `i = ceil(log(v) / log(gamma))` with
/// `gamma = (1 + alpha) / (1 - alpha)`, i.e. bucket `i` holds `(gamma^(i-1), gamma^i]`, and is reported as
/// `2 * gamma^i / (gamma + 1)`, which is within `alpha` of every value in the bucket.
///
/// No bucket collapsing: at alpha = 0.01 one bucket spans 2 %, so the whole latency range 1e-9 ... 1e10 µs needs only
/// ln(1e19) / ln(1.0202) ≈ 2200 buckets (17.6 KB of `UInt64`s in the worst case, a few hundred for real traffic).
/// Memory stays bounded without collapsing, and collapsing would break the "merge equals one big sketch" property.
///
/// Buckets live in one contiguous `[UInt64]` covering exactly the lowest to the highest non-empty bucket (`binOffset`
/// is the bucket index of element 0). The array grows on either end only when a new extreme bucket appears, so `add`
/// is one `log`, one array increment and a few compares. Because the array is always trimmed to non-empty ends, the
/// synthesized `==` compares contents, not capacity.
public struct LatencySketch: Sendable, Equatable {
    /// Values at or below this go to the zero bucket (log would be meaningless or -inf).
    static let minIndexableValue: Double = 1e-9

    /// Accuracies accepted by `init` and by the decoder. The lower bound keeps the worst-case dense array bounded
    /// (~365 k buckets for every finite double at 0.001) so that even hostile bytes cannot allocate unbounded memory.
    static let supportedRelativeAccuracy: ClosedRange<Double> = 0.001...0.5

    /// Serialization format version (first byte of `serialized()`).
    static let formatVersion: UInt8 = 1

    let relativeAccuracy: Double
    let gamma: Double
    /// `1 / ln(gamma)`, so the hot path multiplies instead of divides.
    let indexMultiplier: Double

    var zeroCount: UInt64 = 0
    /// Counts for buckets `binOffset ..< binOffset + binCounts.count`; first and last element are never 0.
    var binCounts: [UInt64] = []
    var binOffset: Int = 0

    public private(set) var count: UInt64 = 0
    /// Exact sum of all added values (negative values counted as 0).
    public private(set) var sum: Double = 0
    /// +infinity / -infinity while empty: avoids Optional unwrapping on the hot path.
    var storedMin: Double = .infinity
    var storedMax: Double = -.infinity

    /// - Parameter relativeAccuracy: alpha, in 0.001 ... 0.5 (precondition).
    public init(relativeAccuracy: Double = 0.01) {
        precondition(
            Self.supportedRelativeAccuracy.contains(relativeAccuracy),
            "relativeAccuracy must be in \(Self.supportedRelativeAccuracy)")
        self.relativeAccuracy = relativeAccuracy
        self.gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy)
        // log1p keeps full precision for gamma close to 1.
        self.indexMultiplier = 1 / log1p(2 * relativeAccuracy / (1 - relativeAccuracy))
    }

    public var min: Double? { count == 0 ? nil : storedMin }
    public var max: Double? { count == 0 ? nil : storedMax }
    public var mean: Double? { count == 0 ? nil : sum / Double(count) }

    /// Records one value. Negative values count as 0; NaN and ±infinity are ignored because they are not latencies and
    /// would poison `sum` and `mean` for the whole window they are merged into.
    public mutating func add(_ value: Double) {
        add(value, count: 1)
    }

    /// Records `value` `count` times (see `add(_:)` for the handling of negative and non-finite values).
    /// Counts saturate at `UInt64.max` instead of trapping.
    public mutating func add(_ value: Double, count: UInt64) {
        guard count > 0, value.isFinite else { return }
        let value = value > 0 ? value : 0
        record(value, count: count)
        self.count = Self.saturatingSum(self.count, count)
        sum += value * Double(count)
        if value < storedMin { storedMin = value }
        if value > storedMax { storedMax = value }
    }

    /// Adds `other`'s values to this sketch.
    ///
    /// Same accuracy (the normal case): buckets are added, and the result is exactly the sketch of the union of both
    /// inputs, so merging is associative and commutative. Different accuracy: instead of trapping on data read from
    /// storage, each of `other`'s buckets is re-added at its representative value with `self`'s accuracy; `count`,
    /// `sum`, `min` and `max` stay exact, but those values' quantile error grows to `(1 + a1) * (1 + a2) - 1`,
    /// and the result keeps `self`'s accuracy (so this case is not commutative).
    public mutating func merge(_ other: LatencySketch) {
        guard other.count > 0 else { return }
        if other.relativeAccuracy == relativeAccuracy {
            if !other.binCounts.isEmpty {
                let otherLast = other.binOffset + other.binCounts.count - 1
                extendBins(toCover: other.binOffset)
                extendBins(toCover: otherLast)
                let shift = other.binOffset - binOffset
                for (position, binCount) in other.binCounts.enumerated() where binCount > 0 {
                    binCounts[shift + position] = Self.saturatingSum(binCounts[shift + position], binCount)
                }
            }
        } else {
            for (position, binCount) in other.binCounts.enumerated() where binCount > 0 {
                record(other.representativeValue(ofBin: other.binOffset + position), count: binCount)
            }
        }
        zeroCount = Self.saturatingSum(zeroCount, other.zeroCount)
        count = Self.saturatingSum(count, other.count)
        sum += other.sum
        if other.storedMin < storedMin { storedMin = other.storedMin }
        if other.storedMax > storedMax { storedMax = other.storedMax }
    }

    /// The value at 0-based rank `floor(q * (count - 1))`, within `relativeAccuracy`, clamped into `[min, max]`.
    /// `q == 0` returns `min` and `q == 1` returns `max` exactly. Returns nil when empty or when `q` is outside 0...1
    /// (including NaN): a bad query parameter must not crash the server.
    public func quantile(_ q: Double) -> Double? {
        guard count > 0, q >= 0, q <= 1 else { return nil }
        if q == 0 { return storedMin }
        if q == 1 { return storedMax }
        let lastRank = count - 1
        let rank = q * Double(lastRank)
        // The comparison keeps the conversion in range even when Double(lastRank) rounds up to 2^64.
        let targetRank = rank >= Double(lastRank) ? lastRank : UInt64(rank)
        var cumulative = zeroCount
        if cumulative > targetRank { return clampedToRange(0) }
        for (position, binCount) in binCounts.enumerated() {
            cumulative = Self.saturatingSum(cumulative, binCount)
            if cumulative > targetRank {
                return clampedToRange(representativeValue(ofBin: binOffset + position))
            }
        }
        return storedMax
    }

    // MARK: - Buckets

    @inline(__always)
    func binIndex(for value: Double) -> Int {
        Int((log(value) * indexMultiplier).rounded(.up))
    }

    func representativeValue(ofBin index: Int) -> Double {
        2 * exp(Double(index) / indexMultiplier) / (gamma + 1)
    }

    /// Every bucket index any finite double can map to (with one bucket of slack for rounding in `log`).
    /// The decoder rejects indexes outside it, which bounds the memory hostile input can make us allocate.
    var validBinIndexes: ClosedRange<Int> {
        let lowest = Int((log(Self.minIndexableValue) * indexMultiplier).rounded(.down)) - 1
        let highest = Int((log(Double.greatestFiniteMagnitude) * indexMultiplier).rounded(.up)) + 1
        return lowest...highest
    }

    private func clampedToRange(_ value: Double) -> Double {
        Swift.min(Swift.max(value, storedMin), storedMax)
    }

    /// Puts `count` copies of a non-negative finite value into its bucket, without touching count/sum/min/max.
    @inline(__always)
    private mutating func record(_ value: Double, count: UInt64) {
        guard value > Self.minIndexableValue else {
            zeroCount = Self.saturatingSum(zeroCount, count)
            return
        }
        let index = binIndex(for: value)
        let position = index - binOffset
        if position >= 0 && position < binCounts.count {
            binCounts[position] = Self.saturatingSum(binCounts[position], count)
        } else {
            extendBins(toCover: index)
            binCounts[index - binOffset] = Self.saturatingSum(binCounts[index - binOffset], count)
        }
    }

    /// Grows the dense array by exactly what is needed so `index` has a slot (new slots are 0, the caller fills them).
    private mutating func extendBins(toCover index: Int) {
        if binCounts.isEmpty {
            binOffset = index
            binCounts = [0]
        } else if index < binOffset {
            binCounts.insert(contentsOf: repeatElement(0, count: binOffset - index), at: 0)
            binOffset = index
        } else if index >= binOffset + binCounts.count {
            binCounts.append(contentsOf: repeatElement(0, count: index - binOffset - binCounts.count + 1))
        }
    }

    @inline(__always)
    static func saturatingSum(_ lhs: UInt64, _ rhs: UInt64) -> UInt64 {
        let (result, overflow) = lhs.addingReportingOverflow(rhs)
        return overflow ? .max : result
    }

    // MARK: - Serialization

    /// Format version 1, all multi-byte floats little-endian IEEE 754 bit patterns:
    ///
    ///     u8      version (= 1)
    ///     f64     relativeAccuracy
    ///     varint  count
    ///     f64     sum
    ///     f64     min, f64 max            (only when count > 0)
    ///     varint  zeroCount
    ///     varint  number of non-empty buckets
    ///     per non-empty bucket, ascending: zigzag varint (index - previous index, previous starts at 0), varint count
    ///
    /// Only non-empty buckets are written, so a sketch costs ~3 bytes per distinct 2 % latency band, not per value.
    public func serialized() -> [UInt8] {
        var writer = SketchByteWriter()
        writer.bytes.reserveCapacity(48 + 3 * binCounts.count)
        writer.writeByte(Self.formatVersion)
        writer.writeDouble(relativeAccuracy)
        writer.writeVarUInt(count)
        writer.writeDouble(sum)
        if count > 0 {
            writer.writeDouble(storedMin)
            writer.writeDouble(storedMax)
        }
        writer.writeVarUInt(zeroCount)
        writer.writeVarUInt(UInt64(binCounts.lazy.filter { $0 > 0 }.count))
        var previousIndex = 0
        for (position, binCount) in binCounts.enumerated() where binCount > 0 {
            let index = binOffset + position
            writer.writeVarInt(Int64(index - previousIndex))
            writer.writeVarUInt(binCount)
            previousIndex = index
        }
        return writer.bytes
    }

    /// Decodes `serialized()` output. Validates everything it reads (version, accuracy range, bucket index range,
    /// strictly ascending non-empty buckets, count == zeroCount + bucket counts, 0 <= min <= max, no trailing bytes),
    /// so any byte array either throws `SketchDecodingError` or yields a sketch on which every operation is safe.
    public init(serialized bytes: [UInt8]) throws {
        var reader = SketchByteReader(bytes: bytes)
        let version = try reader.readByte()
        guard version == Self.formatVersion else {
            throw SketchDecodingError.unsupportedVersion(version)
        }
        let accuracy = try reader.readDouble()
        guard Self.supportedRelativeAccuracy.contains(accuracy) else {
            throw SketchDecodingError.invalidData("relative accuracy \(accuracy) outside \(Self.supportedRelativeAccuracy)")
        }
        var sketch = LatencySketch(relativeAccuracy: accuracy)
        sketch.count = try reader.readVarUInt()
        sketch.sum = try reader.readDouble()
        guard !sketch.sum.isNaN, sketch.sum >= 0 else {
            throw SketchDecodingError.invalidData("sum \(sketch.sum) is not a non-negative number")
        }
        if sketch.count > 0 {
            sketch.storedMin = try reader.readDouble()
            sketch.storedMax = try reader.readDouble()
            guard sketch.storedMin.isFinite, sketch.storedMax.isFinite,
                sketch.storedMin >= 0, sketch.storedMin <= sketch.storedMax
            else {
                throw SketchDecodingError.invalidData("min \(sketch.storedMin) / max \(sketch.storedMax) inconsistent")
            }
        } else if sketch.sum != 0 {
            throw SketchDecodingError.invalidData("empty sketch with non-zero sum")
        }
        sketch.zeroCount = try reader.readVarUInt()
        let nonEmptyBinCount = try reader.readVarUInt()
        // Each bucket takes at least 2 bytes: reject impossible counts before allocating anything.
        guard nonEmptyBinCount <= UInt64(reader.remainingByteCount / 2) else {
            throw SketchDecodingError.truncated
        }
        let validIndexes = sketch.validBinIndexes
        var decodedBins: [(index: Int, count: UInt64)] = []
        decodedBins.reserveCapacity(Int(nonEmptyBinCount))
        var previousIndex = 0
        var total = sketch.zeroCount
        for _ in 0..<nonEmptyBinCount {
            let delta = try reader.readVarInt()
            // The range check on delta first makes the addition overflow-free.
            guard delta > -(1 << 32), delta < (1 << 32) else {
                throw SketchDecodingError.invalidData("bucket index delta \(delta) out of range")
            }
            let index = previousIndex + Int(delta)
            guard validIndexes.contains(index), decodedBins.isEmpty || index > previousIndex else {
                throw SketchDecodingError.invalidData("bucket index \(index) out of range or not ascending")
            }
            let binCount = try reader.readVarUInt()
            guard binCount > 0 else {
                throw SketchDecodingError.invalidData("empty bucket \(index) encoded")
            }
            decodedBins.append((index, binCount))
            total = Self.saturatingSum(total, binCount)
            previousIndex = index
        }
        try reader.expectEnd()
        guard total == sketch.count else {
            throw SketchDecodingError.invalidData("count \(sketch.count) does not match bucket total \(total)")
        }
        if let first = decodedBins.first, let last = decodedBins.last {
            sketch.binOffset = first.index
            sketch.binCounts = Array(repeating: 0, count: last.index - first.index + 1)
            for bin in decodedBins {
                sketch.binCounts[bin.index - first.index] = bin.count
            }
        }
        self = sketch
    }
}

/// Thrown by `LatencySketch(serialized:)` and `HyperLogLog(serialized:)` for bytes they did not write.
public enum SketchDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ended before the encoding did.
    case truncated
    /// The first byte is not a format version this code can read.
    case unsupportedVersion(UInt8)
    /// The bytes are complete but describe an impossible sketch.
    case invalidData(String)

    public var description: String {
        switch self {
        case .truncated: "sketch encoding is truncated"
        case .unsupportedVersion(let version): "unsupported sketch format version \(version)"
        case .invalidData(let reason): "invalid sketch encoding: \(reason)"
        }
    }
}

// MARK: - Wire helpers shared by both sketches

/// Appends little-endian fixed-width fields and LEB128 varints.
struct SketchByteWriter {
    var bytes: [UInt8] = []

    mutating func writeByte(_ byte: UInt8) {
        bytes.append(byte)
    }

    mutating func writeDouble(_ value: Double) {
        var bits = value.bitPattern
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: bits))
            bits >>= 8
        }
    }

    mutating func writeVarUInt(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }

    /// Zigzag first, so small negative deltas stay one byte.
    mutating func writeVarInt(_ value: Int64) {
        writeVarUInt(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}

/// Bounds-checked reader: every read either returns a value or throws, it never traps.
struct SketchByteReader {
    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    var remainingByteCount: Int { bytes.count - position }

    mutating func readByte() throws(SketchDecodingError) -> UInt8 {
        guard position < bytes.count else { throw .truncated }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readDouble() throws(SketchDecodingError) -> Double {
        guard remainingByteCount >= 8 else { throw .truncated }
        var bits: UInt64 = 0
        for offset in 0..<8 {
            bits |= UInt64(bytes[position + offset]) << (8 * UInt64(offset))
        }
        position += 8
        return Double(bitPattern: bits)
    }

    mutating func readVarUInt() throws(SketchDecodingError) -> UInt64 {
        var result: UInt64 = 0
        for shift in stride(from: UInt64(0), through: 63, by: 7) {
            let byte = try readByte()
            // The 10th byte may only contribute the single remaining bit.
            if shift == 63 && byte > 1 { throw .invalidData("varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
        }
        throw .invalidData("varint longer than 10 bytes")
    }

    mutating func readVarInt() throws(SketchDecodingError) -> Int64 {
        let zigzag = try readVarUInt()
        return Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)
    }

    func expectEnd() throws(SketchDecodingError) {
        guard position == bytes.count else { throw .invalidData("\(remainingByteCount) trailing bytes") }
    }
}
