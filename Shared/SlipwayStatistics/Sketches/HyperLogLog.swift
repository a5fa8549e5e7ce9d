#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A mergeable distinct-count estimator (HyperLogLog, Flajolet et al. 2007) over 64-bit hashes.
///
/// Why: metrics-svc keeps one per minute bucket per endpoint and answers "unique customers over any window" by merging
/// them (register-wise max), which equals the sketch of the union, so customers seen in many minutes count once.
///
/// Standard error is about `1.04 / sqrt(2^precision)` (1.6 % at the default precision 12, 4 KiB of registers).
/// The estimator (see `estimate`) behaves like linear counting for small cardinalities: 0 and 1 are exact, and at
/// p = 12 the error for n <= 100 has a standard deviation of about 1 (register collisions; the worst seen over 200
/// random sets was 4). With 64-bit hashes no large-range correction is needed.
public struct HyperLogLog: Sendable, Equatable {
    static let supportedPrecision: ClosedRange<Int> = 4...16

    /// Serialization format version (first byte of `serialized()`).
    static let formatVersion: UInt8 = 1
    static let sparseEncoding: UInt8 = 0
    static let denseEncoding: UInt8 = 1

    let precision: Int
    /// One register per hash prefix, holding the max "position of the first 1 bit" seen (0 = untouched).
    var registers: [UInt8]

    /// - Parameter precision: p in 4...16 (precondition); the sketch uses 2^p one-byte registers.
    public init(precision: Int = 12) {
        precondition(Self.supportedPrecision.contains(precision), "precision must be in \(Self.supportedPrecision)")
        self.precision = precision
        self.registers = Array(repeating: 0, count: 1 << precision)
    }

    /// Largest value a register can hold: all 64 - p remaining bits zero gives rank 64 - p + 1.
    var maxRegisterValue: UInt8 { UInt8(64 - precision + 1) }

    /// Adds an item by its `StableHash`, never Swift's `Hasher`: `Hasher` is seeded randomly per process, and sketches
    /// written by different processes and restarts must agree on every item's hash to be mergeable.
    public mutating func add(_ item: String) {
        add(hash: StableHash.hash64(item))
    }

    /// Adds an item by a 64-bit hash the caller computed (it must be well mixed and stable across processes).
    public mutating func add(hash: UInt64) {
        let registerIndex = Int(truncatingIfNeeded: hash >> UInt64(64 - precision))
        let remainingBits = hash << UInt64(precision)
        let rank = UInt8(truncatingIfNeeded: Swift.min(remainingBits.leadingZeroBitCount, 64 - precision) + 1)
        if rank > registers[registerIndex] {
            registers[registerIndex] = rank
        }
    }

    /// Register-wise max: the result is exactly the sketch of the union, and merging is associative, commutative and
    /// idempotent. Precondition: same precision (a different precision means a configuration bug, not bad data).
    public mutating func merge(_ other: HyperLogLog) {
        precondition(other.precision == precision, "cannot merge HyperLogLog p=\(other.precision) into p=\(precision)")
        for index in registers.indices where other.registers[index] > registers[index] {
            registers[index] = other.registers[index]
        }
    }

    /// Estimated number of distinct items added.
    ///
    /// Uses Ertl's "improved raw estimator" (O. Ertl, "New cardinality estimation algorithms for HyperLogLog
    /// sketches", 2017, arXiv:1702.01284) rather than the original raw estimate with a linear-counting switch at 2.5 m:
    /// that switch leaves a bias of about +1.6 % and an error of about 1.8 standard errors around n ≈ 2.5 m
    /// (measured: n = 10 000 at p = 12), exactly where busy endpoints land. Ertl's estimator reads the same registers,
    /// needs no empirical bias tables, behaves like linear counting for small n and is unbiased over the whole range.
    public var estimate: Int {
        let registerCount = Double(registers.count)
        let maxValue = Int(maxRegisterValue)
        // registersWithValue[k] = number of registers holding k.
        var registersWithValue = [Int](repeating: 0, count: maxValue + 1)
        for register in registers {
            registersWithValue[Int(register)] += 1
        }
        var denominator = registerCount * Self.tau(1 - Double(registersWithValue[maxValue]) / registerCount)
        for value in stride(from: maxValue - 1, through: 1, by: -1) {
            denominator = (denominator + Double(registersWithValue[value])) * 0.5
        }
        denominator += registerCount * Self.sigma(Double(registersWithValue[0]) / registerCount)
        // 1 / (2 ln 2): the bias-correction constant for m -> infinity; sigma and tau absorb the finite-m effects.
        let alphaInfinity = 0.5 / log(2.0)
        let estimate = alphaInfinity * registerCount * registerCount / denominator
        return estimate.isFinite ? Int(estimate.rounded()) : 0
    }

    /// sigma(x) = x + sum_{k>=1} x^(2^k) * 2^(k-1), the correction for empty registers (infinite when all are empty).
    private static func sigma(_ fractionOfEmptyRegisters: Double) -> Double {
        if fractionOfEmptyRegisters == 1 { return .infinity }
        var power = fractionOfEmptyRegisters
        var weight = 1.0
        var sum = fractionOfEmptyRegisters
        while true {
            power *= power
            let previous = sum
            sum += power * weight
            weight += weight
            if sum == previous { return sum }
        }
    }

