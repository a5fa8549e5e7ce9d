import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// Feedback metrics-svc sent to a dataset's training rows (`FeedbackSentToTraining`), until it is deleted:
/// the executor writes them beside the run's spec, and the trainer adds them to the train split.
public struct DatasetFeedbackProjection: Projection {
    public let name = "dataset_feedback"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "feedback sent to datasets",
                [
                    """
                    CREATE TABLE dataset_feedback (feedback_id text NOT NULL, dataset_id text NOT NULL, endpoint_id text NOT NULL,
                        customer_id text NOT NULL, product_id text NOT NULL, submitted_at timestamptz NOT NULL, sent_at timestamptz NOT NULL,
                        PRIMARY KEY (dataset_id, feedback_id))
                    """,
                    "CREATE INDEX dataset_feedback_by_feedback ON dataset_feedback (feedback_id)",
                ])
        ]
    }

    public func apply(_ events: [Recorded<MetricsEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            switch recorded.event {
            case .feedbackSentToTraining(let e):
                try await connection.query(
                    """
                    INSERT INTO dataset_feedback (feedback_id, dataset_id, endpoint_id, customer_id, product_id, submitted_at, sent_at)
                    VALUES (\(e.feedbackID), \(e.datasetID), \(e.endpointID), \(e.customerID), \(e.productID), \(e.submittedAt.date),
                        \(recorded.occurredAt))
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
            case .feedbackDeleted(let e):
                // Deleted feedback (spam, a mistake, a customer's erasure request) leaves every later run.
                try await connection.query("DELETE FROM dataset_feedback WHERE feedback_id = \(e.feedbackID)", logger: logger)
            case .feedbackRecorded, .feedbackFlagChanged, .alertRuleCreated, .alertRuleUpdated, .alertRuleDeleted, .alertPending,
                .alertPendingCleared, .alertFired, .alertAcknowledged, .alertResolved, .alertNotificationAttempted, .driftDetected:
                break  // only feedback sent to training becomes training rows
            }
        }
    }
}

/// One feedback training row of a dataset, as `GET /api/datasets/{id}/feedback` shows it and the trainer reads it.
public struct DatasetFeedbackRow: Codable, Sendable, Equatable {
    public var feedbackId: String
    public var endpointId: String
    public var customerId: String
    public var productId: String
    /// The interaction's time: when the feedback was given.
    public var timestamp: Date
    public var sentAt: Date

    /// The trainer's feedback file (`DatasetSpec.feedback`): `customer_id,product_id,timestamp`, ids quoted as CSV needs.
    static func csv(_ rows: [DatasetFeedbackRow]) -> String {
        func field(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"\(text.replacingOccurrences(of: "\"", with: "\"\""))\"" : text
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var text = "customer_id,product_id,timestamp\n"
        for row in rows { text += "\(field(row.customerId)),\(field(row.productId)),\(formatter.string(from: row.timestamp))\n" }
        return text
    }
}
