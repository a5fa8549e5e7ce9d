import Foundation
import Testing

@testable import TestingCore

/// The rules an answer is held to, one broken at a time, and answers that break none.
struct PredictionValidatorTests {
    typealias P = PredictionValidator.Prediction
    let validator = PredictionValidator(topK: 3, catalog: ["a", "b", "c", "d"])

    func rules(_ prediction: P) -> [PredictionValidator.Rule] { validator.check(sample: 4, prediction).map(\.rule) }

    @Test func aGoodAnswerBreaksNoRule() {
        #expect(rules(P(productIDs: ["a", "b", "c"], scores: [0.9, 0.5, 0.5])).isEmpty, "ties are sorted")
        // A catalog smaller than top_k: the whole catalog is the answer.
        let small = PredictionValidator(topK: 10, catalog: ["a", "b"])
        #expect(small.check(sample: 0, P(productIDs: ["b", "a"], scores: [2, 1])).isEmpty)
    }

    @Test(arguments: [
        (P(productIDs: ["a", "b", "c"], scores: [0.1, 0.5, 0.9]), PredictionValidator.Rule.sorted),
        (P(productIDs: ["a", "b"], scores: [0.9, 0.5]), .count),
        (P(productIDs: ["a", "b", "zz"], scores: [0.9, 0.5, 0.1]), .known),
        (P(productIDs: ["a", "a", "b"], scores: [0.9, 0.5, 0.1]), .unique),
        (P(productIDs: ["a", "b", "c"], scores: [0.9, .nan, 0.1]), .finite),
        (P(productIDs: ["a", "b", "c"], scores: [0.9, 0.5]), .shape),
    ])
    func eachBrokenRuleIsNamed(_ prediction: P, _ rule: PredictionValidator.Rule) {
        let issues = validator.check(sample: 4, prediction)
        #expect(issues.map(\.rule).contains(rule), "\(issues)")
        #expect(issues.allSatisfy { $0.text.hasPrefix("sample 4: ") && $0.text.hasSuffix("[\($0.rule.rawValue)]") })
    }

    @Test func aRepeatedRequestMustGetTheSameList() {
        let first = P(productIDs: ["a", "b", "c"], scores: [3, 2, 1])
        #expect(validator.checkRepeat(sample: 0, first: first, again: P(productIDs: ["a", "b", "c"], scores: [3, 2, 0.999])).isEmpty)
        #expect(
            validator.checkRepeat(sample: 0, first: first, again: P(productIDs: ["b", "a", "c"], scores: [3, 2, 1])).map(\.rule) == [.deterministic])
    }

    @Test func predictionsAreReadFromTheServingShapeOnly() {
        let body = Array(#"{"predictions": [{"product_ids": ["a", "b"], "scores": [0.5, 0.25]}]}"#.utf8)
        #expect(PredictionValidator.predictions(in: body) == [P(productIDs: ["a", "b"], scores: [0.5, 0.25])])
        #expect(PredictionValidator.predictions(in: Array(#"{"recommendations": []}"#.utf8)) == nil)
        #expect(PredictionValidator.predictions(in: Array("not json".utf8)) == nil)
    }

    @Test func latencyQuantilesAreNearestRank() {
        let stats = EndpointTestRunner.stats((1...100).map(Double.init))
        #expect(stats.p50Ms == 50 && stats.p95Ms == 95 && stats.p99Ms == 99 && stats.minMs == 1 && stats.maxMs == 100 && stats.avgMs == 50.5)
        #expect(EndpointTestRunner.stats([7]).p99Ms == 7)
    }
}
