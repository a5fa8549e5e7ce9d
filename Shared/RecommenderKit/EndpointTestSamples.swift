import Foundation
import SlipwayModelBundle

/// Requests for testing a deployed version, made from the data it trained on: the training run's dataset loaded
/// with the run's own configuration (column aliases, filters, sampling), and for each sampled row the query
/// features the version's bundle declares, raw and typed as a client sends them — the bundle embeds its
/// preprocessing, so an endpoint takes raw values.
public struct EndpointTestSamples: Sendable {
    /// One request instance per sample: feature name → raw value.
    public var instances: [[String: FeatureValue]]
    /// The products of the training data (after its filters): every recommended id must be one of them.
    public var catalog: Set<String>
    /// Rows the samples were drawn from.
    public var rowsAvailable: Int

    public enum Failure: Error, CustomStringConvertible {
        case unreadable(String)
        case empty

        public var description: String {
            switch self {
            case .unreadable(let reason): reason
            case .empty: "the training data has no rows after its filters"
            }
        }
    }

    /// `count` rows drawn without replacement by `seed` (the same seed on the same data gives the same samples, so
    /// two versions trained on it are tested on the same customers). A feature a row has no value for is left out,
    /// as a client would; an identifier the model needs is always there.
    public static func make(spec: RunSpec, query: [Manifest.FeatureSpec], count: Int, seed: UInt64) throws -> EndpointTestSamples {
        let dataset: InteractionDataset
        do { dataset = try DatasetLoader.load(spec.dataset) } catch { throw Failure.unreadable("the training data cannot be read: \(error)") }
        guard !dataset.interactions.isEmpty else { throw Failure.empty }
        let columns = Dictionary(DataStatistics.columns(dataset).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var random = SeededRandom(seed: seed)
        var rows = Array(0..<dataset.interactions.count)
        let picked = min(count, rows.count)
        for index in 0..<picked {  // a partial Fisher–Yates shuffle: the first `picked` rows are the sample
            let other = index + Int(random.next() % UInt64(rows.count - index))
            rows.swapAt(index, other)
        }
        var instances: [[String: FeatureValue]] = []
        instances.reserveCapacity(picked)
        for row in rows.prefix(picked) {
            var instance: [String: FeatureValue] = [:]
            for feature in query {
                guard let text = columns[feature.name]?.value(row), let value = typed(text, feature.type) else { continue }
                instance[feature.name] = value
            }
            instances.append(instance)
        }
        return EndpointTestSamples(instances: instances, catalog: Set(dataset.productIds), rowsAvailable: dataset.interactions.count)
    }

    /// The value as the request's JSON carries it: numbers for int, float and timestamp (epoch seconds), text otherwise.
    static func typed(_ text: String, _ type: RawFeatureType) -> FeatureValue? {
        switch type {
        case .string: return .string(text)
        case .int: return Int(text).map(FeatureValue.int) ?? Double(text).map { .int(Int($0)) }
        case .float: return Double(text).map(FeatureValue.double)
        case .timestamp: return (Double(text) ?? Timestamp.parse(text)).map { .int(Int($0)) }
        }
    }
}
