import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// A personal API token: it carries its owner's rights until it is revoked, expires, or its owner is disabled.
/// The token is shown once, when issued; the aggregate keeps only its SHA-256 and prefix. The aggregate id is the
/// token's id.
public enum ApiTokenDecider: Decider {
    public enum Command: Sendable, Equatable {
        case issue(NewToken)
        case revoke(reason: String, actor: String)
        /// The gateway's usage report; nothing for a revoked token or an empty report.
        case recordUsage(lastUsedAt: Date, requestCount: Int64)
    }

    /// A token to issue. The secret is made by the caller (`SecretMaterial`), as is the time the expiry is judged against;
    /// `ownerActive` comes from the read model (the owner exists and is not disabled).
    public struct NewToken: Sendable, Equatable {
        public var id: String
        public var username: String
        public var ownerActive: Bool
        public var name: String
        public var tokenSha256: String
        public var tokenPrefix: String
        public var expiresAt: Date?
        public var issuedBy: String
        public var now: Date
        /// `""` a personal API token, `"session"` a browser session.
        public var kind: String

        public init(
            id: String, username: String, ownerActive: Bool, name: String, tokenSha256: String, tokenPrefix: String, expiresAt: Date?,
            issuedBy: String, now: Date, kind: String = ""
        ) {
            self.kind = kind
            self.id = id
            self.username = username
            self.ownerActive = ownerActive
            self.name = name
            self.tokenSha256 = tokenSha256
            self.tokenPrefix = tokenPrefix
            self.expiresAt = expiresAt
            self.issuedBy = issuedBy
            self.now = now
        }
    }

    public struct State: Sendable, Equatable {
        public var issued: ApiTokenIssued?
        public var revoked = false
    }

    public static let aggregateType = "ApiToken"
    public static let sessionKind = "session"
    public static let initial = State()

    public static func decide(_ command: Command, _ state: State) throws -> [GatewayEvent] {
        switch command {
        case .issue(let token):
            let name = token.name.trimmingCharacters(in: .whitespaces)
            guard (1...100).contains(name.count) else { throw CommandRejected(.invalid, field: "name", "name must be 1 to 100 characters") }
            if let expiry = token.expiresAt, expiry <= token.now {
                throw CommandRejected(.invalid, field: "expires_at", "expires_at must be in the future")
            }
            guard ["", Self.sessionKind].contains(token.kind) else { throw CommandRejected(.invalid, field: "kind", "unknown token kind") }
            guard token.ownerActive else { throw CommandRejected(.invalid, field: "username", "\(token.username) is not an active user") }
            guard state.issued == nil else { throw CommandRejected(.conflict, "token \(token.id) already exists") }
            var issued = ApiTokenIssued()
            issued.tokenID = token.id
            issued.username = token.username
            issued.name = name
            issued.tokenSha256 = token.tokenSha256
            issued.tokenPrefix = token.tokenPrefix
            if let expiry = token.expiresAt { issued.expiresAt = .init(date: expiry) }
            issued.issuedBy = token.issuedBy
            issued.kind = token.kind
            return [.apiTokenIssued(issued)]

        case .revoke(let reason, let actor):
            guard let issued = state.issued else { throw notFound }
            guard !state.revoked else { return [] }
            var revoked = ApiTokenRevoked()
            revoked.tokenID = issued.tokenID
            revoked.username = issued.username
            revoked.reason = reason
            revoked.revokedBy = actor
            return [.apiTokenRevoked(revoked)]

        case .recordUsage(let lastUsedAt, let requestCount):
            guard requestCount >= 0 else { throw CommandRejected(.invalid, field: "request_count", "must not be negative") }
            guard let issued = state.issued else { throw notFound }
            guard !state.revoked, requestCount > 0 else { return [] }
            var used = ApiTokenUsed()
            used.tokenID = issued.tokenID
            used.username = issued.username
            used.lastUsedAt = .init(date: lastUsedAt)
            used.requestCount = requestCount
            return [.apiTokenUsed(used)]
        }
    }

    static let notFound = CommandRejected(.notFound, "no such token")

    public static func evolve(_ state: State, _ event: GatewayEvent) -> State {
        var state = state
        switch event {
        case .apiTokenIssued(let issued): state.issued = issued
        case .apiTokenRevoked: state.revoked = true
        case .apiTokenUsed: break
        case .userCreated, .userRoleChanged, .userDisabled, .userPasswordSet: break  // the user's own aggregate
        }
        return state
    }
}
