import Foundation
import Testing

@testable import SlipwayStatistics

// MARK: - Deterministic test data

/// SplitMix64 with a Box–Muller normal: small, fully specified, so every run sees the same data.
struct DriftTestRNG {
    private var state: UInt64
    private var spareNormal: Double?

    init(seed: UInt64) {
        state = seed &* 0x2545_F491_4F6C_DD1D &+ 0x1234_5678
    }

    mutating func nextUInt64() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func nextUniform() -> Double {
        Double(nextUInt64() >> 11) * 0x1.0p-53
    }

    mutating func nextNormal(mean: Double = 0, standardDeviation: Double = 1) -> Double {
        if let spare = spareNormal {
            spareNormal = nil
            return mean + standardDeviation * spare
        }
        let u1 = max(nextUniform(), Double.leastNonzeroMagnitude)
        let u2 = nextUniform()
        let radius = (-2 * Foundation.log(u1)).squareRoot()
        spareNormal = radius * Foundation.sin(2 * Double.pi * u2)
        return mean + standardDeviation * radius * Foundation.cos(2 * Double.pi * u2)
    }

    mutating func normals(_ count: Int, mean: Double = 0, standardDeviation: Double = 1) -> [Double] {
        (0..<count).map { _ in nextNormal(mean: mean, standardDeviation: standardDeviation) }
    }

    /// Draws `count` categories with the given weights (which need not sum to 1).
    mutating func categories(_ count: Int, names: [String], weights: [Double]) -> [String] {
        let total = weights.reduce(0, +)
        return (0..<count).map { _ in
            var remaining = nextUniform() * total
            for (name, weight) in zip(names, weights) {
                remaining -= weight
                if remaining < 0 { return name }
            }
            return names[names.count - 1]
        }
    }
}

enum DriftTestData {
    static let colours = ["red", "green", "blue", "yellow", "purple"]
    static let weights = [0.4, 0.25, 0.15, 0.12, 0.08]
}

// MARK: - No drift when nothing changed

@Suite("Same distribution")
struct DriftSameDistributionTests {
    @Test("Numeric normal, same distribution: no drift", arguments: 0..<20)
    func numericNoDrift(seed: Int) {
        var rng = DriftTestRNG(seed: UInt64(seed))
        let baseline = NumericBaseline(values: rng.normals(5_000, mean: 10, standardDeviation: 3))
        let result = DriftAnalyzer.analyze(
            numeric: baseline,
            comparison: rng.normals(1_000, mean: 10, standardDeviation: 3),
            feature: "latency"
        )
        #expect(result.status == .ok)
        #expect(result.kind == .numeric)
        #expect(result.severity <= .low)
        #expect(!result.drifted)
        #expect((result.psi ?? 1) < 0.1)
        #expect((result.ksPValue ?? 0) > 0.001)
        #expect(result.jensenShannon == nil && result.unseenShare == nil)
        #expect(result.baselineCount == 5_000 && result.comparisonCount == 1_000)
    }

    @Test("Categorical with 5 categories, same distribution: no drift", arguments: 0..<20)
    func categoricalNoDrift(seed: Int) {
        var rng = DriftTestRNG(seed: UInt64(1_000 + seed))
        let baseline = CategoricalBaseline(values: rng.categories(5_000, names: DriftTestData.colours, weights: DriftTestData.weights))
        let result = DriftAnalyzer.analyze(
            categorical: baseline,
            comparison: rng.categories(1_000, names: DriftTestData.colours, weights: DriftTestData.weights),
            feature: "colour"
        )
        #expect(result.status == .ok)
        #expect(result.kind == .categorical)
        #expect(result.severity <= .low)
        #expect(!result.drifted)
        #expect((result.psi ?? 1) < 0.1)
        #expect((result.jensenShannon ?? 1) < 0.1)
        #expect(result.unseenShare == 0)
        #expect(result.ksStatistic == nil && result.ksPValue == nil)
    }

