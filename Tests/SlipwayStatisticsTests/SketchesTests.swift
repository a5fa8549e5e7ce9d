import SlipwayStatistics
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - Deterministic randomness

/// SplitMix64 (Steele et al. 2014): tiny, seedable, good enough for generating test data reproducibly.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

extension SplitMix64 {
    /// Standard normal via Box-Muller.
    mutating func nextGaussian() -> Double {
        let u1 = Double.random(in: Double.leastNonzeroMagnitude...1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

enum LatencyDistribution: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case uniform
    case logNormal
    case constant
    case withZerosAndNegatives
    case heavyTail

    var testDescription: String { rawValue }

    func values(count: Int, seed: UInt64) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in
            switch self {
            case .uniform:
                return Double.random(in: 1...1e6, using: &rng)
            case .logNormal:
                return exp(7 + 1.5 * rng.nextGaussian())
            case .constant:
                return 4_200
            case .withZerosAndNegatives:
                switch UInt8.random(in: 0..<10, using: &rng) {
                case 0, 1, 2: return 0
                case 3: return -Double.random(in: 0...100, using: &rng)
                case 4: return 1e-12
                default: return Double.random(in: 0...5_000, using: &rng)
                }
            case .heavyTail:
                // Pareto(x_m = 50 µs, shape 1.1), capped at the 1e10 µs the service can report.
                let uniform = Double.random(in: Double.ulpOfOne...1, using: &rng)
                return Swift.min(50 / pow(uniform, 1 / 1.1), 1e10)
            }
        }
    }
}

/// Rounds to whole microseconds: integer sums below 2^53 are exact in any order, so merged sketches can be compared
/// with `==` (including `sum`) instead of with a tolerance.
func wholeMicroseconds(_ values: [Double]) -> [Double] {
    values.map { $0.rounded() }
}

func sketch(of values: [Double], relativeAccuracy: Double = 0.01) -> LatencySketch {
    var sketch = LatencySketch(relativeAccuracy: relativeAccuracy)
    for value in values {
        sketch.add(value)
    }
    return sketch
}

/// The order statistic `quantile(q)` promises: 0-based position floor(q * (n - 1)) of the sorted values, negative
/// values counted as 0 (the same convention the sketch documents).
func exactQuantile(_ q: Double, sortedValues: [Double]) -> Double {
    let position = Int((q * Double(sortedValues.count - 1)).rounded(.down))
    return sortedValues[position]
}

let testedQuantiles: [Double] = [0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1]

/// |estimate - exact| <= alpha * exact, with 1e-9 relative slack for floating-point rounding at bucket boundaries
/// (where the error is exactly alpha) and 1e-9 absolute slack for values in the zero bucket.
func isWithinRelativeAccuracy(_ estimate: Double, of exact: Double, alpha: Double) -> Bool {
    abs(estimate - exact) <= alpha * exact * (1 + 1e-9) + 1e-9
}

// MARK: - LatencySketch accuracy

@Suite("LatencySketch")
struct LatencySketchTests {
    @Test("quantiles are within 1 % of the exact order statistic", arguments: LatencyDistribution.allCases, [1, 2, 10, 1000, 100_000])
    func quantilesWithinRelativeAccuracy(distribution: LatencyDistribution, count: Int) throws {
        let values = distribution.values(count: count, seed: 42 &+ UInt64(count))
        let latencySketch = sketch(of: values)
        let sorted = values.map { Swift.max($0, 0) }.sorted()
        for q in testedQuantiles {
            let estimate = try #require(latencySketch.quantile(q))
            let exact = exactQuantile(q, sortedValues: sorted)
            #expect(isWithinRelativeAccuracy(estimate, of: exact, alpha: 0.01), "q=\(q): estimate \(estimate), exact \(exact)")
        }
        #expect(latencySketch.quantile(0) == sorted.first)
        #expect(latencySketch.quantile(1) == sorted.last)
        #expect(latencySketch.count == UInt64(count))
        #expect(latencySketch.min == sorted.first)
        #expect(latencySketch.max == sorted.last)
    }

    @Test("other accuracies keep their own guarantee", arguments: [0.001, 0.05, 0.2])
    func otherAccuracies(alpha: Double) throws {
        let values = LatencyDistribution.logNormal.values(count: 20_000, seed: 7)
        let latencySketch = sketch(of: values, relativeAccuracy: alpha)
        let sorted = values.sorted()
        for q in testedQuantiles {
            let estimate = try #require(latencySketch.quantile(q))
            let exact = exactQuantile(q, sortedValues: sorted)
            #expect(isWithinRelativeAccuracy(estimate, of: exact, alpha: alpha), "q=\(q): estimate \(estimate), exact \(exact)")
        }
    }

