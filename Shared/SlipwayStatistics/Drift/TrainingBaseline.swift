import Foundation

/// What drift needs of a model version's training data, written by the trainer beside the bundle
/// (`drift_baseline.json`) and read by metrics-svc: per request feature, quantile bins and a KS sample for a
/// numeric one, category frequencies for a categorical one, over the rows the model trained on.
public struct TrainingBaseline: Codable, Equatable, Sendable {
    public static let fileName = "drift_baseline.json"
    public static let formatVersion = 1

    public var formatVersion = Self.formatVersion
    /// Training rows the baselines were built from.
    public var rows: Int
    public var numeric: [String: NumericBaseline]
    public var categorical: [String: CategoricalBaseline]

    public init(rows: Int, numeric: [String: NumericBaseline], categorical: [String: CategoricalBaseline]) {
        self.rows = rows
        self.numeric = numeric
        self.categorical = categorical
    }

    public func write(toBundle directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(self).write(to: directory.appendingPathComponent(Self.fileName), options: .atomic)
    }

    /// The baseline in a bundle directory; nil when the bundle has none (an older or external trainer's).
    public static func load(bundle directory: URL) throws -> TrainingBaseline? {
        let file = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        return try JSONDecoder().decode(TrainingBaseline.self, from: Data(contentsOf: file))
    }
}

extension DriftAnalyzer {
    /// Identifiers drift by nature (new customers arrive every day): comparing them would always alarm, so
    /// neither the training baseline nor a drift report holds them.
    public static func isIdentifier(_ feature: String) -> Bool { feature == "customer_id" || feature.hasSuffix("_id") }
}