    @Test("At the minimum count (100 vs 100) sampling noise alone rarely produces a verdict")
    func smallSamplesRarelyAlarm() {
        var drifted = 0
        for seed in 0..<40 {
            var rng = DriftTestRNG(seed: UInt64(5_000 + seed))
            let baseline = NumericBaseline(values: rng.normals(100))
            let result = DriftAnalyzer.analyze(numeric: baseline, comparison: rng.normals(100), feature: "x")
            #expect(result.status == .ok)
            if result.drifted { drifted += 1 }
        }
        // Without the PSI noise gate roughly 40 % of these would be "medium" or worse.
        #expect(drifted <= 2)
    }
}

// MARK: - Drift is detected

@Suite("Detected drift")
struct DriftDetectedTests {
    @Test("Mean shifted by one standard deviation", arguments: 0..<5)
    func shiftedMean(seed: Int) {
        var rng = DriftTestRNG(seed: UInt64(200 + seed))
        let baseline = NumericBaseline(values: rng.normals(5_000, mean: 50, standardDeviation: 4))
        let result = DriftAnalyzer.analyze(
            numeric: baseline,
            comparison: rng.normals(2_000, mean: 54, standardDeviation: 4),
            feature: "amount"
        )
        #expect(result.status == .ok)
        #expect(result.drifted)
        #expect(result.severity >= .medium)
        #expect((result.ksPValue ?? 1) < 0.01)
        #expect((result.ksStatistic ?? 0) > 0.3)
    }

    @Test("A new category takes 60 % of comparison values")
    func newDominantCategory() throws {
        var rng = DriftTestRNG(seed: 77)
        let baseline = CategoricalBaseline(values: rng.categories(5_000, names: DriftTestData.colours, weights: DriftTestData.weights))
        var comparison = rng.categories(400, names: DriftTestData.colours, weights: DriftTestData.weights)
        comparison += Array(repeating: "ultraviolet", count: 600)
        let result = DriftAnalyzer.analyze(categorical: baseline, comparison: comparison, feature: "colour")
        #expect(result.drifted)
        #expect(result.severity >= .high)
        let unseenShare = try #require(result.unseenShare)
        #expect(abs(unseenShare - 0.6) < 1e-12)
        #expect((result.jensenShannon ?? 0) > 0.5)
        #expect((result.psi ?? 0) >= 0.5)
    }

    @Test("Unseen share alone raises severity to high even when PSI is moderate")
    func unseenShareRule() {
        var rng = DriftTestRNG(seed: 78)
        let baseline = CategoricalBaseline(values: rng.categories(5_000, names: DriftTestData.colours, weights: DriftTestData.weights))
        var comparison = rng.categories(780, names: DriftTestData.colours, weights: DriftTestData.weights)
        comparison += Array(repeating: "new", count: 220)
        // With a huge epsilon the unseen bin barely registers in PSI, isolating the unseen-share rule.
        let lenient = DriftThresholds(psiEpsilon: 0.5)
        let result = DriftAnalyzer.analyze(categorical: baseline, comparison: comparison, feature: "c", thresholds: lenient)
        #expect((result.psi ?? 1) < 0.25)
        #expect(result.severity == .high)
        #expect(result.drifted)
    }

    @Test("Summary over 10 features names exactly the two that drift")
    func summaryNamesDriftedFeatures() {
        var rng = DriftTestRNG(seed: 4_242)
        var results: [FeatureDriftResult] = []
        for index in 0..<10 {
            let name = "feature_\(index)"
            if index.isMultiple(of: 2) {
                let baseline = NumericBaseline(values: rng.normals(3_000))
                let shift = index == 4 ? 1.0 : 0.0
                results.append(DriftAnalyzer.analyze(numeric: baseline, comparison: rng.normals(1_500, mean: shift), feature: name))
            } else {
                let baseline = CategoricalBaseline(values: rng.categories(3_000, names: DriftTestData.colours, weights: DriftTestData.weights))
                let weights = index == 7 ? DriftTestData.weights.reversed() : DriftTestData.weights
                let comparison = rng.categories(1_500, names: DriftTestData.colours, weights: weights)
                results.append(DriftAnalyzer.analyze(categorical: baseline, comparison: comparison, feature: name))
            }
        }
        let summary = DriftSummary(results: results)
        #expect(summary.status == .ok)
        #expect(summary.affectedFeatures == ["feature_4", "feature_7"])
        #expect(summary.driftDetected)
        #expect(summary.severity >= .medium)
        #expect(summary.driftScore > 0 && summary.driftScore <= 0.2)
        #expect(summary.results.count == 10)
    }

