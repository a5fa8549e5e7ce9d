import Foundation
import Hummingbird
import Logging
import SlipwayContracts
import SlipwayEventSourcing

/// Routes every service shares: health, readiness, metrics, its event feed and replay.
enum InternalRoutes {
    static func addHealth(to router: Router<BasicRequestContext>, readiness: Readiness, environment: ServiceEnvironment?, kafkaBrokers: String?) {
        router.get("/healthz") { _, _ in
            try jsonResponse(["status": "ok"])
        }
        router.get("/readyz") { _, context in
            let report = await readiness.check(postgres: environment?.postgres, kafkaBrokers: kafkaBrokers, logger: context.logger)
            return try jsonResponse(report, status: report.ready ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: Observability.prometheusText()))
        }
    }

    static func addEventRoutes(to router: Router<BasicRequestContext>, definition: ServiceDefinition, environment: ServiceEnvironment, projectorSources: @escaping @Sendable (ProjectionSubscription) -> [Projector.Source]) {
        let store = environment.store
        let service = definition.name

        // The feed other services backfill from: published events by source position.
        // `aggregate_id` switches to one aggregate's full history (published or not), for debugging.
        router.get("/internal/events") { request, _ in
            let query = request.uri.queryParameters
            let limit = try queryInt(query, "limit", default: 1000)
            guard (1...EventFeedFormat.maxLimit).contains(limit) else {
                throw APIError.badRequest("limit must be between 1 and \(EventFeedFormat.maxLimit)", field: "limit")
            }
            let events: [StoredEvent]
            if let aggregateID = query.get("aggregate_id") {
                events = try await store.history(aggregateID: aggregateID, aggregateType: query.get("aggregate_type"))
            } else {
                let after = try queryInt(query, "after", default: 0)
                guard after >= 0 else { throw APIError.badRequest("after must be a position ≥ 0", field: "after") }
                events = try await store.feed(after: Int64(after), limit: limit)
            }
            if query.get("format") == "json" || (request.headers[.accept]?.contains("application/json") ?? false) {
                return try jsonResponse(events.map { EventView($0, service: service) })
            }
            var batch = EventEnvelopeBatch()
            batch.events = events.map { $0.envelope(sourceService: service) }
            batch.lastPosition = events.last?.sourcePosition ?? 0
            batch.hasMore = events.count == limit
            var headers = HTTPFields()
            headers[.contentType] = EventFeedFormat.protobufContentType
            let bytes: [UInt8] = try batch.serializedBytes()
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }

        // Rebuild one read model (or all of this service's) into a fresh schema; `verify=true` diffs it with the live one.
        router.post("/internal/replay") { request, context in
            let query = request.uri.queryParameters
            let verify = query.get("verify") == "true"
            let keep = query.get("keep") == "true"
            let wanted = query.get("projection")
            var reports: [ReplayReport] = []
            if let readModel = definition.readModel, wanted == nil || wanted == readModel.name {
                reports.append(try await Replayer.replay(readModel, from: store, verify: verify, keepSchema: keep, logger: context.logger))
            }
            for subscription in definition.projections where wanted == nil || wanted == subscription.projection.name {
                reports.append(try await Replayer.replay(
                    subscription.projection, sources: projectorSources(subscription), client: environment.postgres,
                    verify: verify, keepSchema: keep, logger: context.logger))
            }
            if let wanted, reports.isEmpty {
                throw APIError.notFound("service \(service) has no read model named '\(wanted)'")
            }
            return try jsonResponse(ReplayResponse(service: service, reports: reports))
        }

        router.get("/internal/info") { _, _ in
            try jsonResponse(ServiceInfo(
                service: service, topic: definition.topic,
                readModel: definition.readModel?.name,
                projections: definition.projections.map { $0.projection.name }))
        }
    }

    static func queryInt(_ query: Parameters, _ name: String, default value: Int) throws -> Int {
        guard let text = query.get(name) else { return value }
        guard let number = Int(text) else { throw APIError.badRequest("\(name) must be an integer", field: name) }
        return number
    }
}

struct ReplayResponse: Encodable {
    let service: String
    let reports: [ReplayReport]
}

struct ServiceInfo: Encodable {
    let service: String
    let topic: String
    let readModel: String?
    let projections: [String]
}

/// An event as JSON for people (`/internal/events?format=json`, `slipway events show`): the payload
/// decoded through the event catalog when its type is known.
public struct EventView: Codable, Sendable {
    public let eventID: String
    public let eventType: String
    public let aggregateType: String
    public let aggregateID: String
    public let version: Int64
    public let sourceService: String
    public let sourcePosition: Int64?
    public let occurredAt: Date
    public let correlationID: String
    public let causationID: String
    public let payload: String

    public init(_ event: StoredEvent, service: String) {
        eventID = event.eventID.uuidString.lowercased()
        eventType = event.eventType
        aggregateType = event.aggregateType
        aggregateID = event.aggregateID
        version = event.version
        sourceService = service
        sourcePosition = event.sourcePosition
        occurredAt = event.occurredAt
        correlationID = event.correlationID
        causationID = event.causationID
        payload = (try? EventCatalog.decodeJSON(typeName: event.eventType, payload: event.payload))
            ?? String(decoding: event.payload, as: UTF8.self)
    }

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id", eventType = "event_type", aggregateType = "aggregate_type", aggregateID = "aggregate_id"
        case version, sourceService = "source_service", sourcePosition = "source_position", occurredAt = "occurred_at"
        case correlationID = "correlation_id", causationID = "causation_id", payload
    }
}

/// `/healthz`, `/readyz` and `/metrics` for executables that are not event-sourced services (the gateway).
public enum StandardRoutes {
    public static func add(to router: Router<BasicRequestContext>, readiness: Readiness) {
        router.add(middleware: RequestMetricsMiddleware())
        router.add(middleware: ErrorMiddleware())
        InternalRoutes.addHealth(to: router, readiness: readiness, environment: nil, kafkaBrokers: nil)
    }
}
