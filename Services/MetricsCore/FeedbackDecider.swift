import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// One piece of feedback on a prediction (the spec's IMPROVE section): recorded once, flagged for review or
/// not, deleted, and sent to training datasets. Sending makes it a training row of every later run on the
/// dataset (training-svc projects `FeedbackSentToTraining`), so only feedback that says which customer
/// liked which product can be sent. The aggregate id is the feedback's id.
public enum FeedbackDecider: Decider {
    public enum Command: Sendable, Equatable {
        case record(Submission)
        case setFlag(Bool, actor: String)
        case delete(actor: String)
        case sendToTraining(datasetID: String, actor: String)
    }

    public enum Rating: String, Sendable, Equatable, CaseIterable {
        case positive, negative
    }

    /// What a client submitted, checked by the route for shape (the endpoint exists, sizes) and here for meaning.
    public struct Submission: Sendable, Equatable {
        public var id: String
        public var endpointID: String
        public var rating: Rating
        public var requestID = ""
        public var sessionID = ""
        public var customerID = ""
        public var productID = ""
        public var feedbackText = ""
        public var inputText = ""
        public var outputText = ""
        public var submittedBy = ""
        public var submittedAt: Date

        public init(id: String, endpointID: String, rating: Rating, submittedAt: Date) {
            self.id = id
            self.endpointID = endpointID
            self.rating = rating
            self.submittedAt = submittedAt
        }
    }

    public struct State: Sendable, Equatable {
        public var submission: Submission?
        public var flagged = false
        public var deleted = false
        public var datasets: Set<String> = []
    }

    public static let aggregateType = "Feedback"
    public static let initial = State()

    /// Longest free text kept (input, output and comment each); longer is refused, not cut.
    public static let maxTextLength = 16_384

    public static func decide(_ command: Command, _ state: State) throws -> [MetricsEvent] {
        if case .record(let submission) = command {
            guard state.submission == nil else { throw CommandRejected(.conflict, "feedback \(submission.id) is already recorded") }
            for (field, text) in [
                ("feedback_text", submission.feedbackText), ("input_text", submission.inputText), ("output_text", submission.outputText),
            ] where text.utf8.count > maxTextLength {
                throw CommandRejected(field: field, "\(field) is longer than \(maxTextLength) bytes")
            }
            var event = FeedbackRecorded()
            event.feedbackID = submission.id
            event.endpointID = submission.endpointID
            event.rating = rating(submission.rating)
            event.requestID = submission.requestID
            event.sessionID = submission.sessionID
            event.customerID = submission.customerID
            event.productID = submission.productID
            event.feedbackText = submission.feedbackText
            event.inputText = submission.inputText
            event.outputText = submission.outputText
            event.submittedBy = submission.submittedBy
            event.submittedAt = .init(date: submission.submittedAt)
            return [.feedbackRecorded(event)]
        }
        guard let submission = state.submission, !state.deleted else { throw CommandRejected(.notFound, "no such feedback") }
        switch command {
        case .record:
            return []  // handled above
        case .setFlag(let flagged, let actor):
            guard flagged != state.flagged else { return [] }  // flagging twice is what the client wanted: nothing changes
            var event = FeedbackFlagChanged()
            event.feedbackID = submission.id
            event.flagged = flagged
            event.changedBy = actor
            return [.feedbackFlagChanged(event)]
        case .delete(let actor):
            var event = FeedbackDeleted()
            event.feedbackID = submission.id
            event.deletedBy = actor
            return [.feedbackDeleted(event)]
        case .sendToTraining(let datasetID, let actor):
            // The two-tower model learns from what customers chose (other items in the batch are its negatives),
            // so a positive rating is one more choice; a negative one has no row to become.
            guard submission.rating == .positive else {
                throw CommandRejected(
                    field: "rating", "only positive feedback becomes a training row (an interaction of the customer with the product)")
            }
            guard !submission.customerID.isEmpty else {
                throw CommandRejected(field: "customer_id", "feedback \(submission.id) names no customer_id, so it cannot be a training row")
            }
            guard !submission.productID.isEmpty else {
                throw CommandRejected(field: "product_id", "feedback \(submission.id) names no product_id, so it cannot be a training row")
            }
            guard !state.datasets.contains(datasetID) else {
                throw CommandRejected(.conflict, "feedback \(submission.id) is already in dataset \(datasetID)'s training rows")
            }
            var event = FeedbackSentToTraining()
            event.feedbackID = submission.id
            event.datasetID = datasetID
            event.sentBy = actor
            event.endpointID = submission.endpointID
            event.customerID = submission.customerID
            event.productID = submission.productID
            event.rating = rating(submission.rating)
            event.submittedAt = .init(date: submission.submittedAt)
            return [.feedbackSentToTraining(event)]
        }
    }

    static func rating(_ rating: Rating) -> FeedbackRating {
        switch rating {
        case .positive: .positive
        case .negative: .negative
        }
    }

    public static func evolve(_ state: State, _ event: MetricsEvent) -> State {
        var state = state
        switch event {
        case .feedbackRecorded(let e):
            var submission = Submission(
                id: e.feedbackID, endpointID: e.endpointID, rating: e.rating == .negative ? .negative : .positive, submittedAt: e.submittedAt.date)
            submission.requestID = e.requestID
            submission.sessionID = e.sessionID
            submission.customerID = e.customerID
            submission.productID = e.productID
            submission.feedbackText = e.feedbackText
            submission.inputText = e.inputText
            submission.outputText = e.outputText
            submission.submittedBy = e.submittedBy
            state.submission = submission
        case .feedbackFlagChanged(let e):
            state.flagged = e.flagged
        case .feedbackDeleted:
            state.deleted = true
        case .feedbackSentToTraining(let e):
            state.datasets.insert(e.datasetID)
        case .alertRuleCreated, .alertRuleUpdated, .alertRuleDeleted, .alertPending, .alertPendingCleared, .alertFired, .alertAcknowledged,
            .alertResolved, .alertNotificationAttempted, .driftDetected:
            break  // other aggregates of the context
        }
        return state
    }
}
