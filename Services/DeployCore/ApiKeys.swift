import Crypto
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// API keys per registered model: the plain key is shown once, at creation; only its SHA-256 and its
/// first 8 characters (to tell keys apart in a list) are stored. serving-router checks requests against
/// the hashes of the active keys.
public enum ApiKeyDecider: Decider {
    public enum Command: Sendable {
        case create(ApiKeyCreated)
        case revoke(reason: String, by: String)
        /// serving-router's usage report; ignored for a revoked key.
        case recordUsage(ApiKeyUsed)
    }

    /// The key's fold, shared with serving-router.
    public typealias State = ApiKeyState

    public static let aggregateType = "ApiKey"
    public static let initial = State()

    public static func decide(_ command: Command, _ state: State) throws -> [DeployEvent] {
        switch command {
        case .create(let created):
            guard state.created == nil else { throw CommandRejected(.conflict, "API key \(created.apiKeyID) already exists") }
            return [.apiKeyCreated(created)]
        case .revoke(let reason, let by):
            guard let created = state.created else { throw CommandRejected(.notFound, "no such API key") }
            guard !state.revoked else { throw CommandRejected(.conflict, "API key \(created.keyPrefix)… is already revoked") }
            var revoked = ApiKeyRevoked()
            revoked.apiKeyID = created.apiKeyID
            revoked.registeredModelID = created.registeredModelID
            revoked.keyPrefix = created.keyPrefix
            revoked.revokedBy = by
            revoked.reason = reason
            return [.apiKeyRevoked(revoked)]
        case .recordUsage(var used):
            guard let created = state.created else { throw CommandRejected(.notFound, "no such API key") }
            guard !state.revoked, used.requestCount > 0 else { return [] }
            used.registeredModelID = created.registeredModelID
            return [.apiKeyUsed(used)]
        }
    }

    public static func evolve(_ state: State, _ event: DeployEvent) -> State {
        var state = state
        state.apply(event)
        return state
    }
}

public enum ApiKeyMaterial {
    /// 32 random bytes, base64url without padding (43 characters), as `secrets.token_urlsafe(32)` makes.
    public static func newKey() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func sha256(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    public static func prefix(_ key: String) -> String { String(key.prefix(8)) }
}

/// The registered models and versions deploy-svc may attach keys and endpoints to, from registry-svc's
/// events (a deployment needs the version's bundle, its blessing and its metrics), and the auto-deploys
/// training-svc asks for.
public struct KnownModels: Projection {
    public let name = "known_models"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(1, "known models", ["CREATE TABLE known_models (name text PRIMARY KEY, deleted boolean NOT NULL DEFAULT false)"]),
            Migration(2, "known versions", [
                """
                CREATE TABLE known_versions (model_name text NOT NULL, version_number int NOT NULL, version_id text NOT NULL,
                    artifact_uri text NOT NULL, blessed boolean NOT NULL, metrics text NOT NULL, source_run_id text NOT NULL,
                    PRIMARY KEY (model_name, version_number))
                """,
            ]),
            Migration(3, "auto-deploy requests", [
                """
                CREATE TABLE run_deploy_requests (run_id text PRIMARY KEY, model_name text NOT NULL, version_number int NOT NULL,
                    endpoint_name text NOT NULL, preset text NOT NULL, requested_at timestamptz NOT NULL)
                """,
            ]),
        ]
    }

    public func apply(_ events: [Recorded<SlipwayEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            switch recorded.event {
            case .registry(.registeredModelCreated(let e)):
                try await connection.query("INSERT INTO known_models (name) VALUES (\(e.name)) ON CONFLICT (name) DO NOTHING", logger: logger)
            case .registry(.registeredModelDeleted(let e)):
                try await connection.query("UPDATE known_models SET deleted = true WHERE name = \(e.name)", logger: logger)
            case .training(.trainingRunDeployRequested(let e)):
                let preset = e.deploymentConfig.preset == .unspecified ? "production" : ServingPresets.name(of: e.deploymentConfig.preset)
                try await connection.query("""
                    INSERT INTO run_deploy_requests (run_id, model_name, version_number, endpoint_name, preset, requested_at)
                    VALUES (\(e.runID), \(e.registeredModelID), \(Int(e.versionNumber)), \(e.deploymentConfig.endpointName), \(preset),
                            \(recorded.occurredAt))
                    ON CONFLICT (run_id) DO NOTHING
                    """, logger: logger)
            case .registry(.modelVersionRegistered(let e)):
                try await connection.query("""
                    INSERT INTO known_versions (model_name, version_number, version_id, artifact_uri, blessed, metrics, source_run_id)
                    VALUES (\(e.modelName), \(Int(e.versionNumber)), \(e.versionID), \(e.artifactUri), \(e.blessed),
                            \(try DeployJSON.metrics(e.metrics)), \(e.sourceRunID))
                    ON CONFLICT (model_name, version_number) DO NOTHING
                    """, logger: logger)
            case .registry(.registeredModelUpdated), .registry(.modelAliasSet), .registry(.modelAliasDeleted), .registry(.modelVersionStatusChanged):
                break  // names, versions and blessing are all a deployment needs of the registry
            case .training(.datasetRegistered), .training(.featureConfigCreated), .training(.modelConfigCreated),
                 .training(.trainingRunCreated), .training(.trainingRunSubmitted), .training(.trainingRunStarted),
                 .training(.trainingRunConfigEdited), .training(.stageStarted), .training(.stageCompleted), .training(.stageFailed),
                 .training(.stageSkipped), .training(.epochCompleted), .training(.trainingRunCompleted), .training(.trainingRunFailed),
                 .training(.trainingRunCancelled), .training(.trainingRunDeployed), .training(.trainingRunDeployFailed):
                break  // of training, only a run's request to deploy its version
            case .schedule, .deploy, .testing, .metrics, .serving:
                break  // not subscribed
            }
        }
    }
}

