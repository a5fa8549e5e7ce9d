import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ModelServerCore
import NIOCore
import SlipwayEventSourcing
import SlipwayPlatform
import Synchronization

/// The API reference: `GET /api/openapi.json`, every public route of every service as one OpenAPI 3.1 document;
/// `GET /api/prediction/openapi.json`, the prediction API every endpoint serves (`PredictionAPIReference`); and
/// `GET /docs`, a page that reads and renders either (served from here; nothing is fetched from the internet).
///
/// Each service describes its own routes at `/internal/openapi.json`, from the same declarations it serves them from;
/// the gateway merges them with its own routes and writes in who may call each (its `AccessPolicy`). A service that
/// does not answer is named in `info.x-slipway-unavailable` and its routes are missing until it is back; a complete
/// merge is kept for 30 s.
public final class APIReference: Sendable {
    let peers: [String: PeerAddresses]
    let routes: RouteTable
    let policy: AccessPolicy
    let httpClient: HTTPClient
    /// The gateway's own public routes (users, tokens, events, this reference).
    let own: [RouteInventory.Route]
    private let cache = Mutex<(document: [UInt8], at: ContinuousClock.Instant)?>(nil)

    static let cacheFor = Duration.seconds(30)

    /// `own`: the gateway's other routes; this reference adds its own.
    public init(peers: [String: PeerAddresses], routes: RouteTable, policy: AccessPolicy, httpClient: HTTPClient, own: [RouteInventory.Route]) {
        self.peers = peers
        self.routes = routes
        self.policy = policy
        self.httpClient = httpClient
        self.own =
            own + [
                RouteInventory.Route(method: .get, path: "/api/openapi.json", doc: Self.documentDoc, answer: Self.documentDoc.answer),
                RouteInventory.Route(
                    method: .get, path: "/api/prediction/openapi.json", doc: Self.predictionDoc, answer: Self.predictionDoc.answer),
            ]
    }

    var collection: RouteCollection<SlipwayRequestContext> {
        let collection = RouteCollection(context: SlipwayRequestContext.self)
        collection.get("/api/openapi.json", Self.documentDoc, use: document)
        collection.get("/api/prediction/openapi.json", Self.predictionDoc) { _, _ in RawJSON(Self.predictionDocument) }
        collection.get("/docs") { _, _ in DocsPage.html }
        return collection
    }

    static let documentDoc = RouteDoc(
        "This reference: every public route as OpenAPI 3.1",
        details: "Open to every caller. `x-slipway-role` on an operation is the least role that may call it.",
        answer: AnswerDoc(
            schema: [
                "type": "object", "required": ["openapi", "paths"],
                "properties": ["openapi": ["type": "string"], "paths": ["type": "object"], "info": ["type": "object"]],
            ]))

    static let predictionDoc = RouteDoc(
        "The prediction API (each endpoint's) as OpenAPI 3.1",
        details: "Open to every caller. Its routes are served at each endpoint's URL by serving-router, with an API key of the endpoint's model.",
        answer: documentDoc.answer)

    /// The same for every caller and every request: written once.
    static let predictionDocument = [UInt8]((try? PredictionAPIReference.document().jsonData()) ?? Data())

    @Sendable func document(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        if let cached = cache.withLock({ $0 }), ContinuousClock.now - cached.at < Self.cacheFor { return RawJSON(cached.document) }
        let (documents, unavailable) = await fetchServices(logger: context.logger)
        let bytes = [UInt8](try reference(services: documents, unavailable: unavailable).jsonData())
        if unavailable.isEmpty { cache.withLock { $0 = (bytes, .now) } }
        return RawJSON(bytes)
    }

    /// The services' documents, the gateway's routes and the access rules as one document.
    public func reference(services documents: [OpenAPIValue], unavailable: [String]) -> OpenAPIValue {
        annotate(
            OpenAPIDocument.merge(
                [OpenAPIDocument.service("gateway", routes: own)] + documents, title: "Slipway API",
                description: "Training, registry, schedules, deployment, endpoint tests and monitoring of recommendation models."),
            unavailable: unavailable)
    }

