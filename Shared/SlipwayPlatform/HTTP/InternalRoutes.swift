import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// A router with the middleware every Slipway HTTP API has: request metrics by route template, then the
/// error shape (so a thrown error is measured with the status it is answered with).
public func platformRouter() -> Router<SlipwayRequestContext> {
    let router = Router(context: SlipwayRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware())
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: QueryTextMiddleware())
    return router
}

/// Routes every service shares: health, readiness, metrics, its event feed and replay.
public enum InternalRoutes {
    struct Status: ResponseEncodable { let status: String }

    /// `/healthz`, `/readyz` (PostgreSQL, Kafka and migrations, for those the process has) and `/metrics`.
    public static func addHealth(to router: Router<SlipwayRequestContext>, readiness: Readiness, postgres: PostgresClient?, kafkaBrokers: String?) {
        router.get("/healthz") { _, _ in
            Status(status: "ok")
        }
        router.get("/readyz") { _, context in
            let report = await readiness.check(postgres: postgres, kafkaBrokers: kafkaBrokers, logger: context.logger)
            return EditedResponse(status: report.ready ? .ok : .serviceUnavailable, response: report)
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: Observability.prometheusText()))
        }
    }

    /// `/internal/openapi.json`: the service's part of the API reference, which the gateway merges.
    static func addDocument(to router: Router<SlipwayRequestContext>, service: String, routes: [RouteInventory.Route]) {
        let document = (try? OpenAPIDocument.service(service, routes: routes).jsonData()).map { [UInt8]($0) } ?? []
        router.get("/internal/openapi.json") { _, _ in RawJSON(document) }
    }

    static func addEventRoutes(
        to router: Router<SlipwayRequestContext>, definition: ServiceDefinition, components: ServiceComponents, environment: ServiceEnvironment
    ) {
        let store = environment.store
        let service = definition.name
        let projections = components.projections

        // The feed other services backfill from: published events by source position.
        // `aggregate_id` switches to one aggregate's full history (published or not), for debugging; with
        // `newest_first=true`, the newest `limit` events of the `aggregate_id`s (one or more) of one `aggregate_type`,
        // those that occurred before `before` (ISO 8601) when it is given (a model's timeline, a page at a time).
        router.get("/internal/events") { request, context in
            let query = request.uri.queryParameters
            let limit = try query.integer("limit", default: 1000, in: 1...EventFeedFormat.maxLimit)
            let events: [StoredEvent]
            let aggregateIDs = query.getAll("aggregate_id")
            if query.get("newest_first") == "true" {
                guard let type = query.get("aggregate_type") else {
                    throw APIError.badRequest("newest_first reads aggregates of one aggregate_type", field: "aggregate_type")
                }
                guard aggregateIDs.count <= 1000 else { throw APIError.badRequest("at most 1000 aggregate_id", field: "aggregate_id") }
                events = try await store.latest(
                    aggregateType: type, aggregateIDs: aggregateIDs.map { String($0) }, before: try query.instant("before"), limit: limit)
            } else if let aggregateID = query.get("aggregate_id") {
                events = try await store.history(aggregateID: aggregateID, aggregateType: query.get("aggregate_type"))
            } else {
                let after = try query.integer("after", default: 0, in: 0...Int.max)
                events = try await store.feed(after: Int64(after), limit: limit)
            }
            if query.get("format") == "json" || (request.headers[.accept]?.contains("application/json") ?? false) {
                return try RawJSON(PlatformJSON.encode(events.map { EventView($0, service: service) })).response(from: request, context: context)
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
            for subscription in projections where wanted == nil || wanted == subscription.projection.name {
                reports.append(
                    try await Replayer.replay(
                        subscription.projection, sources: SlipwayServiceRunner.projectorSources(subscription, environment: environment),
                        client: environment.postgres,
                        verify: verify, keepSchema: keep, logger: context.logger))
            }
            if let wanted, reports.isEmpty {
                throw APIError.notFound("service \(service) has no read model named '\(wanted)'")
            }
            return ReplayResponse(service: service, reports: reports)
        }

        router.get("/internal/info") { _, _ in
            ServiceInfo(
                service: service, topic: definition.topic,
                readModel: definition.readModel?.name,
                projections: projections.map { $0.projection.name })
        }
    }
}

struct ReplayResponse: ResponseEncodable {
    let service: String
    let reports: [ReplayReport]
}

struct ServiceInfo: ResponseEncodable {
    let service: String
    let topic: String
    let readModel: String?
    let projections: [String]
}

/// An event as JSON for people (`/internal/events?format=json`, `slipway events show`): the payload
/// decoded through the event catalog when its type is known.
public struct EventView: Codable, Sendable {
    public let eventId: String
    public let eventType: String
    public let aggregateType: String
    public let aggregateId: String
    public let version: Int64
    public let sourceService: String
    public let sourcePosition: Int64?
    public let occurredAt: Date
    public let correlationId: String
    public let causationId: String
    /// Who caused the event; empty for events recorded before actors were kept.
    public let actor: String
    public let payload: String

    /// An event as it travels on Kafka (`GET /api/events/stream` shows them live).
    public init(_ envelope: EventEnvelope) {
        eventId = envelope.eventID
        eventType = envelope.eventType
        aggregateType = envelope.aggregateType
        aggregateId = envelope.aggregateID
        version = envelope.aggregateVersion
        sourceService = envelope.sourceService
        sourcePosition = envelope.sourcePosition
        occurredAt = envelope.occurredDate
        correlationId = envelope.correlationID
        causationId = envelope.causationID
        actor = envelope.actor
        payload =
            (try? EventCatalog.decodeJSON(typeName: envelope.eventType, payload: [UInt8](envelope.payload)))
            ?? String(decoding: envelope.payload, as: UTF8.self)
    }

    public init(_ event: StoredEvent, service: String) {
        eventId = event.eventID.uuidString.lowercased()
        eventType = event.eventType
        aggregateType = event.aggregateType
        aggregateId = event.aggregateID
        version = event.version
        sourceService = service
        sourcePosition = event.sourcePosition
        occurredAt = event.occurredAt
        correlationId = event.correlationID
        causationId = event.causationID
        actor = event.actor
        payload =
            (try? EventCatalog.decodeJSON(typeName: event.eventType, payload: event.payload))
            ?? String(decoding: event.payload, as: UTF8.self)
    }
}
