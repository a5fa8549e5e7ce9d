/// How strongly a feature's recent values have moved away from its baseline.
///
/// Ordered from `none` to `critical` so that rules can say "at least medium" with `max(_:_:)`.
/// Encoded as its lowercase name so stored results stay readable in JSON.
public enum DriftSeverity: String, Codable, Sendable, CaseIterable, Comparable {
    case none
    case low
    case medium
    case high
    case critical

    /// Position in the ordering; kept internal so the JSON form is the name, not a number that could be renumbered.
    var rank: Int {
        switch self {
        case .none: 0
        case .low: 1
        case .medium: 2
        case .high: 3
        case .critical: 4
        }
    }

    public static func < (lhs: DriftSeverity, rhs: DriftSeverity) -> Bool {
        lhs.rank < rhs.rank
    }
}

/// Which family of statistics was used for a feature.
public enum DriftFeatureKind: String, Codable, Sendable, CaseIterable {
    case numeric
    case categorical
}

/// Whether a verdict could be reached at all.
public enum DriftStatus: String, Codable, Sendable, CaseIterable {
    /// Both sides had at least `DriftThresholds.minimumCount` usable values; statistics and severity are meaningful.
    case ok
    /// Too few values on one side. Statistics are omitted and no severity verdict is given, so a dashboard cannot
    /// alarm on a handful of rows.
    case insufficientData = "insufficient_data"
}

/// The thresholds that turn drift statistics into a severity verdict.
///
/// Severity is first read from the population stability index (the usual industry reading), then raised by the
/// test-specific rules below. `drifted` is `severity >= .medium`.
///
/// | Rule                                   | Condition                                        | Severity       |
/// |----------------------------------------|--------------------------------------------------|----------------|
/// | PSI                                    | psi < 0.1                                        | none           |
/// | PSI                                    | 0.1 ≤ psi < 0.2                                  | low            |
/// | PSI                                    | 0.2 ≤ psi < 0.25                                 | medium         |
/// | PSI                                    | 0.25 ≤ psi < 0.5                                 | high           |
/// | PSI                                    | psi ≥ 0.5                                        | critical       |
/// | PSI noise gate                         | psi below the sampling-noise floor (see below)   | PSI rule → none|
/// | Kolmogorov–Smirnov (numeric only)      | p < 0.01 and D ≥ 0.1                             | at least medium|
/// | Unseen categories (categorical only)   | unseenShare ≥ 0.2                                | at least high  |
/// | Sample size                            | baseline or comparison < 100 usable values       | insufficientData, none |
///
/// The PSI noise gate exists because PSI between two finite samples of the *same* distribution is not zero:
/// it is approximately `(1/n + 1/m) · χ²(k − 1)` for `k` occupied bins. With 10 bins and 100 values per side that
/// averages 0.18 and exceeds 0.2 about 40 % of the time, which would make the minimum-count rule meaningless.
/// The gate ignores a PSI below `χ²₁₋α(k − 1) · (1/n + 1/m)` (one-sided, `psiNoiseZScore` 2.326 ≈ α = 1 %, χ² quantile
/// by the Wilson–Hilferty approximation). For 10 bins and ≥ 1,000 values per side the floor is below 0.05, so the
/// table above applies unchanged; set `psiNoiseZScore` to `nil` to disable the gate.
public struct DriftThresholds: Codable, Equatable, Sendable {
    /// PSI at which severity becomes `low` (0.1).
    public var psiLow: Double
    /// PSI at which severity becomes `medium` (0.2), i.e. the feature counts as drifted.
    public var psiMedium: Double
    /// PSI at which severity becomes `high` (0.25).
    public var psiHigh: Double
    /// PSI at which severity becomes `critical` (0.5).
    public var psiCritical: Double
    /// KS p-value below which a numeric feature is at least `medium` (0.01) — only together with `ksMinimumStatistic`.
    public var ksPValue: Double
    /// Minimum KS statistic D (0.1) for the KS rule, so that huge samples do not flag tiny but "significant" shifts.
    public var ksMinimumStatistic: Double
    /// Share of comparison values in categories the baseline never saw (0.2) that makes a categorical feature at least `high`.
    public var unseenShareHigh: Double
    /// Minimum usable values (100) on each side for a verdict; below it the result is `.insufficientData`.
    public var minimumCount: Int
    /// Added to every bin proportion (then renormalised) before computing PSI, so an empty bin contributes a large
    /// but finite term instead of infinity. 1e-4 caps a single empty-vs-full bin at about `share · ln(share / 1e-4)`.
    public var psiEpsilon: Double
    /// One-sided normal quantile for the PSI noise gate (2.326 ≈ 1 % false-alarm rate); `nil` disables the gate.
    public var psiNoiseZScore: Double?

