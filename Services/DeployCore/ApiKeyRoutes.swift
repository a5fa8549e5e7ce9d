import Foundation
import Hummingbird
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// `GET/POST /api/models/{model}/api-keys`, `GET/DELETE /api/api-keys/{id}`, and serving-router's usage
/// reports (`POST /internal/api-keys/usage`).
struct ApiKeyRoutes: Sendable {
    let environment: ServiceEnvironment
    let queries: DeployQueries

    init(environment: ServiceEnvironment) {
        self.environment = environment
        self.queries = DeployQueries(environment: environment)
    }

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.get("/api/models/:model/api-keys", RouteDoc("A model's API keys, newest first (never the keys themselves)"), use: list)
        routes.post(
            "/api/models/:model/api-keys",
            RouteDoc(
                "Create an API key for a model",
                details: """
                    The answer is the only place the plain key appears. `purpose` is `client` (default) or `testing` (its \
                    requests are logged as test traffic and left out of serving figures); `expires_at`, when given, is in the \
                    future.
                    """,
                body: CreateBody.self, status: .created),
            use: create)
        routes.get("/api/api-keys/:id", RouteDoc("An API key (never the key itself)"), use: get)
        routes.delete(
            "/api/api-keys/:id",
            RouteDoc(
                "Revoke an API key", details: "Answers the revoked key. 409 when it is already revoked.", body: RevokeBody.self, required: false),
            use: revoke)
        routes.post("/internal/api-keys/usage", use: recordUsage)
        return routes
    }

    struct CreateBody: Decodable {
        var name: String
        var expiresAt: Date?
        /// `client` (default) or `testing`: the requests of a testing key are logged as test traffic and left out of
        /// serving figures.
        var purpose: String?
    }

    struct RevokeBody: Decodable {
        var reason: String?
    }

    struct UsageBody: Decodable {
        struct Entry: Decodable {
            var apiKeyId: String
            var endpointId: String?
            var lastUsedAt: Date
            var requestCount: Int64
        }
        var usage: [Entry]
    }

    @Sendable func list(_ request: Request, context: SlipwayRequestContext) async throws -> ApiKeyListJSON {
        let model = try await queries.knownModel(try context.parameters.require("model"))
        return ApiKeyListJSON(apiKeys: try await queries.apiKeys(model: model))
    }

    /// The plain key is in this answer and nowhere else.
    @Sendable func create(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<ApiKeyCreatedJSON> {
        let model = try await queries.knownModel(try context.parameters.require("model"))
        let body = try await request.decode(as: CreateBody.self, context: context)
        guard let purpose = ApiKeyPurposes.purpose(named: body.purpose ?? "client") else {
            throw APIError.invalid("purpose is client or testing", field: "purpose")
        }
        let key = SecretMaterial.newSecret()
        let new = ApiKeyDecider.NewApiKey(
            id: UUID.v7().uuidString.lowercased(), model: model, name: body.name, keyPrefix: SecretMaterial.prefix(key),
            keySha256: SecretMaterial.sha256(key), expiresAt: body.expiresAt, purpose: purpose, createdBy: request.actor, now: Date())
        try await environment.execute(ApiKeyDecider.self, aggregateID: new.id, command: .create(new), metadata: try request.commandMetadata())
        let view = ApiKeyCreatedJSON(apiKey: try await queries.apiKey(new.id), key: key, message: "Store this key now: it is not shown again.")
        return EditedResponse(status: .created, response: view)
    }

    @Sendable func get(_ request: Request, context: SlipwayRequestContext) async throws -> ApiKeyJSON {
        try await queries.apiKey(try context.parameters.require("id"))
    }

    @Sendable func revoke(_ request: Request, context: SlipwayRequestContext) async throws -> ApiKeyJSON {
        let id = try context.parameters.require("id")
        _ = try await queries.apiKey(id)
        let body = try await request.decodeIfPresent(as: RevokeBody.self, context: context)
        try await environment.execute(
            ApiKeyDecider.self, aggregateID: id, command: .revoke(reason: body?.reason ?? "", actor: request.actor),
            metadata: try request.commandMetadata())
        return try await queries.apiKey(id)
    }

    /// serving-router's periodic report of which keys were used: one `ApiKeyUsed` per key and endpoint.
    @Sendable func recordUsage(_ request: Request, context: SlipwayRequestContext) async throws -> UsageRecordedJSON {
        let body = try await request.decode(as: UsageBody.self, context: context)
        var recorded = 0
        for (index, entry) in body.usage.enumerated() {
            let usage = ApiKeyDecider.ApiKeyUsage(endpointID: entry.endpointId ?? "", lastUsedAt: entry.lastUsedAt, requestCount: entry.requestCount)
            do {
                try await environment.execute(
                    ApiKeyDecider.self, aggregateID: entry.apiKeyId, command: .recordUsage(usage),
                    metadata: try request.commandMetadata())
                recorded += 1
            } catch let rejected as CommandRejected where rejected.kind == .notFound {
                continue  // a key the router knew and this service does not: nothing to record
            } catch let rejected as CommandRejected where rejected.kind == .invalid {
                throw APIError.invalid(rejected.message, field: "usage[\(index)].\(rejected.field ?? "")")
            }
        }
        return UsageRecordedJSON(recorded: recorded)
    }
}
