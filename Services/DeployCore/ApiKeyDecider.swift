import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// API keys per registered model: the plain key is shown once, at creation; only its SHA-256 and its
/// first 8 characters (to tell keys apart in a list) are stored. serving-router checks requests against
/// the hashes of the active keys. The aggregate id is the key's id.
public enum ApiKeyDecider: Decider {
    public enum Command: Sendable, Equatable {
        case create(NewApiKey)
        case revoke(reason: String, actor: String)
        /// serving-router's usage report; ignored for a revoked key.
        case recordUsage(ApiKeyUsage)
    }

    /// A key to create. The key material is made by the caller (`SecretMaterial`), as is the time the
    /// expiry is judged against.
    public struct NewApiKey: Sendable, Equatable {
        public var id: String
        public var model: String
        /// As asked; surrounding spaces are trimmed.
        public var name: String
        public var keyPrefix: String
        public var keySha256: String
        public var expiresAt: Date?
        /// A client's, or testing-svc's (whose requests serving figures leave out).
        public var purpose: ApiKeyPurpose
        public var createdBy: String
        public var now: Date

        public init(
            id: String, model: String, name: String, keyPrefix: String, keySha256: String, expiresAt: Date? = nil,
            purpose: ApiKeyPurpose = .client, createdBy: String, now: Date
        ) {
            self.purpose = purpose
            self.id = id
            self.model = model
            self.name = name
            self.keyPrefix = keyPrefix
            self.keySha256 = keySha256
            self.expiresAt = expiresAt
            self.createdBy = createdBy
            self.now = now
        }
    }

    /// Requests the router saw with the key on one endpoint since its previous report.
    public struct ApiKeyUsage: Sendable, Equatable {
        public var endpointID: String
        public var lastUsedAt: Date
        public var requestCount: Int64

        public init(endpointID: String, lastUsedAt: Date, requestCount: Int64) {
            self.endpointID = endpointID
            self.lastUsedAt = lastUsedAt
            self.requestCount = requestCount
        }
    }

    /// The key's fold, shared with serving-router.
    public typealias State = ApiKeyState

    public static let aggregateType = ApiKeyState.aggregateType
    public static let initial = State()

    public static func decide(_ command: Command, _ state: State) throws -> [DeployEvent] {
        switch command {
        case .create(let key):
            let name = key.name.trimmingCharacters(in: .whitespaces)
            guard (1...100).contains(name.count) else { throw CommandRejected(.invalid, field: "name", "name must be 1 to 100 characters") }
            if let expiry = key.expiresAt, expiry <= key.now {
                throw CommandRejected(.invalid, field: "expires_at", "expires_at must be in the future")
            }
            guard state.created == nil else { throw CommandRejected(.conflict, "API key \(key.id) already exists") }
            var created = ApiKeyCreated()
            created.apiKeyID = key.id
            created.registeredModelID = key.model
            created.name = name
            created.keyPrefix = key.keyPrefix
            created.keySha256 = key.keySha256
            created.createdBy = key.createdBy
            created.purpose = key.purpose
            if let expiry = key.expiresAt { created.expiresAt = .init(date: expiry) }
            return [.apiKeyCreated(created)]

        case .revoke(let reason, let actor):
            guard let created = state.created else { throw keyNotFound }
            guard !state.revoked else { throw CommandRejected(.conflict, "API key \(created.keyPrefix)… is already revoked") }
            var revoked = ApiKeyRevoked()
            revoked.apiKeyID = created.apiKeyID
            revoked.registeredModelID = created.registeredModelID
            revoked.keyPrefix = created.keyPrefix
            revoked.revokedBy = actor
            revoked.reason = reason
            return [.apiKeyRevoked(revoked)]

        case .recordUsage(let usage):
            guard usage.requestCount >= 0 else { throw CommandRejected(.invalid, field: "request_count", "must not be negative") }
            guard let created = state.created else { throw keyNotFound }
            guard !state.revoked, usage.requestCount > 0 else { return [] }
            var used = ApiKeyUsed()
            used.apiKeyID = created.apiKeyID
            used.registeredModelID = created.registeredModelID
            used.endpointID = usage.endpointID
            used.lastUsedAt = .init(date: usage.lastUsedAt)
            used.requestCount = usage.requestCount
            return [.apiKeyUsed(used)]
        }
    }

    static let keyNotFound = CommandRejected(.notFound, "no such API key")

    public static func evolve(_ state: State, _ event: DeployEvent) -> State {
        var state = state
        state.apply(event)
        return state
    }
}
