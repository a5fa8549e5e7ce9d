import Foundation
import Hummingbird
import Logging
import SlipwayEventSourcing
import SlipwayPlatform

/// The spec's feedback (`/api/v1/feedback`, IMPROVE): what users said about predictions, with the filters,
/// statistics and review flag a team needs, and `to-training`, which makes a positive rating a training row
/// of a dataset (the next run on it trains on the interaction).
struct FeedbackRoutes: Sendable {
    let environment: ServiceEnvironment
    let now: @Sendable () -> Date

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.post(
            "/api/v1/feedback",
            RouteDoc(
                "Record feedback on a prediction",
                details: """
                    `endpoint_id` takes an endpoint's id or name; `rating` is positive or negative. Without `customer_id`, it \
                    is read from `input_text` when that is the prediction request's JSON. The submitter is the caller.
                    """,
                body: CreateBody.self, status: .created),
            use: create)
        routes.get(
            "/api/v1/feedback",
            RouteDoc(
                "Feedback, newest first, a page at a time",
                query: [
                    .string("endpoint_id", "Only this endpoint's (its id or name)"),
                    .string("rating", "Only this rating (empty: all)", oneOf: ["", "positive", "negative"]),
                    .boolean("flagged_only", "Only feedback flagged for review"),
                    .integer("page", "The page, from 1", in: 1...1_000_000, default: 1),
                    .integer("page_size", "Items per page", in: 1...100, default: 20),
                ]),
            use: list)
        routes.get(
            "/api/v1/feedback/stats",
            RouteDoc(
                "Feedback statistics of the last days",
                query: [
                    .string("endpoint_id", "Only this endpoint's (its id or name)"),
                    .integer("days", "How many days until now", in: 1...365, default: 30),
                ]),
            use: stats)
        routes.get(
            "/api/v1/feedback/endpoint/:endpoint_id/recent",
            RouteDoc(
                "An endpoint's latest feedback", details: "`endpoint_id` takes an endpoint's id or name.",
                query: [.integer("limit", "How many items", in: 1...100, default: 10)]),
            use: recent)
        routes.get("/api/v1/feedback/:feedback_id", RouteDoc("One piece of feedback"), use: get)
        routes.delete("/api/v1/feedback/:feedback_id", RouteDoc("Delete feedback", status: .noContent), use: delete)
        routes.post(
            "/api/v1/feedback/:feedback_id/flag",
            RouteDoc("Flag feedback for review", details: "Flagging flagged feedback changes nothing."), use: flag)
        routes.delete(
            "/api/v1/feedback/:feedback_id/flag",
            RouteDoc("Clear feedback's review flag", details: "Clearing a clear flag changes nothing."),
            use: unflag)
        routes.post(
            "/api/v1/feedback/:feedback_id/to-training",
            RouteDoc(
                "Make positive feedback a training row of a dataset",
                details: """
                    Every later run on the dataset trains on the customer's interaction with the product. Only positive \
                    feedback that names a customer and a product can be sent (422 otherwise); 409 when it is already in the \
                    dataset.
                    """,
                query: [
                    .string("dataset_id", "The training dataset (its id or name); required unless `assembly_id` is given"),
                    .string("assembly_id", "The spec's name for `dataset_id`"),
                ], status: .created),
            use: toTraining)
        return routes
    }

    struct CreateBody: Decodable {
        let endpointId: String
        let rating: String
        let feedbackText: String?
        let inputText: String?
        let outputText: String?
        let sessionId: String?
        /// The router's `X-Request-ID` of the prediction.
        let requestId: String?
        /// Who the prediction was for; when absent, taken from `input_text` if that is the request's JSON.
        let customerId: String?
        /// The recommended product the feedback is about.
        let productId: String?
        // No `submitted_by`: who submits is the authenticated caller (`Request.actor`), not what the body says.
    }

    @Sendable func create(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<FeedbackJSON> {
        let body = try await request.decode(as: CreateBody.self, context: context)
        guard let rating = FeedbackDecider.Rating(rawValue: body.rating) else {
            throw APIError.invalid("rating must be positive or negative", field: "rating")
        }
        let endpoint = try await queries.requireEndpoint(body.endpointId, field: "endpoint_id")
        let at = now()
        let id = "fb-\(UUID.v7(now: at).uuidString.lowercased())"
        var submission = FeedbackDecider.Submission(id: id, endpointID: endpoint.id, rating: rating, submittedAt: at)
        submission.feedbackText = body.feedbackText ?? ""
        submission.inputText = body.inputText ?? ""
        submission.outputText = body.outputText ?? ""
        submission.sessionID = body.sessionId ?? ""
        submission.requestID = body.requestId ?? ""
        submission.customerID = Self.trimmed(body.customerId) ?? Self.customerID(inRequestJSON: submission.inputText) ?? ""
        submission.productID = Self.trimmed(body.productId) ?? ""
        submission.submittedBy = request.actor
        try await environment.execute(FeedbackDecider.self, aggregateID: id, command: .record(submission), metadata: try request.commandMetadata())
        return EditedResponse(status: .created, response: try await require(id))
    }

    /// `?endpoint_id=` (id or name) `&rating=` `&flagged_only=` `&page=` (from 1) `&page_size=` (default 20, at most 100).
    @Sendable func list(_ request: Request, context: SlipwayRequestContext) async throws -> FeedbackPageJSON {
        let parameters = request.uri.queryParameters
        var filter = FeedbackFilter()
        if let reference = parameters.nonEmpty("endpoint_id") {
            filter.endpointID = try await queries.requireEndpoint(reference, field: "endpoint_id").id
        }
        if let rating = parameters.nonEmpty("rating") {
            guard FeedbackDecider.Rating(rawValue: rating) != nil else {
                throw APIError.badRequest("rating must be positive or negative", field: "rating")
            }
            filter.rating = rating
        }
        filter.flaggedOnly = try parameters.boolean("flagged_only") ?? false
        let page = try parameters.integer("page", default: 1, in: 1...1_000_000)
        let pageSize = try parameters.integer("page_size", default: 20, in: 1...100)
        return try await feedback.page(filter, page: page, pageSize: pageSize)
    }

    /// `?endpoint_id=` `&days=` (default 30, at most 365).
    @Sendable func stats(_ request: Request, context: SlipwayRequestContext) async throws -> FeedbackStatsJSON {
        let parameters = request.uri.queryParameters
        var endpointID: String?
        if let reference = parameters.nonEmpty("endpoint_id") { endpointID = try await queries.requireEndpoint(reference, field: "endpoint_id").id }
        let days = try parameters.integer("days", default: 30, in: 1...365)
        return try await feedback.stats(endpointID: endpointID, days: days, now: now())
    }

    struct RecentJSON: ResponseEncodable, Decodable, Sendable {
        let endpointId: String
        let items: [FeedbackJSON]
    }

    /// `?limit=` (default 10, at most 100).
    @Sendable func recent(_ request: Request, context: SlipwayRequestContext) async throws -> RecentJSON {
        let endpoint = try await queries.requireEndpoint(try context.parameters.require("endpoint_id"), field: "endpoint_id")
        let limit = try request.uri.queryParameters.integer("limit", default: 10, in: 1...100)
        return RecentJSON(endpointId: endpoint.id, items: try await feedback.recent(endpointID: endpoint.id, limit: limit))
    }

    @Sendable func get(_ request: Request, context: SlipwayRequestContext) async throws -> FeedbackJSON {
        try await require(try context.parameters.require("feedback_id"))
    }

    @Sendable func delete(_ request: Request, context: SlipwayRequestContext) async throws -> HTTPResponse.Status {
        let id = try context.parameters.require("feedback_id")
        _ = try await require(id)
        try await environment.execute(
            FeedbackDecider.self, aggregateID: id, command: .delete(actor: request.actor), metadata: try request.commandMetadata())
        return .noContent
    }

    @Sendable func flag(_ request: Request, context: SlipwayRequestContext) async throws -> FeedbackJSON {
        try await setFlag(true, request, context)
    }

    @Sendable func unflag(_ request: Request, context: SlipwayRequestContext) async throws -> FeedbackJSON {
        try await setFlag(false, request, context)
    }

    private func setFlag(_ flagged: Bool, _ request: Request, _ context: SlipwayRequestContext) async throws -> FeedbackJSON {
        let id = try context.parameters.require("feedback_id")
        _ = try await require(id)
        try await environment.execute(
            FeedbackDecider.self, aggregateID: id, command: .setFlag(flagged, actor: request.actor), metadata: try request.commandMetadata())
        return try await require(id)
    }

    /// What `to-training` created: the row every later run on the dataset trains on.
    struct TrainingRowJSON: ResponseEncodable, Decodable, Sendable {
        let feedbackId: String
        let datasetId: String
        let customerId: String
        let productId: String
        /// The interaction's time: when the feedback was given.
        let timestamp: Date
        let feedback: FeedbackJSON
    }

    /// `?dataset_id=` (a training dataset's id or name; the spec's `assembly_id` is the same parameter).
    @Sendable func toTraining(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<TrainingRowJSON> {
        let id = try context.parameters.require("feedback_id")
        let parameters = request.uri.queryParameters
        let datasetField = parameters.nonEmpty("dataset_id") != nil ? "dataset_id" : "assembly_id"
        guard let reference = parameters.nonEmpty("dataset_id") ?? parameters.nonEmpty("assembly_id") else {
            throw APIError.badRequest("dataset_id is required: the training dataset whose runs should train on this feedback", field: "dataset_id")
        }
        if let a = parameters.nonEmpty("dataset_id"), let b = parameters.nonEmpty("assembly_id"), a != b {
            throw APIError.badRequest("dataset_id and assembly_id name the same thing and differ here", field: "assembly_id")
        }
        _ = try await require(id)
        guard let datasetID = try await feedback.dataset(reference) else {
            throw APIError.notFound("no training dataset '\(reference)' (\(datasetField) takes a dataset's id or name)")
        }
        try await environment.execute(
            FeedbackDecider.self, aggregateID: id, command: .sendToTraining(datasetID: datasetID, actor: request.actor),
            metadata: try request.commandMetadata())
        let item = try await require(id)
        return EditedResponse(
            status: .created,
            response: TrainingRowJSON(
                feedbackId: id, datasetId: datasetID, customerId: item.customerId, productId: item.productId, timestamp: item.createdAt,
                feedback: item))
    }

    // MARK: Parsing

    static func trimmed(_ text: String?) -> String? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        return text
    }

    /// `{"customer_id": "C1", ...}` (the prediction request, as a client would paste it) → "C1".
    static func customerID(inRequestJSON text: String) -> String? {
        guard text.first == "{", let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else { return nil }
        switch object["customer_id"] {
        case let id as String: return trimmed(id)
        case let id as Int: return "\(id)"
        default: return nil
        }
    }

    var queries: MetricsQueries { MetricsQueries(client: environment.postgres, logger: environment.logger) }
    var feedback: FeedbackQueries { FeedbackQueries(client: environment.postgres, logger: environment.logger) }

    func require(_ id: String) async throws -> FeedbackJSON {
        guard let item = try await feedback.item(id) else { throw APIError.notFound("no feedback '\(id)'") }
        return item
    }
}
