import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SlipwayContracts
import SlipwayPlatform

/// `GET /api/events/stream[?context=deploy,training][&aggregate_id=shop][&limit=N]`: every event of the platform as
/// it happens, as Server-Sent Events (`event:` the type's short name, `id:` the event id, `data:` the event as
/// `/internal/events?format=json` shows it, with who caused it). `limit` ends the stream after N events (for scripts
/// waiting on one); a comment line every 15 s keeps an idle connection open.
struct EventStreamRoutes: Sendable {
    let live: LiveEvents

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.get(
            "/api/events/stream",
            RouteDoc(
                "Every event of the platform as it happens (Server-Sent Events)",
                details: "`event:` is the event's type, `id:` its id, `data:` the event as JSON with who caused it; a comment every 15 s.",
                query: [
                    .string("context", "Comma-separated contexts to follow (training, registry, schedule, deploy, testing, metrics, gateway)"),
                    .string("aggregate_id", "Only events of this aggregate (a model, an endpoint, a run)"),
                    .integer("limit", "End the stream after this many events", in: 1...100_000),
                ], answer: .eventStream), use: stream)
        return routes
    }

    static let contexts = Set(EventContext.allCases.filter { $0 != .serving }.map(\.rawValue))

    @Sendable func stream(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        let parameters = request.uri.queryParameters
        var contexts: Set<String>?
        if let listed = parameters.nonEmpty("context") {
            let names = Set(listed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            let unknown = names.subtracting(Self.contexts)
            guard unknown.isEmpty else {
                throw APIError.badRequest(
                    "unknown context \(unknown.sorted().joined(separator: ", ")); expected some of \(Self.contexts.sorted().joined(separator: ", "))",
                    field: "context")
            }
            contexts = names
        }
        let limit = parameters.get("limit") == nil ? nil : try parameters.integer("limit", default: 0, in: 1...100_000)
        let (id, items) = live.subscribe(LiveEvents.Filter(contexts: contexts, aggregateID: parameters.nonEmpty("aggregate_id")))
        let live = self.live
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { live.unsubscribe(id) }
                try await writer.write(ByteBuffer(string: ": connected\n\n"))
                var sent = 0
                for await item in items {
                    switch item {
                    case .heartbeat:
                        try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                    case .event(let event):
                        try await writer.write(ByteBuffer(bytes: try Self.frame(event)))
                        sent += 1
                    }
                    if let limit, sent >= limit { break }
                }
                try await writer.finish(nil)
            })
    }

    /// One SSE frame; the JSON has no newline, so it is one `data:` line.
    static func frame(_ event: EventView) throws -> [UInt8] {
        let name = event.eventType.split(separator: ".").last.map(String.init) ?? event.eventType
        return Array("event: \(name)\nid: \(event.eventId)\ndata: ".utf8) + (try PlatformJSON.encode(event)) + Array("\n\n".utf8)
    }
}