    @Test("Summary score is monotonic and bounded")
    func summaryScore() {
        func result(_ name: String, _ severity: DriftSeverity, status: DriftStatus = .ok) -> FeatureDriftResult {
            FeatureDriftResult(feature: name, kind: .numeric, status: status, psi: 0, severity: severity, baselineCount: 500, comparisonCount: 500)
        }
        let calm = DriftSummary(results: [result("a", .none), result("b", .none)])
        let mild = DriftSummary(results: [result("a", .low), result("b", .none)])
        let bad = DriftSummary(results: [result("a", .critical), result("b", .none)])
        let worst = DriftSummary(results: [result("a", .critical), result("b", .critical)])
        #expect(calm.driftScore == 0 && !calm.driftDetected && calm.severity == .none)
        #expect(calm.driftScore < mild.driftScore && mild.driftScore < bad.driftScore && bad.driftScore < worst.driftScore)
        #expect(worst.driftScore == 1)
        #expect(!mild.driftDetected && bad.driftDetected && bad.affectedFeatures == ["a"])
        // Insufficient features neither raise nor dilute the score.
        let withSparse = DriftSummary(results: [result("a", .critical), result("b", .none), result("c", .none, status: .insufficientData)])
        #expect(withSparse.driftScore == bad.driftScore)
    }
}

// MARK: - Sample-size awareness

@Suite("Insufficient data")
struct DriftInsufficientDataTests {
    @Test("20 comparison values give insufficientData, not a verdict, however different they are")
    func twentyComparisonValues() {
        var rng = DriftTestRNG(seed: 9)
        let baseline = NumericBaseline(values: rng.normals(5_000))
        let result = DriftAnalyzer.analyze(numeric: baseline, comparison: rng.normals(20, mean: 100), feature: "x")
        #expect(result.status == .insufficientData)
        #expect(result.severity == .none)
        #expect(!result.drifted)
        #expect(result.psi == nil && result.ksStatistic == nil && result.ksPValue == nil)
        #expect(result.comparisonCount == 20 && result.baselineCount == 5_000)

        let categorical = CategoricalBaseline(values: rng.categories(5_000, names: DriftTestData.colours, weights: DriftTestData.weights))
        let categoricalResult = DriftAnalyzer.analyze(
            categorical: categorical,
            comparison: Array(repeating: "never-seen", count: 20),
            feature: "c"
        )
        #expect(categoricalResult.status == .insufficientData)
        #expect(!categoricalResult.drifted && categoricalResult.unseenShare == nil)

        let summary = DriftSummary(results: [result, categoricalResult])
        #expect(summary.status == .insufficientData)
        #expect(!summary.driftDetected && summary.driftScore == 0 && summary.affectedFeatures.isEmpty)
        #expect(DriftSummary(results: []).status == .insufficientData)
    }

    @Test("A small baseline also withholds the verdict; NaNs do not count towards the minimum")
    func smallBaselineAndNaNs() {
        var rng = DriftTestRNG(seed: 10)
        let smallBaseline = NumericBaseline(values: rng.normals(60))
        #expect(DriftAnalyzer.analyze(numeric: smallBaseline, comparison: rng.normals(1_000), feature: "x").status == .insufficientData)

        let baseline = NumericBaseline(values: rng.normals(1_000))
        let mostlyNaN = rng.normals(99) + Array(repeating: Double.nan, count: 500)
        let result = DriftAnalyzer.analyze(numeric: baseline, comparison: mostlyNaN, feature: "x")
        #expect(result.status == .insufficientData)
        #expect(result.comparisonCount == 99)
    }
}