    @Test("every value in the indexable range maps within accuracy, including bucket boundaries")
    func bucketBoundaries() throws {
        let gamma = 1.01 / 0.99
        for exponent in stride(from: -1036, through: 1163, by: 1) {
            let boundary = pow(gamma, Double(exponent))
            for value in [boundary.nextDown, boundary, boundary.nextUp] where value > 1e-9 {
                var single = LatencySketch()
                single.add(value)
                single.add(value * 10)  // so that clamping into [min, max] does not hide the bucket value
                let estimate = try #require(single.quantile(0.5))
                #expect(isWithinRelativeAccuracy(estimate, of: value, alpha: 0.01), "value \(value) -> \(estimate)")
            }
        }
    }

    @Test("count, sum, min, max and mean are exact")
    func exactStatistics() {
        let values = wholeMicroseconds(LatencyDistribution.heavyTail.values(count: 5_000, seed: 3))
        let latencySketch = sketch(of: values)
        #expect(latencySketch.count == 5_000)
        #expect(latencySketch.sum == values.reduce(0, +))
        #expect(latencySketch.min == values.min())
        #expect(latencySketch.max == values.max())
        #expect(latencySketch.mean == values.reduce(0, +) / 5_000)
    }

    @Test("an empty sketch has no statistics and no quantiles")
    func emptySketch() throws {
        let empty = LatencySketch()
        #expect(empty.count == 0)
        #expect(empty.sum == 0)
        #expect(empty.min == nil)
        #expect(empty.max == nil)
        #expect(empty.mean == nil)
        for q in testedQuantiles {
            #expect(empty.quantile(q) == nil)
        }
        #expect(try LatencySketch(serialized: empty.serialized()) == empty)
    }

    @Test("negative values count as zero, non-finite values and zero counts are ignored, bad q gives nil")
    func edgeInputs() {
        var latencySketch = LatencySketch()
        latencySketch.add(.nan)
        latencySketch.add(.infinity)
        latencySketch.add(-.infinity)
        latencySketch.add(500, count: 0)
        #expect(latencySketch == LatencySketch())

        latencySketch.add(-5)
        latencySketch.add(1e-12)
        latencySketch.add(100)
        #expect(latencySketch.count == 3)
        #expect(latencySketch.min == 0)
        #expect(latencySketch.max == 100)
        #expect(latencySketch.sum == 100 + 1e-12)
        #expect(latencySketch.quantile(0.5) == 0)
        #expect(latencySketch.quantile(-0.1) == nil)
        #expect(latencySketch.quantile(1.1) == nil)
        #expect(latencySketch.quantile(.nan) == nil)
    }

    @Test("add(_:count:) equals adding the value count times")
    func addWithCount() {
        var repeated = LatencySketch()
        var counted = LatencySketch()
        for (value, times) in [(3.0, 5), (0.0, 2), (1_234_567.0, 1), (3.0, 7), (8e9, 3)] {
            for _ in 0..<times {
                repeated.add(value)
            }
            counted.add(value, count: UInt64(times))
        }
        #expect(counted == repeated)
        #expect(counted.serialized() == repeated.serialized())
    }

    // MARK: Merging

    @Test("merge(a, b) equals one sketch fed a and b", arguments: LatencyDistribution.allCases)
    func mergeEqualsCombinedSketch(distribution: LatencyDistribution) {
        let first = wholeMicroseconds(distribution.values(count: 3_000, seed: 11))
        let second = wholeMicroseconds(LatencyDistribution.logNormal.values(count: 2_000, seed: 12))
        var merged = sketch(of: first)
        merged.merge(sketch(of: second))
        let combined = sketch(of: first + second)
        #expect(merged == combined)
        #expect(merged.serialized() == combined.serialized())
    }

    @Test("merging non-integer values keeps quantiles, count, min and max identical and sum within rounding")
    func mergeWithFractionalValues() {
        let first = LatencyDistribution.uniform.values(count: 4_000, seed: 21)
        let second = LatencyDistribution.heavyTail.values(count: 4_000, seed: 22)
        var merged = sketch(of: first)
        merged.merge(sketch(of: second))
        let combined = sketch(of: first + second)
        #expect(merged.count == combined.count)
        #expect(merged.min == combined.min)
        #expect(merged.max == combined.max)
        #expect(abs(merged.sum - combined.sum) <= 1e-12 * combined.sum)
        for q in testedQuantiles {
            #expect(merged.quantile(q) == combined.quantile(q))
        }
    }

