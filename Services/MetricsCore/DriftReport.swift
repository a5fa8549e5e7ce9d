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

    /// Identifiers drift by nature (new customers arrive every day): comparing them would always alarm.
    static func isIdentifier(_ feature: String) -> Bool { feature == "customer_id" || feature.hasSuffix("_id") }

    public init(baseline baselineValues: FeatureColumns, comparison comparisonValues: FeatureColumns, thresholds: DriftThresholds = .default) {
        baselineRows = baselineValues.rows
        comparisonRows = comparisonValues.rows
        var results: [FeatureDriftResult] = []
        for feature in baselineValues.features.union(comparisonValues.features).sorted() where !Self.isIdentifier(feature) {
            let numericBaseline = baselineValues.numeric[feature] ?? []
            let categoricalBaseline = baselineValues.categorical[feature] ?? []
            if numericBaseline.count >= categoricalBaseline.count, !numericBaseline.isEmpty {
                results.append(
                    DriftAnalyzer.analyze(
                        numeric: NumericBaseline(values: numericBaseline), comparison: comparisonValues.numeric[feature] ?? [], feature: feature,
                        thresholds: thresholds))
            } else {
                // A feature only the comparison has is a categorical one with an empty baseline: insufficient data.
                results.append(
                    DriftAnalyzer.analyze(
                        categorical: CategoricalBaseline(values: categoricalBaseline),
                        comparison: (comparisonValues.categorical[feature] ?? []) + (comparisonValues.numeric[feature] ?? []).map { "\($0)" },
                        feature: feature, thresholds: thresholds))
            }
        }
        summary = DriftSummary(results: results)
    }
}