// MARK: - Statistics against independent references

@Suite("Statistics")
struct DriftStatisticsTests {
    /// ECDF difference at every observed point, counted directly: O((n + m)²), no sorting tricks.
    static func bruteForceKS(_ a: [Double], _ b: [Double]) -> Double {
        var largest = 0.0
        for point in a + b {
            let fractionA = Double(a.filter { $0 <= point }.count) / Double(a.count)
            let fractionB = Double(b.filter { $0 <= point }.count) / Double(b.count)
            largest = max(largest, abs(fractionA - fractionB))
        }
        return largest
    }

    @Test("KS statistic matches brute force on small random inputs, including ties")
    func ksMatchesBruteForce() {
        var rng = DriftTestRNG(seed: 31)
        for trial in 0..<300 {
            let sizeA = 1 + Int(rng.nextUInt64() % 40)
            let sizeB = 1 + Int(rng.nextUInt64() % 40)
            // Rounding to a coarse grid on every other trial forces ties within and across the samples.
            let grid = trial.isMultiple(of: 2) ? 0.5 : 1e-9
            let shift = rng.nextUniform()
            let a = (0..<sizeA).map { _ in (rng.nextNormal() / grid).rounded() * grid }
            let b = (0..<sizeB).map { _ in ((rng.nextNormal() + shift) / grid).rounded() * grid }
            let fast = DriftStatistics.ksStatistic(sortedA: a.sorted(), sortedB: b.sorted())
            #expect(abs(fast - Self.bruteForceKS(a, b)) < 1e-12, "trial \(trial)")
        }
        #expect(DriftStatistics.ksStatistic(sortedA: [1, 2, 3], sortedB: [1, 2, 3]) == 0)
        #expect(DriftStatistics.ksStatistic(sortedA: [1, 2], sortedB: [3, 4]) == 1)
    }

    @Test("KS p-value is in [0, 1] and decreasing in D")
    func ksPValueMonotonic() {
        for (sizeA, sizeB) in [(1_000, 1_000), (2_000, 100_000), (100, 150), (5, 7)] {
            var previous = 1.0
            for step in 0...200 {
                let statistic = Double(step) / 200
                let pValue = DriftStatistics.ksPValue(statistic: statistic, sizeA: sizeA, sizeB: sizeB)
                #expect(pValue >= 0 && pValue <= 1)
                #expect(pValue <= previous + 1e-15, "n=\(sizeA) m=\(sizeB) D=\(statistic)")
                previous = pValue
            }
        }
        #expect(DriftStatistics.ksPValue(statistic: 0, sizeA: 1_000, sizeB: 1_000) == 1)
        #expect(DriftStatistics.ksPValue(statistic: 0.5, sizeA: 1_000, sizeB: 1_000) < 1e-50)
    }

    /// Reference values from `scipy.special.kolmogorov` (SciPy 1.17.1), which evaluates the same Q_KS(λ).
    @Test("Kolmogorov survival function matches SciPy on both sides of the series switch")
    func kolmogorovSeriesMatchesSciPy() {
        let reference: [(Double, Double)] = [
            (0.3, 0.9999906941986655), (0.5, 0.9639452436648751), (0.8, 0.5441424115741981),
            (1.0, 0.26999967167735456), (1.17, 0.12939004218561884), (1.19, 0.11774229287977166),
            (1.5, 0.022217962616525127), (2.0, 0.0006709252557796953), (3.0, 3.045995948942526e-08),
        ]
        for (lambda, expected) in reference {
            let actual = DriftStatistics.kolmogorovSurvival(lambda)
            #expect(abs(actual - expected) <= 1e-9 * max(expected, 1e-300) + 1e-15, "lambda \(lambda)")
        }
    }