    @Test("merge is associative and commutative, and the empty sketch is its identity")
    func mergeAlgebra() {
        let parts = (0..<3).map { index in
            sketch(of: wholeMicroseconds(LatencyDistribution.allCases[index].values(count: 1_500, seed: 100 + UInt64(index))))
        }
        var leftGrouped = parts[0]
        leftGrouped.merge(parts[1])
        leftGrouped.merge(parts[2])
        var rightInner = parts[1]
        rightInner.merge(parts[2])
        var rightGrouped = parts[0]
        rightGrouped.merge(rightInner)
        #expect(leftGrouped.serialized() == rightGrouped.serialized())

        var forward = parts[0]
        forward.merge(parts[2])
        var backward = parts[2]
        backward.merge(parts[0])
        #expect(forward.serialized() == backward.serialized())

        var withEmpty = parts[1]
        withEmpty.merge(LatencySketch())
        #expect(withEmpty == parts[1])
        var fromEmpty = LatencySketch()
        fromEmpty.merge(parts[1])
        #expect(fromEmpty == parts[1])
    }

    @Test("merging 1440 minute sketches equals the whole day's sketch")
    func dayOfMinuteSketches() {
        var rng = SplitMix64(seed: 1440)
        var daySketch = LatencySketch()
        var mergedMinutes = LatencySketch()
        var minuteSketches: [LatencySketch] = []
        for minute in 0..<1440 {
            var minuteSketch = LatencySketch()
            // Quiet at night, busy at noon; some minutes see no traffic at all.
            let requests = minute % 97 == 0 ? 0 : Int.random(in: 0...120, using: &rng)
            for _ in 0..<requests {
                let latency = exp(6 + Double(minute) / 1440 + 1.2 * rng.nextGaussian()).rounded()
                minuteSketch.add(latency)
                daySketch.add(latency)
            }
            mergedMinutes.merge(minuteSketch)
            minuteSketches.append(minuteSketch)
        }
        #expect(mergedMinutes == daySketch)
        #expect(mergedMinutes.serialized() == daySketch.serialized())

        // Hourly roll-ups merged afterwards (a different merge tree) give the same day.
        var fromHours = LatencySketch()
        for hour in 0..<24 {
            var hourSketch = LatencySketch()
            for minuteSketch in minuteSketches[(hour * 60)..<(hour * 60 + 60)] {
                hourSketch.merge(minuteSketch)
            }
            fromHours.merge(hourSketch)
        }
        #expect(fromHours == daySketch)
    }

    @Test("merging stored minute sketches after a serialization round trip equals the day's sketch")
    func mergeDecodedMinuteSketches() throws {
        let values = wholeMicroseconds(LatencyDistribution.logNormal.values(count: 6_000, seed: 5))
        var merged = LatencySketch()
        for chunk in stride(from: 0, to: values.count, by: 100) {
            let stored = sketch(of: Array(values[chunk..<(chunk + 100)])).serialized()
            merged.merge(try LatencySketch(serialized: stored))
        }
        #expect(merged == sketch(of: values))
    }

    @Test("merging a sketch of another accuracy converts it and keeps the compound error bound")
    func mergeDifferentAccuracy() throws {
        let first = LatencyDistribution.logNormal.values(count: 5_000, seed: 31)
        let second = LatencyDistribution.uniform.values(count: 5_000, seed: 32)
        var merged = sketch(of: first, relativeAccuracy: 0.01)
        merged.merge(sketch(of: second, relativeAccuracy: 0.02))
        let sorted = (first + second).sorted()
        #expect(merged.count == 10_000)
        #expect(merged.min == sorted.first)
        #expect(merged.max == sorted.last)
        let compoundAlpha = 1.01 * 1.02 - 1
        for q in testedQuantiles {
            let estimate = try #require(merged.quantile(q))
            let exact = exactQuantile(q, sortedValues: sorted)
            #expect(isWithinRelativeAccuracy(estimate, of: exact, alpha: compoundAlpha), "q=\(q): \(estimate) vs \(exact)")
        }
    }

    // MARK: Serialization

