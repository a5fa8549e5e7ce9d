import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayKafka
import SwiftProtobuf

/// Request logs as serving-router writes them (`slipway.serving.requests`), for the benches that give metrics-svc
/// traffic without sending requests: a week or a month of minutes is published in seconds.
enum RequestLogs {
    /// Where a log says it was answered.
    struct Route {
        struct Revision {
            var id: String
            var version: Int32
            var modelVersionID: String
        }

        var endpointID: String
        var deploymentID: String
        var registeredModelID: String
        /// Log `index` is answered by revision `index % revisions.count`.
        var revisions: [Revision]
    }

    /// A `/recommend` with one instance of five features; latency, status (one in a hundred a 503), customer and
    /// features vary with `index` so that percentiles, distinct customers and drift have something to measure.
    static func log(id: String, route: Route, index: Int, at date: Date, keys: Int) -> PredictionRequestLogged {
        var log = PredictionRequestLogged()
        log.requestID = id
        log.endpointID = route.endpointID
        log.endpointName = route.endpointID
        log.deploymentID = route.deploymentID
        let revision = route.revisions[index % route.revisions.count]
        log.revisionID = revision.id
        log.registeredModelID = route.registeredModelID
        log.modelVersionID = revision.modelVersionID
        log.versionNumber = revision.version
        log.apiKeyID = "key-\(index % keys)"
        log.api = .recommend
        log.receivedAt = Google_Protobuf_Timestamp(date: date)
        log.latencyUs = Int64(800 + (index * 7919) % 4000)
        log.upstreamLatencyUs = log.latencyUs - 300
        log.statusCode = index % 100 == 99 ? 503 : 200
        log.customerID = "C\((index * 104_729) % 50_000)"
        log.topK = 10
        log.instanceCount = 1
        var row = FeatureRow()
        row.features["customer_id"] = .with { $0.stringValue = log.customerID }
        row.features["city"] = .with { $0.stringValue = "city\(index % 40)" }
        row.features["segment"] = .with { $0.stringValue = index % 3 == 0 ? "horeca" : "retail" }
        row.features["basket_value"] = .with { $0.doubleValue = Double(index % 500) + 0.5 }
        row.features["visits_30d"] = .with { $0.int64Value = Int64(index % 30) }
        log.instances = [row]
        log.productIds = (0..<10).map { "P\((index + $0 * 13) % 3000)" }
        return log
    }

    /// The logs as serving-router publishes them: each in its envelope, keyed by endpoint (one partition per endpoint,
    /// in order).
    static func messages(_ logs: [PredictionRequestLogged]) throws -> [KafkaOutgoingMessage] {
        try logs.map { log in
            var envelope = EventEnvelope()
            envelope.eventID = UUID().uuidString.lowercased()
            envelope.aggregateType = "Endpoint"
            envelope.aggregateID = log.endpointID
            envelope.sourceService = "serving-router"
            envelope.occurredAt = log.receivedAt
            envelope.correlationID = log.requestID
            envelope.schemaVersion = 1
            try envelope.setPayload(log)
            return KafkaOutgoingMessage(topic: EventContext.serving.topic, key: Array(log.endpointID.utf8), value: try envelope.serializedBytes())
        }
    }
}