    public init(
        psiLow: Double = 0.1,
        psiMedium: Double = 0.2,
        psiHigh: Double = 0.25,
        psiCritical: Double = 0.5,
        ksPValue: Double = 0.01,
        ksMinimumStatistic: Double = 0.1,
        unseenShareHigh: Double = 0.2,
        minimumCount: Int = 100,
        psiEpsilon: Double = 1e-4,
        psiNoiseZScore: Double? = 2.326
    ) {
        self.psiLow = psiLow
        self.psiMedium = psiMedium
        self.psiHigh = psiHigh
        self.psiCritical = psiCritical
        self.ksPValue = ksPValue
        self.ksMinimumStatistic = ksMinimumStatistic
        self.unseenShareHigh = unseenShareHigh
        self.minimumCount = minimumCount
        self.psiEpsilon = psiEpsilon
        self.psiNoiseZScore = psiNoiseZScore
    }

    /// The thresholds in the table above.
    public static let `default` = DriftThresholds()
}

/// The drift verdict for one feature.
///
/// All statistics are `nil` when `status` is `.insufficientData`: a number computed from eight rows invites someone to
/// alarm on it. Counts are of usable values (finite numbers; every string is usable).
public struct FeatureDriftResult: Codable, Equatable, Sendable {
    public let feature: String
    public let kind: DriftFeatureKind
    public let status: DriftStatus
    /// Population stability index over the baseline's bins (numeric) or categories + other + unseen (categorical).
    public let psi: Double?
    /// Two-sample Kolmogorov–Smirnov statistic D between the baseline sample and the comparison values (numeric only).
    public let ksStatistic: Double?
    /// Asymptotic p-value for `ksStatistic` (numeric only).
    public let ksPValue: Double?
    /// Jensen–Shannon distance, base 2, in 0...1 (categorical only).
    public let jensenShannon: Double?
    /// Share of comparison values whose category the baseline never saw (categorical only).
    public let unseenShare: Double?
    public let severity: DriftSeverity
    /// `severity >= .medium`.
    public let drifted: Bool
    public let baselineCount: Int
    public let comparisonCount: Int

    /// A result as the analyzer makes it, or as a recorded analysis carries it (`DriftDetected`).
    public init(
        feature: String,
        kind: DriftFeatureKind,
        status: DriftStatus,
        psi: Double? = nil,
        ksStatistic: Double? = nil,
        ksPValue: Double? = nil,
        jensenShannon: Double? = nil,
        unseenShare: Double? = nil,
        severity: DriftSeverity = .none,
        baselineCount: Int,
        comparisonCount: Int
    ) {
        self.feature = feature
        self.kind = kind
        self.status = status
        self.psi = psi
        self.ksStatistic = ksStatistic
        self.ksPValue = ksPValue
        self.jensenShannon = jensenShannon
        self.unseenShare = unseenShare
        self.severity = status == .ok ? severity : .none
        self.drifted = status == .ok && severity >= .medium
        self.baselineCount = baselineCount
        self.comparisonCount = comparisonCount
    }
}
