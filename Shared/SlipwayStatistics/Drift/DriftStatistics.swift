#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The statistics behind `DriftAnalyzer`, kept separate so tests can check them against brute force and reference values.
enum DriftStatistics {
    /// Two-sample Kolmogorov–Smirnov statistic D = sup |F_a(x) − F_b(x)| for two **sorted** arrays.
    ///
    /// One merge walk over both arrays, O(n + m): the supremum can only change at observed values, and ties are consumed
    /// on both sides before the difference is taken so that equal values do not create a spurious step.
    static func ksStatistic(sortedA a: [Double], sortedB b: [Double]) -> Double {
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        let sizeA = Double(a.count)
        let sizeB = Double(b.count)
        var indexA = 0
        var indexB = 0
        var largest = 0.0
        while indexA < a.count && indexB < b.count {
            let value = min(a[indexA], b[indexB])
            while indexA < a.count && a[indexA] <= value { indexA += 1 }
            while indexB < b.count && b[indexB] <= value { indexB += 1 }
            largest = max(largest, abs(Double(indexA) / sizeA - Double(indexB) / sizeB))
        }
        // Once one side is exhausted its ECDF is 1 and the other only climbs towards 1, so the gap can only shrink.
        return largest
    }

    /// Asymptotic two-sided p-value of a two-sample KS statistic, with the effective-n correction of Stephens (1970)
    /// as used by Numerical Recipes: `en = n·m/(n+m)`, `λ = (√en + 0.12 + 0.11/√en) · D`, `p = Q_KS(λ)`.
    static func ksPValue(statistic: Double, sizeA: Int, sizeB: Int) -> Double {
        guard sizeA > 0, sizeB > 0, statistic.isFinite else { return 1 }
        let effectiveCount = Double(sizeA) * Double(sizeB) / Double(sizeA + sizeB)
        let root = effectiveCount.squareRoot()
        let lambda = (root + 0.12 + 0.11 / root) * statistic
        return kolmogorovSurvival(lambda)
    }

    /// Q_KS(λ) = P(K > λ) for the Kolmogorov distribution.
    ///
    /// Two exact series are used, each where it converges in a handful of terms: the alternating series
    /// `2 Σ (−1)^(j−1) exp(−2 j² λ²)` for large λ, and the Jacobi-theta form
    /// `1 − (√(2π)/λ) Σ exp(−(2j−1)² π² / (8λ²))` for small λ, where the alternating series would need many
    /// terms and cancel badly.
    static func kolmogorovSurvival(_ lambda: Double) -> Double {
        guard lambda > 0 else { return 1 }
        guard lambda.isFinite else { return 0 }
        if lambda < 1.18 {
            let factor = -Double.pi * Double.pi / (8 * lambda * lambda)
            var sum = 0.0
            for j in 1...50 {
                let odd = Double(2 * j - 1)
                let term = exp(odd * odd * factor)
                sum += term
                if term < 1e-17 * sum { break }
            }
            let cdf = (2 * Double.pi).squareRoot() / lambda * sum
            return min(1, max(0, 1 - cdf))
        }
        var sum = 0.0
        var sign = 1.0
        for j in 1...100 {
            let jj = Double(j)
            let term = exp(-2 * jj * jj * lambda * lambda)
            sum += sign * term
            sign = -sign
            if term < 1e-17 * abs(sum) || term == 0 { break }
        }
        return min(1, max(0, 2 * sum))
    }

    /// Population stability index Σ (q − p) · ln(q / p) after additive smoothing.
    ///
    /// Each proportion gets `epsilon` added and each side is renormalised, so an empty bin yields a large finite term
    /// instead of infinity and identical inputs give exactly 0.
    static func populationStabilityIndex(expected: [Double], actual: [Double], epsilon: Double) -> Double {
        guard expected.count == actual.count, !expected.isEmpty else { return 0 }
        let smoothing = max(0, epsilon)
        let binCount = Double(expected.count)
        let expectedTotal = expected.reduce(0, +) + binCount * smoothing
        let actualTotal = actual.reduce(0, +) + binCount * smoothing
        guard expectedTotal > 0, actualTotal > 0 else { return 0 }
        var psi = 0.0
        for (expectedShare, actualShare) in zip(expected, actual) {
            let p = (expectedShare + smoothing) / expectedTotal
            let q = (actualShare + smoothing) / actualTotal
            if p > 0 && q > 0 {
                psi += (q - p) * log(q / p)
            }
        }
        return max(0, psi)
    }

