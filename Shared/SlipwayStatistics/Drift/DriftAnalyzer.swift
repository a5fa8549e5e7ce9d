/// Compares recent values of one feature against its stored baseline and gives a sample-size-aware verdict.
///
/// The rules and their thresholds are tabulated on `DriftThresholds`. In short: severity comes from PSI, is raised by
/// a significant and non-trivial KS shift (numeric) or by many unseen categories (categorical), and is withheld
/// (`.insufficientData`) when either side has fewer than `minimumCount` usable values.
public enum DriftAnalyzer {
    /// Analyses a numeric feature.
    ///
    /// Cost: one O(m log m) sort of the comparison values; PSI bins are then counted by binary search per edge and KS is
    /// a single merge walk against the (already sorted) baseline sample, so 100,000 rows never meet in pairs.
    /// Non-finite comparison values are ignored and not counted.
    public static func analyze(
        numeric baseline: NumericBaseline,
        comparison: [Double],
        feature: String,
        thresholds: DriftThresholds = .default
    ) -> FeatureDriftResult {
        var sortedComparison: [Double] = []
        sortedComparison.reserveCapacity(comparison.count)
        for value in comparison where value.isFinite {
            sortedComparison.append(value)
        }
        let requiredCount = max(1, thresholds.minimumCount)
        guard baseline.count >= requiredCount,
            sortedComparison.count >= requiredCount,
            baseline.binProportions.count == baseline.binEdges.count + 1
        else {
            return FeatureDriftResult(
                feature: feature,
                kind: .numeric,
                status: .insufficientData,
                baselineCount: baseline.count,
                comparisonCount: sortedComparison.count
            )
        }
        sortedComparison.sort()
        let comparisonTotal = Double(sortedComparison.count)

        var comparisonProportions: [Double] = []
        comparisonProportions.reserveCapacity(baseline.binProportions.count)
        var previous = 0
        for edge in baseline.binEdges {
            let atOrBelow = DriftStatistics.countNotAbove(edge, in: sortedComparison)
            comparisonProportions.append(Double(atOrBelow - previous) / comparisonTotal)
            previous = atOrBelow
        }
        comparisonProportions.append(Double(sortedComparison.count - previous) / comparisonTotal)

        let psi = DriftStatistics.populationStabilityIndex(
            expected: baseline.binProportions,
            actual: comparisonProportions,
            epsilon: thresholds.psiEpsilon
        )
        var severity = psiSeverity(
            psi: psi,
            expected: baseline.binProportions,
            actual: comparisonProportions,
            baselineCount: baseline.count,
            comparisonCount: sortedComparison.count,
            thresholds: thresholds
        )

        var ksStatistic: Double?
        var ksPValue: Double?
        if !baseline.sample.isEmpty {
            let statistic = DriftStatistics.ksStatistic(sortedA: baseline.sample, sortedB: sortedComparison)
            let pValue = DriftStatistics.ksPValue(statistic: statistic, sizeA: baseline.sample.count, sizeB: sortedComparison.count)
            if pValue < thresholds.ksPValue && statistic >= thresholds.ksMinimumStatistic {
                severity = max(severity, .medium)
            }
            ksStatistic = statistic
            ksPValue = pValue
        }

        return FeatureDriftResult(
            feature: feature,
            kind: .numeric,
            status: .ok,
            psi: psi,
            ksStatistic: ksStatistic,
            ksPValue: ksPValue,
            severity: severity,
            baselineCount: baseline.count,
            comparisonCount: sortedComparison.count
        )
    }

    /// Analyses a categorical feature over the bins: each baseline category, "other" (the baseline's folded tail) and
    /// "unseen" (categories the baseline never had; its baseline share is 0, which the PSI epsilon keeps finite).
    public static func analyze(
        categorical baseline: CategoricalBaseline,
        comparison: [String],
        feature: String,
        thresholds: DriftThresholds = .default
    ) -> FeatureDriftResult {
        let requiredCount = max(1, thresholds.minimumCount)
        guard baseline.count >= requiredCount,
            comparison.count >= requiredCount,
            baseline.proportions.count == baseline.categories.count
        else {
            return FeatureDriftResult(
                feature: feature,
                kind: .categorical,
                status: .insufficientData,
                baselineCount: baseline.count,
                comparisonCount: comparison.count
            )
        }

        // Decoding already rejects duplicate categories; uniquing here just means no code path can trap on them.
        let binOfCategory = Dictionary(
            baseline.categories.enumerated().map { ($0.element, $0.offset) },
            uniquingKeysWith: { first, _ in first }
        )
        let foldedNames = baseline.foldedCategories.map(Set.init)
        let otherBin = baseline.categories.count
        let unseenBin = otherBin + 1
        var counts = [Int](repeating: 0, count: unseenBin + 1)
        for value in comparison {
            if let bin = binOfCategory[value] {
                counts[bin] += 1
            } else if let foldedNames {
                counts[foldedNames.contains(value) ? otherBin : unseenBin] += 1
            } else {
                // The tail's names were not stored, so a value outside the top categories cannot be proven new.
                counts[otherBin] += 1
            }
        }

        let comparisonTotal = Double(comparison.count)
        let comparisonProportions = counts.map { Double($0) / comparisonTotal }
        let baselineProportions = baseline.proportions + [baseline.otherShare, 0]
        let psi = DriftStatistics.populationStabilityIndex(
            expected: baselineProportions,
            actual: comparisonProportions,
            epsilon: thresholds.psiEpsilon
        )
        let jensenShannon = DriftStatistics.jensenShannonDistance(baselineProportions, comparisonProportions)
        let unseenShare = comparisonProportions[unseenBin]

        var severity = psiSeverity(
            psi: psi,
            expected: baselineProportions,
            actual: comparisonProportions,
            baselineCount: baseline.count,
            comparisonCount: comparison.count,
            thresholds: thresholds
        )
        if unseenShare >= thresholds.unseenShareHigh {
            severity = max(severity, .high)
        }

        return FeatureDriftResult(
            feature: feature,
            kind: .categorical,
            status: .ok,
            psi: psi,
            jensenShannon: jensenShannon,
            unseenShare: unseenShare,
            severity: severity,
            baselineCount: baseline.count,
            comparisonCount: comparison.count
        )
    }

    /// PSI band severity, suppressed to `.none` when the PSI is within what sampling noise alone produces at these
    /// sample sizes (see `DriftThresholds`).
    private static func psiSeverity(
        psi: Double,
        expected: [Double],
        actual: [Double],
        baselineCount: Int,
        comparisonCount: Int,
        thresholds: DriftThresholds
    ) -> DriftSeverity {
        if let zScore = thresholds.psiNoiseZScore {
            let occupiedBins = zip(expected, actual).reduce(0) { $0 + ($1.0 > 0 || $1.1 > 0 ? 1 : 0) }
            let noiseFloor = DriftStatistics.psiNoiseFloor(
                occupiedBins: occupiedBins,
                baselineCount: baselineCount,
                comparisonCount: comparisonCount,
                zScore: zScore
            )
            if psi < noiseFloor { return .none }
        }
        return DriftStatistics.severity(psi: psi, thresholds: thresholds)
    }
}