    @Test("serialization round trips", arguments: LatencyDistribution.allCases, [0, 1, 2, 10, 1000, 100_000])
    func roundTrip(distribution: LatencyDistribution, count: Int) throws {
        let original = sketch(of: distribution.values(count: count, seed: 77))
        let bytes = original.serialized()
        #expect(bytes.first == 1, "first byte is the format version")
        let decoded = try LatencySketch(serialized: bytes)
        #expect(decoded == original)
        #expect(decoded.serialized() == bytes)
        for q in testedQuantiles {
            #expect(decoded.quantile(q) == original.quantile(q))
        }
    }

    @Test("encodings are compact")
    func compactEncoding() {
        var single = LatencySketch()
        single.add(1_250)
        #expect(single.serialized().count <= 48)
        let logNormal = sketch(of: LatencyDistribution.logNormal.values(count: 1_000, seed: 9))
        #expect(logNormal.serialized().count < 1_200)
    }

    @Test("every truncation of a valid encoding throws")
    func truncationsThrow() {
        for original in [LatencySketch(), sketch(of: [5]), sketch(of: LatencyDistribution.withZerosAndNegatives.values(count: 300, seed: 1))] {
            let bytes = original.serialized()
            for length in 0..<bytes.count {
                #expect(throws: SketchDecodingError.self) {
                    try LatencySketch(serialized: Array(bytes[0..<length]))
                }
            }
        }
    }

    @Test("malformed encodings are rejected with a decoding error")
    func malformedEncodings() {
        let valid = sketch(of: [10, 20, 30]).serialized()
        var wrongVersion = valid
        wrongVersion[0] = 2
        var badCountEncoding = valid
        badCountEncoding[9] = 4  // count says 4, buckets hold 3
        let cases: [[UInt8]] = [
            [],
            wrongVersion,
            valid + [0],
            badCountEncoding,
            [1] + Array(repeating: 0xFF, count: 40),
            [1, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F],  // accuracy 1.0
        ]
        for bytes in cases {
            #expect(throws: SketchDecodingError.self) {
                try LatencySketch(serialized: bytes)
            }
        }
        #expect(throws: SketchDecodingError.unsupportedVersion(2)) {
            try LatencySketch(serialized: wrongVersion)
        }
    }

    @Test("random and mutated bytes either throw or decode to a usable sketch, never crash")
    func fuzzDecoding() {
        var rng = SplitMix64(seed: 0xF022)
        let seeds = [sketch(of: [1, 2, 3]).serialized(), sketch(of: LatencyDistribution.heavyTail.values(count: 200, seed: 4)).serialized()]
        var decodedCount = 0
        for iteration in 0..<20_000 {
            var bytes: [UInt8]
            if iteration % 2 == 0 {
                bytes = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if iteration % 4 == 0, !bytes.isEmpty { bytes[0] = 1 }
            } else {
                bytes = seeds[iteration % 4 == 1 ? 0 : 1]
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            guard let decoded = try? LatencySketch(serialized: bytes) else { continue }
            decodedCount += 1
            for q in testedQuantiles {
                _ = decoded.quantile(q)
            }
            var merged = sketch(of: [100, 200])
            merged.merge(decoded)
            #expect(merged.count >= decoded.count)
            #expect((try? LatencySketch(serialized: decoded.serialized())) == decoded)
        }
        #expect(decodedCount > 0, "some single-byte mutations (e.g. of a count-neutral field) should still decode")
    }
}

// MARK: - HyperLogLog

func customers(_ range: Range<Int>) -> [String] {
    range.map { "customer-\($0)" }
}

func hyperLogLog(of items: [String], precision: Int = 12) -> HyperLogLog {
    var sketch = HyperLogLog(precision: precision)
    for item in items {
        sketch.add(item)
    }
    return sketch
}

@Suite("HyperLogLog")
struct HyperLogLogTests {
    @Test("estimate is within 3 standard errors", arguments: [1_000, 10_000, 100_000])
    func accuracy(count: Int) {
        let estimate = hyperLogLog(of: customers(0..<count)).estimate
        let relativeError = abs(Double(estimate - count)) / Double(count)
        #expect(relativeError <= 3 * 1.04 / 64, "n=\(count): estimate \(estimate)")
    }

    @Test("estimate is within 3 standard errors for other precisions and random hashes", arguments: [4, 8, 14, 16])
    func accuracyOtherPrecisions(precision: Int) {
        var rng = SplitMix64(seed: UInt64(precision))
        var sketch = HyperLogLog(precision: precision)
        for _ in 0..<50_000 {
            sketch.add(hash: rng.next())
        }
        let relativeError = abs(Double(sketch.estimate - 50_000)) / 50_000
        #expect(relativeError <= 3 * 1.04 / Double(1 << precision).squareRoot(), "p=\(precision): \(sketch.estimate)")
    }

