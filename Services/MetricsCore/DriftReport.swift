import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayStatistics

/// Drift of an endpoint's request features between a baseline and a comparison set of feature samples.
/// Each feature is judged as numeric or categorical by what the baseline holds; identifiers are left out.
public struct DriftReport: Sendable {
    public let summary: DriftSummary
    public let baselineRows: Int
    public let comparisonRows: Int
    /// The windows compared, when measured from stored samples: `[baselineStart, comparisonStart)` and
    /// `[comparisonStart, end]`.
    public private(set) var baselineStart = Date.distantPast
    public private(set) var comparisonStart = Date.distantPast

    /// Sampled rows read per window at most: the analysis of 100,000 rows × 10 features stays well under a second.
    static let maxRows = 100_000

    /// The last `comparisonHours` before `end` against the `baselineDays` before them, from the stored samples.
    public static func measure(
        endpointID: String, baselineDays: Int, comparisonHours: Int, end: Date, client: PostgresClient, logger: Logger
    ) async throws -> DriftReport {
        let comparisonStart = end.addingTimeInterval(-Double(comparisonHours) * 3600)
        let baselineStart = comparisonStart.addingTimeInterval(-Double(baselineDays) * 86_400)
        // Both sides at once: reading and decoding the samples is most of the work, and there are two cores.
        async let baseline = ServingRollupStore.samples(
            endpointID: endpointID, from: baselineStart, to: comparisonStart, maxRows: maxRows, client: client, logger: logger)
        async let comparison = ServingRollupStore.samples(
            endpointID: endpointID, from: comparisonStart, to: end.addingTimeInterval(1), maxRows: maxRows, client: client, logger: logger)
        var report = DriftReport(baseline: try await baseline, comparison: try await comparison)
        report.baselineStart = baselineStart
        report.comparisonStart = comparisonStart
        return report
    }

    /// A past serving window against a recent one: baselines built from the window's sampled values.
    public init(baseline baselineValues: FeatureColumns, comparison comparisonValues: FeatureColumns, thresholds: DriftThresholds = .default) {
        self.init(
            baselineRows: baselineValues.rows, features: baselineValues.features, comparison: comparisonValues, thresholds: thresholds
        ) { feature in
            let numeric = baselineValues.numeric[feature] ?? []
            let categorical = baselineValues.categorical[feature] ?? []
            return numeric.count >= categorical.count && !numeric.isEmpty
                ? .numeric(NumericBaseline(values: numeric)) : .categorical(CategoricalBaseline(values: categorical))
        }
    }

    /// A version's training data (the baselines its trainer stored) against the requests since `comparisonStart`.
    public init(
        training: TrainingBaseline, comparison comparisonValues: FeatureColumns, comparisonStart: Date = .distantPast,
        thresholds: DriftThresholds = .default
    ) {
        let features = Set(training.numeric.keys).union(training.categorical.keys)
        self.init(baselineRows: training.rows, features: features, comparison: comparisonValues, thresholds: thresholds) { feature in
            training.numeric[feature].map(Baseline.numeric) ?? .categorical(training.categorical[feature] ?? CategoricalBaseline(values: []))
        }
        self.comparisonStart = comparisonStart
    }

    enum Baseline {
        case numeric(NumericBaseline)
        case categorical(CategoricalBaseline)
    }

    /// Every feature of either side but identifiers, judged as its baseline is kind; a feature only the comparison
    /// has gets an empty categorical baseline: insufficient data.
    private init(
        baselineRows: Int, features: Set<String>, comparison comparisonValues: FeatureColumns, thresholds: DriftThresholds,
        baseline: (String) -> Baseline
    ) {
        self.baselineRows = baselineRows
        comparisonRows = comparisonValues.rows
        var results: [FeatureDriftResult] = []
        for feature in features.union(comparisonValues.features).sorted() where !DriftAnalyzer.isIdentifier(feature) {
            switch baseline(feature) {
            case .numeric(let numeric):
                results.append(
                    DriftAnalyzer.analyze(
                        numeric: numeric, comparison: comparisonValues.numeric[feature] ?? [], feature: feature, thresholds: thresholds))
            case .categorical(let categorical):
                results.append(
                    DriftAnalyzer.analyze(
                        categorical: categorical,
                        comparison: (comparisonValues.categorical[feature] ?? []) + (comparisonValues.numeric[feature] ?? []).map { "\($0)" },
                        feature: feature, thresholds: thresholds))
            }
        }
        summary = DriftSummary(results: results)
    }
}
