import Foundation
import SlipwayContracts
import SlipwayStatistics

/// Drift of an endpoint's request features between a baseline and a comparison set of feature samples.
/// Each feature is judged as numeric or categorical by what the baseline holds; identifiers are left out.
public struct DriftReport: Sendable {
    public let summary: DriftSummary
    public let baselineRows: Int
    public let comparisonRows: Int

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
