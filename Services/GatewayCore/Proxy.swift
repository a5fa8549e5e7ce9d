import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import SlipwayEventSourcing
import SlipwayPlatform

/// Forwards `/api/...` to the owning service by the route table, with a correlation id that the service writes
/// into every event the request causes and the authenticated caller's name in `X-Slipway-Actor`, signed with the
/// actor secret so the service believes it (`ActorVoucher`). A client's own `X-Slipway-Actor` and signature are
/// dropped, and so are its credentials once the gateway has checked them (routes with their own secret get theirs).
struct Proxy: Sendable {
    let peers: [String: PeerAddresses]
    let maxBodyBytes: Int
    let httpClient: HTTPClient
    let routes: RouteTable
    /// Signs the caller's name; without it services count every forwarded request as internal.
    let voucher: ActorVoucher?

    /// Headers that describe one hop, not the message (RFC 9110 §7.6.1).
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
    ]
    /// What the gateway decides and a client may not forge or pass on.
    static let gatewayOwned: Set<String> = ["x-slipway-actor", "x-slipway-actor-signature", "authorization", "cookie"]

    var collection: RouteCollection<SlipwayRequestContext> {
        let collection = RouteCollection(context: SlipwayRequestContext.self)
        for method in [HTTPRequest.Method.get, .head, .post, .put, .patch, .delete] {
            collection.on("/api/**", method: method, use: forward)
        }
        return collection
    }

    @Sendable func forward(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        let path = request.uri.path
        guard let service = routes.service(for: path) else {
            throw APIError.notFound("no API route for \(path)")
        }
        guard let addresses = peers[service] else {
            throw APIError(.badGateway, code: "no_upstream", message: "no address configured for \(service)-svc")
        }
        let correlationID = request.correlationID
        var upstream = HTTPClientRequest(url: request.uri.description)
        upstream.method = HTTPMethod(rawValue: request.method.rawValue)
        // Routes the gateway let through without a caller check their own secret: it goes with them.
        let dropped = context.caller == nil ? ["x-slipway-actor", "x-slipway-actor-signature"] : Self.gatewayOwned
        for field in request.headers where !Self.hopByHop.contains(field.name.canonicalName) && !dropped.contains(field.name.canonicalName) {
            upstream.headers.add(name: field.name.rawName, value: field.value)
        }
        upstream.headers.replaceOrAdd(name: "X-Correlation-ID", value: correlationID)
        if let caller = context.caller, let voucher {
            upstream.headers.replaceOrAdd(name: HTTPField.Name.actor.rawName, value: caller.username)
            upstream.headers.replaceOrAdd(name: ActorVoucher.signatureField.rawName, value: voucher.signature(for: caller.username))
        }
        let body = try await request.body.collect(upTo: maxBodyBytes)
        if body.readableBytes > 0 { upstream.body = .bytes(body) }

        let response: HTTPClientResponse
        do {
            // The next replica in turn; another only when this one could not be connected to (it never saw the request).
            response = try await addresses.withFailover { base in
                var request = upstream
                request.url = base + upstream.url
                return try await httpClient.execute(request, timeout: .seconds(60))
            }
        } catch {
            context.logger.warning("upstream unavailable", metadata: [LogKey.service: "\(service)", LogKey.error: "\(error)"])
            throw APIError(.badGateway, code: "upstream_unavailable", message: "\(service)-svc is not reachable")
        }
        let responseBody = try await response.body.collect(upTo: maxBodyBytes)
        var headers = HTTPFields()
        for (name, value) in response.headers where !Self.hopByHop.contains(name.lowercased()) {
            if let fieldName = HTTPField.Name(name) { headers.append(HTTPField(name: fieldName, value: value)) }
        }
        headers[.correlationID] = correlationID
        return Response(status: .init(code: Int(response.status.code)), headers: headers, body: .init(byteBuffer: responseBody))
    }
}
