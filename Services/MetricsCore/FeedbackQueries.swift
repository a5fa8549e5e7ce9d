import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SlipwayPlatform

/// A feedback item as the API shows it.
struct FeedbackJSON: ResponseEncodable, Decodable, Sendable {
    let id: String
    let endpointId: String
    /// positive or negative.
    let rating: String
    let requestId: String
    let sessionId: String
    let customerId: String
    let productId: String
    let feedbackText: String
    let inputText: String
    let outputText: String
    let flagged: Bool
    let submittedBy: String
    /// The training datasets it was sent to: every later run on them trains on it.
    let trainingDatasets: [String]
    let createdAt: Date
    let updatedAt: Date
}

/// One page of a feedback list (`page` from 1).
struct FeedbackPageJSON: ResponseEncodable, Decodable, Sendable {
    let items: [FeedbackJSON]
    let total: Int64
    let page: Int
    let pageSize: Int
    let totalPages: Int64
}

/// `GET /api/v1/feedback/stats`: counts over the last `days` days, and per day for a chart.
struct FeedbackStatsJSON: ResponseEncodable, Decodable, Sendable {
    struct Day: Codable, Sendable {
        let date: String
        let total: Int64
        let positive: Int64
        let negative: Int64
    }
    @Nullable var endpointId: String?
    let days: Int
    let since: Date
    let total: Int64
    let positive: Int64
    let negative: Int64
    /// Percent of rated items that are positive; null with no feedback.
    @Nullable var positiveRate: Double?
    let withComments: Int64
    let flagged: Int64
    let sentToTraining: Int64
    let daily: [Day]
}

/// What a list asks for; every filter optional.
struct FeedbackFilter: Sendable {
    var endpointID: String?
    var rating: String?
    var flaggedOnly = false
}

/// Reads of the feedback tables of metrics-svc's read model.
struct FeedbackQueries: Sendable {
    let client: PostgresClient
    let logger: Logger

    private static let columns = """
        f.id, f.endpoint_id, f.rating, f.request_id, f.session_id, f.customer_id, f.product_id, f.feedback_text, f.input_text, f.output_text,
            f.flagged, f.submitted_by, f.created_at, f.updated_at,
            COALESCE((SELECT jsonb_agg(t.dataset_id ORDER BY t.sent_at) FROM feedback_training t WHERE t.feedback_id = f.id), '[]')::text
        """

    private static func item(_ row: PostgresRow) throws -> FeedbackJSON {
        let c = row.makeRandomAccess()
        return FeedbackJSON(
            id: try c[0].decode(String.self), endpointId: try c[1].decode(String.self), rating: try c[2].decode(String.self),
            requestId: try c[3].decode(String.self), sessionId: try c[4].decode(String.self), customerId: try c[5].decode(String.self),
            productId: try c[6].decode(String.self), feedbackText: try c[7].decode(String.self), inputText: try c[8].decode(String.self),
            outputText: try c[9].decode(String.self), flagged: try c[10].decode(Bool.self), submittedBy: try c[11].decode(String.self),
            trainingDatasets: try JSONDecoder().decode([String].self, from: Data(try c[14].decode(String.self).utf8)),
            createdAt: try c[12].decode(Date.self), updatedAt: try c[13].decode(Date.self))
    }

    private func items(_ rows: PostgresRowSequence) async throws -> [FeedbackJSON] {
        var items: [FeedbackJSON] = []
        for try await row in rows { items.append(try Self.item(row)) }
        return items
    }

    func item(_ id: String) async throws -> FeedbackJSON? {
        try await items(client.query("SELECT \(unescaped: Self.columns) FROM feedback_items f WHERE f.id = \(id)", logger: logger)).first
    }