    /// tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 * 2^-k) / 3, the correction for saturated registers.
    private static func tau(_ fractionOfUnsaturatedRegisters: Double) -> Double {
        if fractionOfUnsaturatedRegisters == 0 || fractionOfUnsaturatedRegisters == 1 { return 0 }
        var root = fractionOfUnsaturatedRegisters
        var weight = 1.0
        var sum = 1 - fractionOfUnsaturatedRegisters
        while true {
            root = root.squareRoot()
            let previous = sum
            weight *= 0.5
            sum -= (1 - root) * (1 - root) * weight
            if sum == previous { return sum / 3 }
        }
    }

    // MARK: - Serialization

    /// Format version 1:
    ///
    ///     u8  version (= 1)
    ///     u8  precision
    ///     u8  encoding: 0 = sparse, 1 = dense
    ///     sparse: varint n, then n pairs (varint index gap, u8 value) for the non-zero registers in ascending order;
    ///             the gap is the index itself for the first pair and `index - previous - 1` after that
    ///     dense:  2^p register bytes
    ///
    /// Whichever encoding is smaller is written: most minute buckets see a handful of customers, where sparse costs
    /// ~3 bytes per customer instead of 4 KiB.
    public func serialized() -> [UInt8] {
        var sparse = SketchByteWriter()
        sparse.writeByte(Self.formatVersion)
        sparse.writeByte(UInt8(precision))
        sparse.writeByte(Self.sparseEncoding)
        let denseSize = 3 + registers.count
        sparse.writeVarUInt(UInt64(registers.lazy.filter { $0 != 0 }.count))
        var previousIndex = -1
        for (index, register) in registers.enumerated() where register != 0 {
            sparse.writeVarUInt(UInt64(index - previousIndex - 1))
            sparse.writeByte(register)
            previousIndex = index
            if sparse.bytes.count >= denseSize { break }
        }
        if sparse.bytes.count < denseSize {
            return sparse.bytes
        }
        return [Self.formatVersion, UInt8(precision), Self.denseEncoding] + registers
    }

    /// Decodes `serialized()` output; throws `SketchDecodingError` for anything else (bad version, precision or
    /// encoding, register values no hash can produce, indexes out of range, truncation, trailing bytes). Never traps.
    public init(serialized bytes: [UInt8]) throws {
        var reader = SketchByteReader(bytes: bytes)
        let version = try reader.readByte()
        guard version == Self.formatVersion else {
            throw SketchDecodingError.unsupportedVersion(version)
        }
        let precision = Int(try reader.readByte())
        guard Self.supportedPrecision.contains(precision) else {
            throw SketchDecodingError.invalidData("precision \(precision) outside \(Self.supportedPrecision)")
        }
        var sketch = HyperLogLog(precision: precision)
        let registerCount = sketch.registers.count
        let maxValue = sketch.maxRegisterValue
        switch try reader.readByte() {
        case Self.sparseEncoding:
            let pairCount = try reader.readVarUInt()
            guard pairCount <= UInt64(registerCount) else {
                throw SketchDecodingError.invalidData("\(pairCount) sparse registers for \(registerCount) registers")
            }
            var previousIndex = -1
            for _ in 0..<pairCount {
                let gap = try reader.readVarUInt()
                guard gap < UInt64(registerCount) else {
                    throw SketchDecodingError.invalidData("register gap \(gap) out of range")
                }
                let index = previousIndex + 1 + Int(gap)
                let value = try reader.readByte()
                guard index < registerCount, value >= 1, value <= maxValue else {
                    throw SketchDecodingError.invalidData("register \(index) = \(value) impossible at p=\(precision)")
                }
                sketch.registers[index] = value
                previousIndex = index
            }
        case Self.denseEncoding:
            guard reader.remainingByteCount >= registerCount else {
                throw SketchDecodingError.truncated
            }
            for index in 0..<registerCount {
                let value = try reader.readByte()
                guard value <= maxValue else {
                    throw SketchDecodingError.invalidData("register \(index) = \(value) impossible at p=\(precision)")
                }
                sketch.registers[index] = value
            }
        case let encoding:
            throw SketchDecodingError.invalidData("unknown HyperLogLog encoding \(encoding)")
        }
        try reader.expectEnd()
        self = sketch
    }
}

/// A string hash that is identical in every process, on every platform, forever.
///
/// It is part of the storage format: stored HyperLogLog registers are derived from it, so changing it (even to a
/// "better" hash) would make new sketches count every old customer again when merged with stored ones. Never change it.
///
/// Definition: FNV-1a 64 (offset basis 0xcbf29ce484222325, prime 0x100000001b3) over the string's UTF-8 bytes as they
/// are (no Unicode normalization), followed by the MurmurHash3 `fmix64` finalizer, which spreads FNV's weak low-entropy
/// high bits over all 64 bits (HyperLogLog takes its register index from the top bits).
public enum StableHash {
    public static func hash64(_ s: String) -> UInt64 {
        fmix64(fnv1a64(s))
    }

    /// Plain FNV-1a 64 over bytes: the project's one stable hash where a name or key must map to the same number in
    /// every process and release (traffic buckets, OOV buckets, lock keys, object names).
    @inlinable
    public static func fnv1a64<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// FNV-1a 64 over the string's UTF-8 bytes.
    @inlinable
    public static func fnv1a64(_ text: String) -> UInt64 { text.utf8.withContiguousStorageIfAvailable(fnv1a64) ?? fnv1a64(text.utf8) }

    private static func fmix64(_ value: UInt64) -> UInt64 {
        var mixed = value
        mixed ^= mixed >> 33
        mixed &*= 0xff51_afd7_ed55_8ccd
        mixed ^= mixed >> 33
        mixed &*= 0xc4ce_b9fe_1a85_ec53
        mixed ^= mixed >> 33
        return mixed
    }
}
