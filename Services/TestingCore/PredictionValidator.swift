import Foundation

/// The rules every answer of an endpoint test is held to. An issue names the sample and the rule, so a reviewer
/// sees which request broke what, not only that something did.
public struct PredictionValidator: Sendable {
    public enum Rule: String, Sendable, CaseIterable {
        case status = "status_200"
        case shape = "product_ids_and_scores"
        case count = "top_k_items"
        case finite = "scores_finite"
        case sorted = "scores_sorted_descending"
        case unique = "no_duplicate_ids"
        case known = "ids_in_training_catalog"
        case deterministic = "same_answer_twice"
    }

    public struct Issue: Sendable, Equatable {
        public var sample: Int
        public var rule: Rule
        public var message: String

        public var text: String { "sample \(sample): \(message) [\(rule.rawValue)]" }
    }

    /// One answer as the endpoint gave it (`predictions[i]`).
    public struct Prediction: Sendable, Equatable {
        public var productIDs: [String]
        public var scores: [Double]

        public init(productIDs: [String], scores: [Double]) {
            self.productIDs = productIDs
            self.scores = scores
        }
    }

    public let topK: Int
    public let catalog: Set<String>

    public init(topK: Int, catalog: Set<String>) {
        self.topK = topK
        self.catalog = catalog
    }

    /// Items an answer must have: `top_k`, or the whole catalog when it is smaller.
    public var expectedCount: Int { catalog.isEmpty ? topK : min(topK, catalog.count) }

    public func check(sample: Int, _ prediction: Prediction) -> [Issue] {
        var issues: [Issue] = []
        func issue(_ rule: Rule, _ message: String) { issues.append(Issue(sample: sample, rule: rule, message: message)) }
        let ids = prediction.productIDs, scores = prediction.scores
        guard ids.count == scores.count else {
            issue(.shape, "\(ids.count) product_ids but \(scores.count) scores")
            return issues
        }
        if ids.count != expectedCount { issue(.count, "\(ids.count) items, expected \(expectedCount)") }
        if let bad = scores.firstIndex(where: { !$0.isFinite }) { issue(.finite, "score \(bad) is \(scores[bad])") }
        if let drop = zip(scores, scores.dropFirst()).enumerated().first(where: { $0.element.1 > $0.element.0 }) {
            issue(.sorted, "score \(drop.offset + 1) (\(drop.element.1)) is above score \(drop.offset) (\(drop.element.0))")
        }
        var seen: Set<String> = []
        if let repeated = ids.first(where: { !seen.insert($0).inserted }) { issue(.unique, "'\(repeated)' appears more than once") }
        if !catalog.isEmpty {
            let unknown = ids.filter { !catalog.contains($0) }
            if !unknown.isEmpty {
                issue(.known, "\(unknown.count) id(s) not in the training data, e.g. '\(unknown[0])'")
            }
        }
        return issues
    }

    /// The answer to a repeated request must be the same list (scores may differ in the last bits).
    public func checkRepeat(sample: Int, first: Prediction, again: Prediction) -> [Issue] {
        guard first.productIDs != again.productIDs else { return [] }
        return [Issue(sample: sample, rule: .deterministic, message: "the same request answered with a different list")]
    }

    /// `{"predictions": [{"product_ids": [...], "scores": [...]}, ...]}`; nil when the body is not that shape.
    public static func predictions(in body: [UInt8]) -> [Prediction]? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
            let list = object["predictions"] as? [[String: Any]]
        else { return nil }
        var predictions: [Prediction] = []
        for item in list {
            guard let ids = item["product_ids"] as? [Any], let scores = item["scores"] as? [Any] else { return nil }
            predictions.append(
                Prediction(
                    productIDs: ids.map { ($0 as? String) ?? "\($0)" },
                    scores: scores.map { ($0 as? NSNumber)?.doubleValue ?? .nan }))
        }
        return predictions
    }
}