/// `GET/POST /api/models/{model}/api-keys`, `GET/DELETE /api/api-keys/{id}`.
struct ApiKeyRoutes: Sendable {
    let environment: ServiceEnvironment

    struct CreateBody: Decodable {
        var name: String
        var expiresAt: Date?
        enum CodingKeys: String, CodingKey { case name, expiresAt = "expires_at" }
    }

    struct RevokeBody: Decodable { var reason: String? }

    struct KeyView: Encodable {
        var id: String
        var modelName: String
        var name: String
        var keyPrefix: String
        var isActive: Bool
        var createdBy: String
        var createdAt: Date
        var expiresAt: Date?
        var revokedAt: Date?
        var lastUsedAt: Date?
    }

    struct Created: Encodable {
        var apiKey: KeyView
        /// The only time the plain key leaves the service.
        var key: String
        var message: String
    }

    func add(to router: RouteCollection<SlipwayRequestContext>) {
        router.get("api/models/:model/api-keys") { _, context in
            let model = try await self.knownModel(try context.parameters.require("model"))
            return try snakeCaseJSONResponse(["api_keys": try await self.keys(where: "model_name = $1", model)])
        }
        router.post("api/models/:model/api-keys") { request, context in
            let model = try await self.knownModel(try context.parameters.require("model"))
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            let body = try await request.decodeJSON(as: CreateBody.self, context: context, decoder: decoder)
            let name = body.name.trimmingCharacters(in: .whitespaces)
            guard (1...100).contains(name.count) else { throw APIError.invalid("name must be 1 to 100 characters", field: "name") }
            if let expiry = body.expiresAt, expiry <= Date() { throw APIError.invalid("expires_at must be in the future", field: "expires_at") }
            let key = ApiKeyMaterial.newKey()
            var created = ApiKeyCreated()
            created.apiKeyID = UUID.v7().uuidString.lowercased()
            created.registeredModelID = model
            created.name = name
            created.keyPrefix = ApiKeyMaterial.prefix(key)
            created.keySha256 = ApiKeyMaterial.sha256(key)
            created.createdBy = "api"
            if let expiry = body.expiresAt { created.expiresAt = .init(date: expiry) }
            try await self.environment.execute(ApiKeyDecider.self, aggregateID: created.apiKeyID, command: .create(created),
                                               metadata: try request.commandMetadata())
            let view = try await self.keys(where: "id = $1", created.apiKeyID)[0]
            return try snakeCaseJSONResponse(Created(apiKey: view, key: key, message: "Store this key now: it is not shown again."), status: .created)
        }
        router.get("api/api-keys/:id") { _, context in
            try snakeCaseJSONResponse(try await self.key(try context.parameters.require("id")))
        }
        router.delete("api/api-keys/:id") { request, context in
            let id = try context.parameters.require("id")
            _ = try await self.key(id)
            let body = (try? await request.decodeJSON(as: RevokeBody.self, context: context)) ?? RevokeBody()
            try await self.environment.execute(ApiKeyDecider.self, aggregateID: id, command: .revoke(reason: body.reason ?? "", by: "api"),
                                               metadata: try request.commandMetadata())
            return try snakeCaseJSONResponse(try await self.key(id))
        }
    }

    func knownModel(_ name: String) async throws -> String { try await DeployQueries(environment: environment).knownModel(name) }

    func key(_ id: String) async throws -> KeyView {
        guard let key = try await keys(where: "id = $1", id).first else { throw APIError.notFound("no API key '\(id)'") }
        return key
    }

    func keys(where condition: String, _ value: String) async throws -> [KeyView] {
        var binds = PostgresBindings()
        binds.append(value)
        let rows = try await environment.postgres.query(PostgresQuery(unsafeSQL: """
            SELECT id, model_name, name, key_prefix, is_active, created_by, created_at, expires_at, revoked_at, last_used_at
            FROM api_keys WHERE \(condition) ORDER BY created_at DESC, id
            """, binds: binds), logger: environment.logger)
        var result: [KeyView] = []
        for try await (id, model, name, prefix, active, by, createdAt, expiresAt, revokedAt, lastUsedAt)
            in rows.decode((String, String, String, String, Bool, String, Date, Date?, Date?, Date?).self) {
            result.append(KeyView(id: id, modelName: model, name: name, keyPrefix: prefix, isActive: active, createdBy: by,
                                  createdAt: createdAt, expiresAt: expiresAt, revokedAt: revokedAt, lastUsedAt: lastUsedAt))
        }
        return result
    }
}