    /// Guards the estimator choice: the classic raw estimate with a linear-counting switch at 2.5 m reads about 1.6 %
    /// high around n = 10 000 at p = 12; averaged over 20 independent sets, a bias that size would exceed 1 %.
    @Test("estimate is unbiased around the old linear-counting switch (n ≈ 2.5 m)", arguments: [8_000, 10_000, 12_000])
    func noBiasAtTransition(count: Int) {
        var totalRelativeError = 0.0
        for seed in 0..<20 {
            var rng = SplitMix64(seed: UInt64(seed) &* 1_000_003 &+ UInt64(count))
            var sketch = HyperLogLog()
            for _ in 0..<count {
                sketch.add(hash: rng.next())
            }
            let relativeError = Double(sketch.estimate - count) / Double(count)
            #expect(abs(relativeError) <= 3 * 1.04 / 64, "seed \(seed): estimate \(sketch.estimate)")
            totalRelativeError += relativeError
        }
        #expect(abs(totalRelativeError / 20) < 0.01, "mean relative error \(totalRelativeError / 20)")
    }

    /// Not exact: small counts behave like linear counting, which is exact in expectation but not per sample
    /// (about n^2 / 8192 register collisions are expected at n = 100; the standard deviation there is about 1, and the
    /// worst seen over 200 random sets was 4). For these particular deterministic inputs the worst error is 1; the
    /// assertion allows 2 so that it states the contract, not this sample's luck.
    @Test("small counts at p=12 are within 2 of the truth (0 and 1 exactly)")
    func smallCounts() {
        var sketch = HyperLogLog()
        #expect(sketch.estimate == 0)
        for n in 1...100 {
            sketch.add("customer-\(n)")
            #expect(abs(sketch.estimate - n) <= 2, "n=\(n): estimate \(sketch.estimate)")
            if n == 1 { #expect(sketch.estimate == 1) }
        }
    }

    @Test("duplicates do not count")
    func duplicates() {
        let once = hyperLogLog(of: customers(0..<5_000))
        var many = HyperLogLog()
        for _ in 0..<5 {
            for item in customers(0..<5_000).reversed() {
                many.add(item)
            }
        }
        #expect(many == once)
        #expect(many.estimate == once.estimate)
    }

    @Test("merging disjoint sets estimates the union and equals the union's sketch")
    func mergeDisjoint() {
        var merged = hyperLogLog(of: customers(0..<30_000))
        merged.merge(hyperLogLog(of: customers(30_000..<100_000)))
        #expect(merged == hyperLogLog(of: customers(0..<100_000)))
        #expect(abs(Double(merged.estimate - 100_000)) / 100_000 <= 3 * 1.04 / 64)
    }

    @Test("merging overlapping sets counts shared customers once")
    func mergeOverlapping() {
        var merged = hyperLogLog(of: customers(0..<600))
        merged.merge(hyperLogLog(of: customers(400..<1_000)))
        #expect(merged == hyperLogLog(of: customers(0..<1_000)))
    }

    @Test("merge is idempotent, commutative and associative")
    func mergeAlgebra() {
        let a = hyperLogLog(of: customers(0..<2_000))
        let b = hyperLogLog(of: customers(1_000..<5_000))
        let c = hyperLogLog(of: customers(7_000..<7_050))

        var selfMerged = a
        selfMerged.merge(a)
        #expect(selfMerged == a)

        var ab = a
        ab.merge(b)
        var ba = b
        ba.merge(a)
        #expect(ab == ba)

        var abThenC = ab
        abThenC.merge(c)
        var bc = b
        bc.merge(c)
        var aThenBC = a
        aThenBC.merge(bc)
        #expect(abThenC == aThenBC)

        var withEmpty = a
        withEmpty.merge(HyperLogLog())
        #expect(withEmpty == a)
    }

    @Test("few customers use the sparse encoding, many use the dense one")
    func encodingChoice() throws {
        let few = hyperLogLog(of: customers(0..<10)).serialized()
        #expect(few.count < 100)
        #expect(few.count <= 3 + 1 + 10 * 3)
        #expect(HyperLogLog().serialized().count == 4)
        let many = hyperLogLog(of: customers(0..<100_000)).serialized()
        #expect(many.count == 3 + 4_096, "dense: header plus one byte per register")
    }

    @Test("serialization round trips", arguments: [4, 12, 16], [0, 1, 10, 500, 2_000, 100_000])
    func roundTrip(precision: Int, count: Int) throws {
        let original = hyperLogLog(of: customers(0..<count), precision: precision)
        let bytes = original.serialized()
        #expect(bytes.first == 1, "first byte is the format version")
        let decoded = try HyperLogLog(serialized: bytes)
        #expect(decoded == original)
        #expect(decoded.estimate == original.estimate)
        #expect(decoded.serialized() == bytes)
    }

    @Test("extreme hashes round trip (register values at their maximum)")
    func extremeHashes() throws {
        var sketch = HyperLogLog(precision: 4)
        sketch.add(hash: 0)
        sketch.add(hash: .max)
        sketch.add(hash: 1)
        #expect(try HyperLogLog(serialized: sketch.serialized()) == sketch)
    }

    @Test("every truncation of a valid encoding throws")
    func truncationsThrow() {
        for original in [HyperLogLog(), hyperLogLog(of: customers(0..<10)), hyperLogLog(of: customers(0..<100), precision: 4)] {
            let bytes = original.serialized()
            for length in 0..<bytes.count {
                #expect(throws: SketchDecodingError.self) {
                    try HyperLogLog(serialized: Array(bytes[0..<length]))
                }
            }
        }
    }