    /// n = m = 1000, D = 0.1: en = 500, λ = (√500 + 0.12 + 0.11/√500) · 0.1 = 2.24856, Q_KS(λ) = 8.1176e-5
    /// (scipy.special.kolmogorov). For comparison scipy.stats.ks_2samp(method="asymp") uses kstwo.sf(D, round(en))
    /// = 8.34e-5 and the uncorrected Q_KS(√en · D) = 9.08e-5 — same order, as expected.
    @Test("Known p-value for n = m = 1000, D = 0.1")
    func knownPValue() {
        let pValue = DriftStatistics.ksPValue(statistic: 0.1, sizeA: 1_000, sizeB: 1_000)
        #expect(abs(pValue - 8.117557315738262e-05) < 1e-6 * 8.117557315738262e-05)
    }

    @Test("PSI of identical distributions is 0; PSI is symmetric in its arguments")
    func psiBasics() {
        let p = [0.1, 0.2, 0.3, 0.4, 0]
        let q = [0.25, 0.25, 0.25, 0.25, 0]
        #expect(DriftStatistics.populationStabilityIndex(expected: p, actual: p, epsilon: 1e-4) == 0)
        let forward = DriftStatistics.populationStabilityIndex(expected: p, actual: q, epsilon: 1e-4)
        let backward = DriftStatistics.populationStabilityIndex(expected: q, actual: p, epsilon: 1e-4)
        #expect(forward > 0.1)
        #expect(abs(forward - backward) < 1e-12)
        // Empty-versus-full bin stays finite thanks to epsilon.
        let extreme = DriftStatistics.populationStabilityIndex(expected: [1, 0], actual: [0, 1], epsilon: 1e-4)
        #expect(extreme.isFinite && extreme > 10)
    }

    @Test("PSI of a baseline against its own values is ~0; swapping the roles gives a similar PSI")
    func psiOnData() throws {
        var rng = DriftTestRNG(seed: 55)
        let values = rng.normals(3_000)
        let own = DriftAnalyzer.analyze(numeric: NumericBaseline(values: values), comparison: values, feature: "x")
        #expect(try #require(own.psi) < 1e-12)
        #expect(own.severity == .none)

        let shifted = rng.normals(3_000, mean: 0.5, standardDeviation: 1.2)
        let forward = try #require(
            DriftAnalyzer.analyze(numeric: NumericBaseline(values: values), comparison: shifted, feature: "x").psi
        )
        let backward = try #require(
            DriftAnalyzer.analyze(numeric: NumericBaseline(values: shifted), comparison: values, feature: "x").psi
        )
        #expect(forward > 0.1 && backward > 0.1)
        #expect(forward / backward > 0.5 && forward / backward < 2)
    }

    @Test("Jensen–Shannon distance is 0 for identical and 1 for disjoint distributions")
    func jensenShannonBounds() {
        #expect(DriftStatistics.jensenShannonDistance([0.5, 0.5, 0], [0.5, 0.5, 0]) == 0)
        #expect(abs(DriftStatistics.jensenShannonDistance([1, 0], [0, 1]) - 1) < 1e-12)
        let partial = DriftStatistics.jensenShannonDistance([0.5, 0.5], [0.9, 0.1])
        #expect(partial > 0 && partial < 1)
    }

    @Test("Wilson–Hilferty χ² quantile is within 1 % of SciPy's chi2.ppf(0.99, k)")
    func chiSquaredQuantile() {
        for (k, expected) in [(1.0, 6.6348966010212145), (9.0, 21.665994333461924), (51.0, 77.38596201613736)] {
            let actual = DriftStatistics.chiSquaredQuantile(degreesOfFreedom: k, zScore: 2.326)
            #expect(abs(actual - expected) / expected < 0.01, "k = \(k)")
        }
    }
}

// MARK: - Baselines

