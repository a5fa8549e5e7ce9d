/// What is kept about a numeric feature's baseline (training data or a past serving window), small enough to store as
/// JSON next to the model.
///
/// - Bins: cut at the baseline's quantiles (deciles by default), so each bin holds about the same share of baseline
///   rows and PSI is equally sensitive across the range. Bin 0 is `(-∞, binEdges[0]]`, bin i is
///   `(binEdges[i-1], binEdges[i]]`, the last is `(binEdges.last, +∞)` — open-ended so that comparison values outside
///   the baseline range still land somewhere. Edges are quantiles by the nearest-rank rule, i.e. actual data values;
///   with ties several quantiles coincide and the duplicates are dropped, so a feature with few distinct values gets
///   fewer, not empty, bins.
/// - Sample: up to `sampleLimit` values picked uniformly at random, for the Kolmogorov–Smirnov test. The pick uses a
///   fixed-seed SplitMix64 over the *sorted* values, so it depends only on the multiset of values: the same data in a
///   different row order gives the identical baseline.
/// - Non-finite values (NaN, ±∞) are not data about the distribution; they are skipped and counted in `invalidCount`.
public struct NumericBaseline: Codable, Equatable, Sendable {
    /// Interior bin boundaries, finite and strictly increasing; there are `binEdges.count + 1` bins.
    public let binEdges: [Double]
    /// Share of baseline values in each bin; sums to 1 (empty only when `count` is 0).
    public let binProportions: [Double]
    /// Number of finite baseline values.
    public let count: Int
    /// Number of NaN / infinite values that were ignored.
    public let invalidCount: Int
    /// Sorted random sample of the finite values (all of them when there are no more than `sampleLimit`).
    public let sample: [Double]

    /// Fixed so that a baseline can be rebuilt bit-for-bit from the same data.
    static let samplingSeed: UInt64 = 0x5D1F_7BA5_E11E_D21F

    /// - Parameters:
    ///   - values: the baseline values; NaN and infinities are ignored.
    ///   - bins: requested number of quantile bins (at least 1); ties can reduce it.
    ///   - sampleLimit: maximum size of the stored KS sample.
    public init(values: [Double], bins: Int = 10, sampleLimit: Int = 2000) {
        var finite: [Double] = []
        finite.reserveCapacity(values.count)
        var invalid = 0
        for value in values {
            if value.isFinite {
                // Fold -0.0 into +0.0 so the unstable sort cannot make the sample depend on row order.
                finite.append(value + 0.0)
            } else {
                invalid += 1
            }
        }
        finite.sort()

        let binCount = max(1, bins)
        var edges: [Double] = []
        if !finite.isEmpty {
            for quantileIndex in 1..<binCount {
                // Nearest-rank quantile: the smallest value with at least quantileIndex/binCount of the data at or below it.
                let rank = (quantileIndex * finite.count + binCount - 1) / binCount
                let edge = finite[max(0, rank - 1)]
                if edges.last.map({ edge > $0 }) ?? true {
                    edges.append(edge)
                }
            }
        }

        var proportions: [Double] = []
        if !finite.isEmpty {
            let total = Double(finite.count)
            var previous = 0
            for edge in edges {
                let atOrBelow = DriftStatistics.countNotAbove(edge, in: finite)
                proportions.append(Double(atOrBelow - previous) / total)
                previous = atOrBelow
            }
            proportions.append(Double(finite.count - previous) / total)
        }

        self.binEdges = edges
        self.binProportions = proportions
        self.count = finite.count
        self.invalidCount = invalid
        self.sample = Self.reservoirSample(of: finite, limit: max(0, sampleLimit)).sorted()
    }

    /// Algorithm R reservoir sampling with a fixed seed: a uniform random subset of `limit` values.
    private static func reservoirSample(of values: [Double], limit: Int) -> [Double] {
        guard values.count > limit else { return values }
        guard limit > 0 else { return [] }
        var reservoir = Array(values[0..<limit])
        var generator = DriftSplitMix64(seed: samplingSeed)
        for index in limit..<values.count {
            let slot = generator.next(below: index + 1)
            if slot < limit {
                reservoir[slot] = values[index]
            }
        }
        return reservoir
    }

    private enum CodingKeys: String, CodingKey {
        case binEdges, binProportions, count, invalidCount, sample
    }

    /// Decodes and validates: a stored baseline is external input, and the analyzer indexes proportions by bin, so an
    /// inconsistent document must fail here rather than crash or silently mis-bin later.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let edges = try container.decode([Double].self, forKey: .binEdges)
        let proportions = try container.decode([Double].self, forKey: .binProportions)
        let count = try container.decode(Int.self, forKey: .count)
        let invalidCount = try container.decodeIfPresent(Int.self, forKey: .invalidCount) ?? 0
        let sample = try container.decode([Double].self, forKey: .sample)

        func reject(_ key: CodingKeys, _ message: String) -> DecodingError {
            DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: message)
        }
        guard count >= 0, invalidCount >= 0 else { throw reject(.count, "counts must be non-negative") }
        guard edges.allSatisfy(\.isFinite), zip(edges, edges.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw reject(.binEdges, "bin edges must be finite and strictly increasing")
        }
        let expectedProportions = count == 0 ? 0 : edges.count + 1
        guard proportions.count == expectedProportions, proportions.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw reject(.binProportions, "expected \(expectedProportions) finite non-negative proportions")
        }
        guard sample.count <= count, sample.allSatisfy(\.isFinite), zip(sample, sample.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw reject(.sample, "sample must be finite, sorted and no larger than count")
        }
        self.binEdges = edges
        self.binProportions = proportions
        self.count = count
        self.invalidCount = invalidCount
        self.sample = sample
    }
}
