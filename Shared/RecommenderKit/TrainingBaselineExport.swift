import Foundation
import SlipwayStatistics

/// The drift baseline of a trained version: the query features a request carries (identifiers and timestamps
/// left out), over the rows the model trained on, as metrics-svc compares live requests with them.
enum TrainingBaselineExport {
    static func make(_ ds: InteractionDataset, trainRows: [Int], features: [FeatureSpec]) -> TrainingBaseline {
        var columns: [String: DataStatistics.Column] = [:]
        for column in DataStatistics.columns(ds) where columns[column.name] == nil { columns[column.name] = column }
        var numeric: [String: NumericBaseline] = [:]
        var categorical: [String: CategoricalBaseline] = [:]
        for feature in features where !DriftAnalyzer.isIdentifier(feature.name) {
            guard let column = columns[feature.name] else { continue }
            switch feature.type {
            case .int, .float:
                numeric[feature.name] = NumericBaseline(values: trainRows.compactMap { column.value($0).flatMap(Double.init) })
            case .string:
                categorical[feature.name] = CategoricalBaseline(values: trainRows.compactMap { column.value($0) })
            case .timestamp:
                continue  // a request's time is not a distribution to compare
            }
        }
        return TrainingBaseline(rows: trainRows.count, numeric: numeric, categorical: categorical)
    }
}