@Suite("Baselines")
struct DriftBaselineTests {
    @Test("Deciles of 0..<1000 give ten equal bins")
    func deciles() {
        let baseline = NumericBaseline(values: (0..<1_000).map(Double.init))
        #expect(baseline.binEdges == [99, 199, 299, 399, 499, 599, 699, 799, 899])
        #expect(baseline.binProportions.count == 10)
        #expect(baseline.binProportions.allSatisfy { abs($0 - 0.1) < 1e-12 })
        #expect(baseline.sample.count == 1_000)
    }

    @Test("Ties deduplicate edges instead of creating empty bins")
    func ties() {
        let values = Array(repeating: 0.0, count: 700) + Array(repeating: 1.0, count: 300)
        let baseline = NumericBaseline(values: values)
        #expect(baseline.binEdges == [0, 1])
        #expect(baseline.binProportions == [0.7, 0.3, 0])
    }

    @Test("1,000,000 values: correct counts, deciles and a bounded, deterministic sample")
    func millionValues() {
        var rng = DriftTestRNG(seed: 1)
        let values = rng.normals(1_000_000)
        let baseline = NumericBaseline(values: values)
        #expect(baseline.count == 1_000_000)
        #expect(baseline.invalidCount == 0)
        #expect(baseline.binEdges.count == 9)
        #expect(baseline.binProportions.allSatisfy { abs($0 - 0.1) < 1e-3 })
        #expect(abs(baseline.binProportions.reduce(0, +) - 1) < 1e-9)
        // Decile 5 of a standard normal is its median, 0.
        #expect(abs(baseline.binEdges[4]) < 0.01)
        #expect(baseline.sample.count == 2_000)
        #expect(zip(baseline.sample, baseline.sample.dropFirst()).allSatisfy { $0 <= $1 })
        // The sample should look like the data: its median is near 0 too.
        #expect(abs(baseline.sample[1_000]) < 0.1)
    }

    @Test("The baseline does not depend on row order")
    func orderIndependent() {
        var rng = DriftTestRNG(seed: 2)
        let values = rng.normals(10_000)
        let reordered = Array(values.reversed())
        #expect(NumericBaseline(values: values) == NumericBaseline(values: reordered))
        #expect(NumericBaseline(values: values, sampleLimit: 50).sample.count == 50)
    }

    @Test("Edge cases: all equal, single value, NaNs mixed in, empty input")
    func numericEdgeCases() {
        let allEqual = NumericBaseline(values: Array(repeating: 5, count: 1_000))
        #expect(allEqual.binEdges == [5])
        #expect(allEqual.binProportions == [1, 0])
        let unchanged = DriftAnalyzer.analyze(numeric: allEqual, comparison: Array(repeating: 5, count: 500), feature: "x")
        #expect(unchanged.status == .ok && !unchanged.drifted && unchanged.psi == 0 && unchanged.ksStatistic == 0)
        let moved = DriftAnalyzer.analyze(numeric: allEqual, comparison: Array(repeating: 6, count: 500), feature: "x")
        #expect(moved.severity == .critical && moved.ksStatistic == 1)

        let single = NumericBaseline(values: [3.5])
        #expect(single.count == 1 && single.binEdges == [3.5] && single.binProportions == [1, 0] && single.sample == [3.5])

        let mixed = NumericBaseline(values: [1, .nan, 2, .infinity, -.infinity, 3, .signalingNaN])
        #expect(mixed.count == 3 && mixed.invalidCount == 4)
        #expect(mixed.sample == [1, 2, 3])
        #expect(mixed.binProportions.allSatisfy { $0.isFinite })

        let empty = NumericBaseline(values: [])
        #expect(empty.count == 0 && empty.binEdges.isEmpty && empty.binProportions.isEmpty && empty.sample.isEmpty)
        #expect(DriftAnalyzer.analyze(numeric: empty, comparison: [1, 2, 3], feature: "x").status == .insufficientData)
        let emptyComparison = DriftAnalyzer.analyze(numeric: allEqual, comparison: [], feature: "x")
        #expect(emptyComparison.status == .insufficientData && emptyComparison.comparisonCount == 0)

        let nonsenseBins = NumericBaseline(values: [1, 2, 3], bins: 0, sampleLimit: -5)
        #expect(nonsenseBins.binEdges.isEmpty && nonsenseBins.binProportions == [1] && nonsenseBins.sample.isEmpty)
    }