    /// Newest first, with the count of all that match.
    func page(_ filter: FeedbackFilter, page: Int, pageSize: Int) async throws -> FeedbackPageJSON {
        let offset = (page - 1) * pageSize
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.columns), count(*) OVER () FROM feedback_items f
            WHERE (\(filter.endpointID ?? "") = '' OR f.endpoint_id = \(filter.endpointID ?? ""))
                AND (\(filter.rating ?? "") = '' OR f.rating = \(filter.rating ?? "")) AND (f.flagged OR NOT \(filter.flaggedOnly))
            ORDER BY f.created_at DESC, f.id DESC LIMIT \(pageSize) OFFSET \(offset)
            """, logger: logger)
        var found: [FeedbackJSON] = []
        var total: Int64 = 0
        for try await row in rows {
            found.append(try Self.item(row))
            total = try row.makeRandomAccess()[15].decode(Int64.self)
        }
        if found.isEmpty && page > 1 {
            // Past the last page: the count still says how many there are.
            let count = try await client.query(
                """
                SELECT count(*) FROM feedback_items f
                WHERE (\(filter.endpointID ?? "") = '' OR f.endpoint_id = \(filter.endpointID ?? ""))
                    AND (\(filter.rating ?? "") = '' OR f.rating = \(filter.rating ?? "")) AND (f.flagged OR NOT \(filter.flaggedOnly))
                """, logger: logger)
            for try await n in count.decode(Int64.self) { total = n }
        }
        return FeedbackPageJSON(
            items: found, total: total, page: page, pageSize: pageSize, totalPages: (total + Int64(pageSize) - 1) / Int64(pageSize))
    }

    /// The endpoint's latest `limit` items.
    func recent(endpointID: String, limit: Int) async throws -> [FeedbackJSON] {
        try await items(
            client.query(
                """
                SELECT \(unescaped: Self.columns) FROM feedback_items f WHERE f.endpoint_id = \(endpointID)
                ORDER BY f.created_at DESC, f.id DESC LIMIT \(limit)
                """, logger: logger))
    }

    func stats(endpointID: String?, days: Int, now: Date) async throws -> FeedbackStatsJSON {
        let since = now.addingTimeInterval(-Double(days) * 86_400)
        let rows = try await client.query(
            """
            SELECT to_char(date_trunc('day', f.created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD'), count(*), count(*) FILTER (WHERE f.rating = 'positive'),
                count(*) FILTER (WHERE f.rating = 'negative'), count(*) FILTER (WHERE f.feedback_text <> ''), count(*) FILTER (WHERE f.flagged),
                count(*) FILTER (WHERE EXISTS (SELECT 1 FROM feedback_training t WHERE t.feedback_id = f.id))
            FROM feedback_items f
            WHERE (\(endpointID ?? "") = '' OR f.endpoint_id = \(endpointID ?? "")) AND f.created_at >= \(since) AND f.created_at <= \(now)
            GROUP BY 1 ORDER BY 1
            """, logger: logger)
        var daily: [FeedbackStatsJSON.Day] = []
        var comments: Int64 = 0, flagged: Int64 = 0, sent: Int64 = 0
        for try await (date, total, positive, negative, withComments, flaggedCount, sentCount) in rows.decode(
            (String, Int64, Int64, Int64, Int64, Int64, Int64).self)
        {
            daily.append(.init(date: date, total: total, positive: positive, negative: negative))
            comments += withComments
            flagged += flaggedCount
            sent += sentCount
        }
        let total = daily.reduce(0) { $0 + $1.total }, positive = daily.reduce(0) { $0 + $1.positive }
        return FeedbackStatsJSON(
            endpointId: endpointID, days: days, since: since, total: total, positive: positive, negative: daily.reduce(0) { $0 + $1.negative },
            positiveRate: total > 0 ? 100 * Double(positive) / Double(total) : nil, withComments: comments, flagged: flagged, sentToTraining: sent,
            daily: daily)
    }

    /// Positive rate (0–1) of the endpoint's feedback in `[start, end)` and how many items it is from: what quality alerts judge.
    func positiveRate(endpointID: String, start: Date, end: Date) async throws -> (rate: Double, count: Int64) {
        let rows = try await client.query(
            """
            SELECT count(*), count(*) FILTER (WHERE rating = 'positive') FROM feedback_items
            WHERE endpoint_id = \(endpointID) AND created_at >= \(start) AND created_at < \(end)
            """, logger: logger)
        for try await (count, positive) in rows.decode((Int64, Int64).self) {
            return (count > 0 ? Double(positive) / Double(count) : 0, count)
        }
        return (0, 0)
    }

    /// A training dataset by id, else by name (the newest of that name).
    func dataset(_ reference: String) async throws -> String? {
        let rows = try await client.query(
            """
            SELECT dataset_id FROM training_datasets WHERE dataset_id = \(reference) OR name = \(reference)
            ORDER BY (dataset_id = \(reference)) DESC, registered_at DESC LIMIT 1
            """, logger: logger)
        for try await id in rows.decode(String.self) { return id }
        return nil
    }
}