    /// Every service's document, fetched at once; the names of those that did not answer.
    func fetchServices(logger: Logger) async -> (documents: [OpenAPIValue], unavailable: [String]) {
        let services = Set(routes.rules.map(\.service)).sorted()
        return await withTaskGroup(of: (String, OpenAPIValue?).self) { group in
            for service in services {
                group.addTask {
                    guard let addresses = self.peers[service] else { return (service, nil) }
                    do {
                        let response = try await addresses.withFailover { base in
                            try await self.httpClient.execute(HTTPClientRequest(url: base + "/internal/openapi.json"), timeout: .seconds(3))
                        }
                        guard response.status == .ok else { return (service, nil) }
                        let body = try await response.body.collect(upTo: 16 << 20)
                        return (service, try JSONDecoder().decode(OpenAPIValue.self, from: body))
                    } catch {
                        logger.warning("no API document", metadata: [LogKey.service: "\(service)", LogKey.error: "\(error)"])
                        return (service, nil)
                    }
                }
            }
            var documents: [(String, OpenAPIValue)] = []
            var unavailable: [String] = []
            for await (service, document) in group {
                if let document { documents.append((service, document)) } else { unavailable.append(service) }
            }
            return (documents.sorted { $0.0 < $1.0 }.map(\.1), unavailable.sorted())
        }
    }

    /// Writes the access rules into the document: the bearer scheme, each operation's least role and its 401/403,
    /// `security: []` on the routes open to everyone, optional credentials on reads when anonymous reads are on.
    func annotate(_ document: OpenAPIValue, unavailable: [String]) -> OpenAPIValue {
        var document = document
        var paths = document["paths"]?.objectValue ?? [:]
        for (path, item) in paths {
            var operations = item.objectValue ?? [:]
            for (method, operation) in operations {
                var operation = operation
                let verb = HTTPRequest.Method(method.uppercased()) ?? .get
                switch policy.requirement(method: verb, path: RouteInventory.Route(method: verb, path: path).concretePath()) {
                case .open:
                    operation["security"] = []
                case .hidden:
                    operations[method] = nil
                    continue
                case .role(let role):
                    operation["x-slipway-role"] = .string(role.name)
                    var responses = operation["responses"]?.objectValue ?? [:]
                    responses["401"] = ["$ref": "#/components/responses/Unauthenticated"]
                    responses["403"] = ["$ref": "#/components/responses/Forbidden"]
                    operation["responses"] = .object(responses)
                    if policy.anonymousReads, AccessPolicy.isRead(verb) {
                        operation["security"] = [[:], ["bearerToken": []]]
                    }
                }
                operations[method] = operation
            }
            paths[path] = operations.isEmpty ? nil : .object(operations)
        }
        document["paths"] = .object(paths)
        document["security"] = [["bearerToken": []]]
        var components = document["components"]?.objectValue ?? [:]
        components["securitySchemes"] = [
            "bearerToken": [
                "type": "http", "scheme": "bearer",
                "description": "A personal API token (`slipway tokens create`); `slipway up` writes the first admin's to .slipway/admin-token.",
            ]
        ]
        var responses = components["responses"]?.objectValue ?? [:]
        responses["Unauthenticated"] = [
            "description": "No token, or an unknown, revoked or expired one",
            "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]],
        ]
        responses["Forbidden"] = [
            "description": "The caller's role is below the route's (`details.role_needed`)",
            "content": ["application/json": ["schema": ["$ref": "#/components/schemas/Error"]]],
        ]
        components["responses"] = .object(responses)
        document["components"] = .object(components)
        if !unavailable.isEmpty { document["info"]?["x-slipway-unavailable"] = .array(unavailable.map(OpenAPIValue.string)) }
        return document
    }
}
