import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

@testable import MetricsCore

/// Feedback as a story of commands: recorded once, flagged and unflagged, sent to each dataset once, and only
/// when it can be a training row; nothing happens to deleted feedback.
struct FeedbackDeciderTests {
    typealias D = FeedbackDecider
    typealias Refusal = SlipwayTestSupport.Refusal<D>
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func submission(_ rating: D.Rating = .positive, customer: String = "C1", product: String = "P9") -> D.Submission {
        var submission = D.Submission(id: "fb-1", endpointID: "ep-1", rating: rating, submittedAt: t0)
        submission.customerID = customer
        submission.productID = product
        return submission
    }

    static let recorded: [D.Command] = [.record(submission())]

    @Test func positiveFeedbackGoesToEachDatasetOnceWithTheFactsTrainingNeeds() throws {
        let events = try decide(D.self, given: try history(D.self, Self.recorded), when: .sendToTraining(datasetID: "ds-1", actor: "t"))
        guard case .feedbackSentToTraining(let sent) = events.first, events.count == 1 else {
            Issue.record("expected FeedbackSentToTraining, got \(events)")
            return
        }
        #expect(sent.customerID == "C1" && sent.productID == "P9" && sent.endpointID == "ep-1" && sent.datasetID == "ds-1")
        #expect(sent.submittedAt.date == Self.t0 && sent.rating == .positive)
        let sentOnce = try history(D.self, Self.recorded + [.sendToTraining(datasetID: "ds-1", actor: "t")])
        expectRejection(D.self, given: sentOnce, when: .sendToTraining(datasetID: "ds-1", actor: "t"), kind: .conflict)
        #expect(
            try decide(D.self, given: sentOnce, when: .sendToTraining(datasetID: "ds-2", actor: "t")).count == 1, "another dataset may have it too")
    }

    @Test func flaggingIsIdempotentAndUnflaggingUndoesIt() throws {
        let flagged = try history(D.self, Self.recorded + [.setFlag(true, actor: "t")])
        #expect(D.fold(flagged).flagged)
        #expect(try decide(D.self, given: flagged, when: .setFlag(true, actor: "t")).isEmpty)
        let cleared = try decide(D.self, given: flagged, when: .setFlag(false, actor: "t"))
        #expect(!D.fold(flagged + cleared).flagged)
        #expect(try decide(D.self, given: try history(D.self, Self.recorded), when: .setFlag(false, actor: "t")).isEmpty)
    }

    static let refusals: [Refusal] = [
        Refusal(name: "recorded twice", given: recorded, when: .record(submission()), kind: .conflict, field: nil),
        Refusal(
            name: "a comment over the size limit",
            given: [],
            when: .record(
                {
                    var s = submission()
                    s.feedbackText = String(repeating: "x", count: D.maxTextLength + 1)
                    return s
                }()), kind: .invalid, field: "feedback_text"),
        Refusal(name: "flag unknown feedback", given: [], when: .setFlag(true, actor: "t"), kind: .notFound, field: nil),
        Refusal(name: "delete twice", given: recorded + [.delete(actor: "t")], when: .delete(actor: "t"), kind: .notFound, field: nil),
        Refusal(
            name: "send deleted feedback", given: recorded + [.delete(actor: "t")], when: .sendToTraining(datasetID: "ds", actor: "t"),
            kind: .notFound, field: nil),
        Refusal(
            name: "send a negative rating", given: [.record(submission(.negative))], when: .sendToTraining(datasetID: "ds", actor: "t"),
            kind: .invalid, field: "rating"),
        Refusal(
            name: "send feedback without a customer", given: [.record(submission(customer: ""))],
            when: .sendToTraining(datasetID: "ds", actor: "t"), kind: .invalid, field: "customer_id"),
        Refusal(
            name: "send feedback without a product", given: [.record(submission(product: ""))],
            when: .sendToTraining(datasetID: "ds", actor: "t"), kind: .invalid, field: "product_id"),
    ]

    @Test(arguments: refusals)
    func refused(_ refusal: Refusal) throws {
        try expectRejection(refusal)
    }
}
