import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// The public prediction API's decisions, apart from the network: which API a path is, the API key check,
/// the endpoint and the revision of its split (sticky per customer). `PublicServer` runs it on its
/// event loops; every answer is recorded (stats, key usage, request log) through `finish`.
struct PublicAPI: Sendable {
    let store: RoutingTableStore
    let stats: RevisionStats
    let usage: KeyUsage
    let logs: RequestLogBuffer
    /// Wakes revisions scaled to zero; a request for one waits up to `coldStartTimeout` for its first instance.
    let waker: RevisionWaker
    let coldStartTimeout: TimeAmount

    enum Decision {
        /// Answer right away (401, 404, 503, …) with a JSON body.
        case respond(HTTPResponseStatus, String)
        /// Send to `split.routes[index]` (then to `split.fallback(after:)` if that one cannot be reached).
        case forward(RoutingTable.Endpoint, index: Int, pathAndQuery: String)
    }

    static let unauthorizedBody = #"{"error": "unauthorized"}"#
    /// testing-svc's load tests send it; only a testing key's requests are logged as load-test traffic by it, so a
    /// client cannot hide its own requests from the serving figures.
    static let loadTestHeader = "X-Slipway-Load-Test"

    /// Decides what to do with a complete request, filling the log record as far as it gets.
    func decide(
        method: HTTPMethod, uri: String, authorization: String?, loadTest: Bool = false, body: ByteBuffer, record: inout RequestLogRecord
    ) -> Decision {
        let (path, query) = Self.split(uri)
        let target = PublicTarget(method: method, path: path)
        record.endpointID = target.endpoint
        record.endpointName = target.endpoint
        record.api = target.api
        if method == .POST, target.api != .unspecified {
            // Only the customer id is needed here; top_k, instance_count and instances are read off the
            // request path by the log shipper.
            record.customerID = PredictionBody.routingCustomerID(api: target.api, body: body)
            record.requestBody = body
        }

        let table = store.current
        guard table.loaded else {
            record.error = "routing_not_loaded"
            return .respond(.serviceUnavailable, Self.errorBody("routing table not loaded yet; retry shortly"))
        }
        // The log names the endpoint whatever happens next; the caller learns nothing without a valid key.
        let known = table.endpointsByName[target.endpoint]
        if let known {
            record.endpointID = known.endpointID
            record.modelName = known.modelName
        }
        guard let key = Self.apiKey(authorization, table: table, now: record.receivedAt) else {
            record.error = "unauthorized"
            return .respond(.unauthorized, Self.unauthorizedBody)
        }
        guard let endpoint = known else {
            record.error = "endpoint_not_found"
            return .respond(.notFound, Self.errorBody("endpoint \(target.endpoint) not found"))
        }
        guard key.modelName == endpoint.modelName else {
            record.error = "unauthorized"
            return .respond(.unauthorized, Self.unauthorizedBody)
        }
        record.apiKeyID = key.apiKeyID
        record.traffic = key.traffic == .test && loadTest ? .loadTest : key.traffic
        usage.record(apiKeyID: key.apiKeyID, endpointID: endpoint.endpointID, at: record.receivedAt)
        guard target.isKnownRoute else {
            record.error = "route_not_found"
            return .respond(
                .notFound,
                Self.errorBody(
                    "no route \(method.rawValue) /\(target.endpoint)\(target.rest); the API is "
                        + PredictionRoute.allCases.map { "\($0.method) /{endpoint}\($0.template)" }.joined(separator: ", ")
                ))
        }
        guard let index = endpoint.split.index(forCustomer: record.customerID) else {
            record.error = "no_serving_revision"
            return .respond(.serviceUnavailable, Self.errorBody("endpoint \(endpoint.name) has no serving revision"))
        }
        return .forward(endpoint, index: index, pathAndQuery: target.rest + (query.map { "?" + $0 } ?? ""))
    }

    /// Notes the revision a request goes to.
    static func route(_ route: TrafficSplit.Route, into record: inout RequestLogRecord) {
        record.revisionID = route.revisionID
        record.deploymentID = route.deploymentID
        record.modelVersionID = route.modelVersionID
        record.versionNumber = route.versionNumber
    }

    /// Records an answered request: revision stats (when routed) and the request log.
    func finish(_ record: RequestLogRecord, upstreamFailed: Bool) {
        if !record.revisionID.isEmpty {
            stats.record(
                revisionID: record.revisionID, endpointID: record.endpointID, latencyMicros: record.latencyMicros,
                isError: upstreamFailed || record.status >= 500)
        }
        logs.append(record)
    }

    static func split(_ uri: String) -> (path: String, query: String?) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, nil) }
        return (String(uri[..<mark]), String(uri[uri.index(after: mark)...]))
    }

    static func apiKey(_ authorization: String?, table: RoutingTable, now: Date) -> RoutingTable.Key? {
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else { return nil }
        let secret = authorization.dropFirst(7).trimmingCharacters(in: .whitespaces)
        guard !secret.isEmpty, let key = table.keysBySha256[sha256Hex(secret)] else { return nil }
        if let expiry = key.expiresAt, expiry <= now { return nil }
        return key
    }

    static func sha256Hex(_ text: String) -> String {
        SecretMaterial.hex(SHA256.hash(data: Array(text.utf8)))
    }

    static func errorBody(_ message: String) -> String { #"{"error": "# + jsonString(message) + "}" }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