    @Test("Categorical baseline keeps the top categories and folds the rest into other")
    func categoricalFolding() throws {
        let values =
            Array(repeating: "a", count: 50) + Array(repeating: "b", count: 30) + Array(repeating: "c", count: 10)
            + Array(repeating: "d", count: 6) + Array(repeating: "e", count: 4)
        let baseline = CategoricalBaseline(values: values, maxCategories: 2)
        #expect(baseline.categories == ["a", "b"])
        #expect(baseline.proportions == [0.5, 0.3])
        #expect(abs(baseline.otherShare - 0.2) < 1e-12)
        #expect(baseline.foldedCategories == ["c", "d", "e"])
        #expect(baseline.count == 100)

        // A folded category is "other", not unseen; a truly new one is unseen.
        let comparison =
            Array(repeating: "a", count: 50) + Array(repeating: "b", count: 30) + Array(repeating: "c", count: 15)
            + Array(repeating: "zzz", count: 5)
        let result = DriftAnalyzer.analyze(categorical: baseline, comparison: comparison, feature: "letters")
        #expect(try #require(result.unseenShare) == 0.05)

        let empty = CategoricalBaseline(values: [])
        #expect(empty.count == 0 && empty.categories.isEmpty && empty.otherShare == 0)
        #expect(DriftAnalyzer.analyze(categorical: empty, comparison: comparison, feature: "x").status == .insufficientData)
    }

    @Test("Tie-breaking by name makes the category choice deterministic")
    func categoricalTies() {
        let baseline = CategoricalBaseline(values: ["z", "y", "x", "x", "y", "z", "w"], maxCategories: 2)
        #expect(baseline.categories == ["x", "y"])
        #expect(baseline.foldedCategories == ["w", "z"])
    }

    @Test("Codable round trip of baselines and results; corrupt documents are rejected")
    func codableRoundTrip() throws {
        var rng = DriftTestRNG(seed: 3)
        let numeric = NumericBaseline(values: rng.normals(5_000) + [.nan])
        let colours = rng.categories(1_000, names: DriftTestData.colours, weights: DriftTestData.weights)
        let categorical = CategoricalBaseline(values: colours, maxCategories: 3)
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()

        let decodedNumeric = try decoder.decode(NumericBaseline.self, from: encoder.encode(numeric))
        #expect(decodedNumeric == numeric)
        let decodedCategorical = try decoder.decode(CategoricalBaseline.self, from: encoder.encode(categorical))
        #expect(decodedCategorical == categorical)

        let result = DriftAnalyzer.analyze(numeric: numeric, comparison: rng.normals(500, mean: 1), feature: "x")
        let summary = DriftSummary(results: [result])
        #expect(try decoder.decode(DriftSummary.self, from: encoder.encode(summary)) == summary)
        let json = String(decoding: try encoder.encode(result), as: UTF8.self)
        #expect(json.contains("\"severity\":\"\(result.severity.rawValue)\""))

        let mismatched = #"{"binEdges":[1,2],"binProportions":[1],"count":10,"invalidCount":0,"sample":[]}"#
        #expect(throws: DecodingError.self) { try decoder.decode(NumericBaseline.self, from: Data(mismatched.utf8)) }
        let unsorted = #"{"binEdges":[2,1],"binProportions":[0.5,0.5,0],"count":10,"invalidCount":0,"sample":[]}"#
        #expect(throws: DecodingError.self) { try decoder.decode(NumericBaseline.self, from: Data(unsorted.utf8)) }
        let duplicate = #"{"categories":["a","a"],"proportions":[0.5,0.5],"otherShare":0,"count":2}"#
        #expect(throws: DecodingError.self) { try decoder.decode(CategoricalBaseline.self, from: Data(duplicate.utf8)) }
    }
}