    /// Jensen–Shannon distance (square root of the base-2 divergence), in 0...1.
    /// No smoothing is needed: the mixture is positive wherever either side is, and `0 · log 0` is taken as 0.
    static func jensenShannonDistance(_ first: [Double], _ second: [Double]) -> Double {
        guard first.count == second.count else { return 0 }
        let firstTotal = first.reduce(0, +)
        let secondTotal = second.reduce(0, +)
        guard firstTotal > 0, secondTotal > 0 else { return 0 }
        var divergence = 0.0
        for (rawP, rawQ) in zip(first, second) {
            let p = rawP / firstTotal
            let q = rawQ / secondTotal
            let mixture = (p + q) / 2
            if p > 0 { divergence += 0.5 * p * log2(p / mixture) }
            if q > 0 { divergence += 0.5 * q * log2(q / mixture) }
        }
        return min(1, max(0, divergence)).squareRoot()
    }

    /// The PSI that two samples of the same distribution exceed with probability ≈ α, where `zScore` is the one-sided
    /// normal quantile for α: `χ²₁₋α(k − 1) · (1/n + 1/m)`. PSI is a symmetrised KL divergence, and for small
    /// differences it behaves like Pearson's χ² statistic divided by the harmonic sample size.
    static func psiNoiseFloor(occupiedBins: Int, baselineCount: Int, comparisonCount: Int, zScore: Double) -> Double {
        let degreesOfFreedom = occupiedBins - 1
        guard degreesOfFreedom >= 1, baselineCount > 0, comparisonCount > 0 else { return 0 }
        let scale = 1 / Double(baselineCount) + 1 / Double(comparisonCount)
        return chiSquaredQuantile(degreesOfFreedom: Double(degreesOfFreedom), zScore: zScore) * scale
    }

    /// Wilson–Hilferty approximation to the χ² quantile: k · (1 − 2/(9k) + z·√(2/(9k)))³. Within ~1 % for k ≥ 1 at z ≈ 2.3.
    static func chiSquaredQuantile(degreesOfFreedom k: Double, zScore: Double) -> Double {
        let spread = 2 / (9 * k)
        let cubeRoot = 1 - spread + zScore * spread.squareRoot()
        return k * max(0, cubeRoot * cubeRoot * cubeRoot)
    }

    /// Severity from PSI alone, using the industry-standard bands in `DriftThresholds`.
    static func severity(psi: Double, thresholds: DriftThresholds) -> DriftSeverity {
        if psi >= thresholds.psiCritical { return .critical }
        if psi >= thresholds.psiHigh { return .high }
        if psi >= thresholds.psiMedium { return .medium }
        if psi >= thresholds.psiLow { return .low }
        return .none
    }

    /// Number of elements `<= value` in a sorted array (upper bound), by binary search.
    static func countNotAbove(_ value: Double, in sorted: [Double]) -> Int {
        var low = 0
        var high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] <= value {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }
}

/// SplitMix64: tiny, fast, and fully specified, so a baseline built today picks the same sample on any platform and
/// Swift version (unlike `SystemRandomNumberGenerator` or `Hasher`, which are seeded per process).
struct DriftSplitMix64 {
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

    /// A value in 0..<bound via the multiply-high reduction; the bias (< bound / 2⁶⁴) is irrelevant for sampling.
    mutating func next(below bound: Int) -> Int {
        guard bound > 1 else { return 0 }
        return Int(truncatingIfNeeded: UInt64(bound).multipliedFullWidth(by: next()).high)
    }
}
