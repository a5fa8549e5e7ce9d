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

    public init(baseline: [FeatureSample], comparison: [FeatureSample], thresholds: DriftThresholds = .default) {
        let baselineValues = FeatureColumns(baseline)
        let comparisonValues = FeatureColumns(comparison)
        baselineRows = baselineValues.rows
        comparisonRows = comparisonValues.rows
        var results: [FeatureDriftResult] = []
        for feature in Set(baselineValues.features).union(comparisonValues.features).sorted() where !Self.isIdentifier(feature) {
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

/// The sampled rows' values, column by column: numbers (doubles and integers) and categories (strings and booleans).
struct FeatureColumns {
    var numeric: [String: [Double]] = [:]
    var categorical: [String: [String]] = [:]
    var rows = 0

    var features: [String] { Array(numeric.keys) + Array(categorical.keys) }

    init(_ samples: [FeatureSample]) {
        for sample in samples {
            for row in sample.rows {
                rows += 1
                for (name, value) in row.features {
                    switch value.kind {
                    case .doubleValue(let number): numeric[name, default: []].append(number)
                    case .int64Value(let number): numeric[name, default: []].append(Double(number))
                    case .stringValue(let text): categorical[name, default: []].append(text)
                    case .boolValue(let flag): categorical[name, default: []].append(flag ? "true" : "false")
                    case .stringList, .doubleList, nil: break  // lists have no single distribution to compare
                    }
                }
            }
        }
    }
}