    @Test("garbage input throws a decoding error")
    func garbageThrows() {
        let cases: [[UInt8]] = [
            [],
            [2, 12, 0, 0],  // unknown version
            [1, 3, 0, 0],  // precision too small
            [1, 17, 0, 0],  // precision too large
            [1, 12, 7, 0],  // unknown encoding
            [1, 12, 0, 1, 0, 0],  // sparse register value 0
            [1, 4, 0, 1, 0, 62],  // value no 60-bit remainder can produce
            [1, 4, 0, 1, 16, 1],  // register index 16 at p=4
            [1, 4, 0, 2, 15, 1, 0, 1],  // second index past the end
            [1, 4, 0, 17],  // more pairs than registers
            [1, 12, 0, 0, 0],  // trailing byte
            [1, 4, 1] + Array(repeating: 1, count: 15),
            [1, 4, 1] + Array(repeating: 99, count: 16),
            [1, 12, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        ]
        for bytes in cases {
            #expect(throws: SketchDecodingError.self, "\(bytes.prefix(8))") {
                try HyperLogLog(serialized: bytes)
            }
        }
    }

    @Test("random and mutated bytes either throw or decode to a usable sketch, never crash")
    func fuzzDecoding() {
        var rng = SplitMix64(seed: 0x11)
        let seeds = [hyperLogLog(of: customers(0..<20)).serialized(), hyperLogLog(of: customers(0..<300), precision: 5).serialized()]
        for iteration in 0..<20_000 {
            var bytes: [UInt8]
            if iteration % 2 == 0 {
                bytes = (0..<Int.random(in: 0...60, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if iteration % 4 == 0, bytes.count >= 2 {
                    bytes[0] = 1
                    bytes[1] = UInt8.random(in: 4...6, using: &rng)
                }
            } else {
                bytes = seeds[iteration % 4 == 1 ? 0 : 1]
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            guard let decoded = try? HyperLogLog(serialized: bytes) else { continue }
            #expect(decoded.estimate >= 0)
            #expect((try? HyperLogLog(serialized: decoded.serialized())) == decoded)
        }
    }
}

// MARK: - StableHash

@Suite("StableHash")
struct StableHashTests {
    /// Storage-format guard: these constants were computed once (and cross-checked with an independent
    /// implementation). If this test fails, stored HyperLogLogs no longer merge with new ones: revert the change.
    @Test("golden values never change")
    func goldenValues() {
        #expect(StableHash.hash64("") == 0xEFD0_1F60_BA99_2926)
        #expect(StableHash.hash64("customer-1") == 0xADF9_2B53_7B08_CDDA)
        #expect(StableHash.hash64("é") == 0x9D55_CCB9_BA86_763B)
    }

    @Test("bridged or non-contiguous strings hash like native ones")
    func representationIndependent() {
        let native = "customer-" + String(42)
        let substringBased = String("xxcustomer-42".dropFirst(2))
        #expect(StableHash.hash64(native) == StableHash.hash64(substringBased))
        #expect(StableHash.hash64("customer-1") != StableHash.hash64("customer-2"))
    }
}
