import Foundation
import SlipwayStatistics

/// A `FeatureTransform` prepared for fast repeated encoding (vocabulary dictionary built once).
/// The trainer and the scorer both encode through this type, so training and serving agree.
public struct FeatureEncoder: Sendable {
    public let transform: FeatureTransform
    @usableFromInline let lookup: [String: Int32]
    @usableFromInline let vocabCount: Int
    @usableFromInline let oovBuckets: Int
    @usableFromInline let boundaries: [Double]

    public init(_ transform: FeatureTransform) {
        self.transform = transform
        var d: [String: Int32] = [:]
        if let v = transform.vocabulary {
            d.reserveCapacity(v.count)
            for (i, s) in v.enumerated() { d[s] = Int32(i) }
        }
        lookup = d
        vocabCount = transform.vocabulary?.count ?? 0
        oovBuckets = max(1, transform.oovBuckets ?? 1)
        boundaries = transform.boundaries ?? []
    }

    public var name: String { transform.name }

    // MARK: coercion (type checks name the feature)

    @usableFromInline
    func stringKey(_ v: FeatureValue) throws(ScoringError) -> String {
        switch (transform.type, v) {
        case (.string, .string(let s)): return s
        case (.string, .int(let i)): return String(i)  // numeric ids sent as JSON numbers
        case (.int, .int(let i)): return String(i)
        case (.int, .double(let d)) where d.isFinite && d == d.rounded() && abs(d) < 9e15: return String(Int(d))
        case (.float, .int(let i)): return String(Double(i))
        case (.float, .double(let d)): return String(d)
        case (.timestamp, _): return String(try numeric(v))
        default: throw .typeMismatch(feature: transform.name, expected: transform.type, got: v.typeName)
        }
    }

    @usableFromInline
    func numeric(_ v: FeatureValue) throws(ScoringError) -> Double {
        let x: Double
        switch (transform.type, v) {
        case (.int, .int(let i)), (.float, .int(let i)), (.timestamp, .int(let i)): x = Double(i)
        case (.float, .double(let d)), (.timestamp, .double(let d)): x = d
        case (.int, .double(let d)):
            guard d == d.rounded() else {
                throw .typeMismatch(feature: transform.name, expected: .int, got: "float")
            }
            x = d
        case (.timestamp, .string(let s)):
            guard let t = Timestamp.parse(s) else {
                throw .invalidValue(feature: transform.name, reason: "'\(s)' is not an ISO-8601 date/time or epoch seconds")
            }
            x = t
        default:
            throw .typeMismatch(feature: transform.name, expected: transform.type, got: v.typeName)
        }
        guard x.isFinite else { throw .invalidValue(feature: transform.name, reason: "not a finite number") }
        return x
    }

    // MARK: encoding

    /// Row of the embedding table for a table transform.
    public func tableIndex(_ value: FeatureValue?) throws(ScoringError) -> Int32 {
        guard let value else {
            if transform.required { throw .missingFeature(name: transform.name) }
            return transform.kind == .vocabulary ? Int32(vocabCount) : Int32(boundaries.count + 1)
        }
        switch transform.kind {
        case .vocabulary:
            let key = try stringKey(value)
            return vocabularyIndex(key)
        case .bucketize:
            return Int32(bucket(try numeric(value)))
        default:
            throw .invalidQuery("feature '\(transform.name)' is not a table feature")
        }
    }

    /// Whether a table row says something about the query: a vocabulary value the transform was fitted on, or
    /// a present number's bucket. Out-of-vocabulary and missing-value rows hold what training learnt for "unknown".
    public func isInformative(row: Int32) -> Bool {
        transform.kind == .vocabulary ? Int(row) < vocabCount : Int(row) <= boundaries.count
    }

    /// Vocabulary index for an already-coerced key; unknown keys → OOV rows.
    @inlinable
    public func vocabularyIndex(_ key: String) -> Int32 {
        if let i = lookup[key] { return i }
        if oovBuckets == 1 { return Int32(vocabCount) }
        return Int32(vocabCount + Int(StableHash.fnv1a64(key.utf8) % UInt64(oovBuckets)))
    }

    @inlinable
    public func bucket(_ x: Double) -> Int {
        var lo = 0, hi = boundaries.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if boundaries[mid] <= x { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Writes `transform.denseWidth` floats for a dense transform.
    public func writeDense(_ value: FeatureValue?, to out: UnsafeMutablePointer<Float>) throws(ScoringError) {
        let w = transform.denseWidth
        guard let value else {
            if transform.required { throw .missingFeature(name: transform.name) }
            for i in 0..<w { out[i] = 0 }
            return
        }
        let x = try numeric(value)
        switch transform.kind {
        case .normalize:
            var v = x
            if transform.logTransform == true { v = v > -1 ? log1p(v) : 0 }
            out[0] = Float((v - (transform.mean ?? 0)) / (transform.std ?? 1))
        case .cyclical:
            FeatureEncoder.writeCycles(seconds: x, cycles: transform.cycles ?? [], to: out)
        default:
            throw .invalidQuery("feature '\(transform.name)' is not a dense feature")
        }
    }

    public static func writeCycles(seconds: Double, cycles: [FeatureTransform.Cycle], to out: UnsafeMutablePointer<Float>) {
        let t = Int(seconds.rounded(.down))
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        for (k, c) in cycles.enumerated() {
            let frac: Double
            switch c {
            case .dayOfWeek: frac = Double(((days + 3) % 7 + 7) % 7) / 7  // Monday = 0
            case .month: frac = Double(Timestamp.civilFromDays(days).month - 1) / 12
            case .hourOfDay: frac = Double(t - days * 86400) / 86400
            case .dayOfMonth: frac = Double(Timestamp.civilFromDays(days).day - 1) / 31
            }
            let a = 2 * Double.pi * frac
            out[2 * k] = Float(sin(a))
            out[2 * k + 1] = Float(cos(a))
        }
    }
}
