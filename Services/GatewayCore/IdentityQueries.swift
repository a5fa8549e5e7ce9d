import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SlipwayPlatform

/// A user as the API shows them.
public struct UserJSON: ResponseEncodable, Sendable {
    public var username: String
    public var role: String
    public var displayName: String
    public var createdBy: String
    public var createdAt: Date
    public var disabled: Bool
    @Nullable public var disabledAt: Date?
    /// Whether they can log in from a browser.
    public var hasPassword: Bool
}

/// A token as the API shows it: never the token itself, which only its issuing answer carries.
public struct TokenJSON: ResponseEncodable, Sendable {
    public var id: String
    public var username: String
    public var name: String
    public var tokenPrefix: String
    public var isActive: Bool
    public var issuedBy: String
    public var issuedAt: Date
    @Nullable public var expiresAt: Date?
    @Nullable public var revokedAt: Date?
    @Nullable public var revokedBy: String?
    @Nullable public var lastUsedAt: Date?
    public var requestCount: Int64
    /// `api` (a personal token) or `session` (a browser login).
    public var kind: String
}

public struct UserListJSON: ResponseEncodable, Sendable {
    public var users: [UserJSON]
}

public struct TokenListJSON: ResponseEncodable, Sendable {
    public var tokens: [TokenJSON]
}

/// The issuing answer: the only place the token appears.
public struct TokenIssuedJSON: ResponseEncodable, Sendable {
    public var token: String
    public var tokenInfo: TokenJSON
    public var message: String
}

/// Who the caller is.
public struct MeJSON: ResponseEncodable, Sendable {
    public var username: String
    public var role: String
    public var tokenID: String
}

/// Reads of the gateway's read model.
struct IdentityQueries: Sendable {
    let postgres: PostgresClient
    let logger: Logger

    func user(_ username: String) async throws -> UserJSON? {
        try await users(username: username).first
    }

    func users(username: String? = nil) async throws -> [UserJSON] {
        let rows = try await postgres.query(
            """
            SELECT username, role, display_name, created_by, created_at, disabled_at, password_hash IS NOT NULL FROM users
            WHERE (\(username == nil) OR username = \(username ?? "")) ORDER BY username
            """, logger: logger)
        var result: [UserJSON] = []
        for try await (username, role, displayName, createdBy, createdAt, disabledAt, hasPassword) in rows.decode(
            (String, String, String, String, Date, Date?, Bool).self)
        {
            result.append(
                UserJSON(
                    username: username, role: role, displayName: displayName, createdBy: createdBy, createdAt: createdAt, disabled: disabledAt != nil,
                    disabledAt: disabledAt, hasPassword: hasPassword))
        }
        return result
    }

    /// An active user's password verifier (nil: no password set); nil for an unknown or disabled user.
    func login(_ username: String) async throws -> (verifier: String?, role: String)? {
        let rows = try await postgres.query(
            "SELECT password_hash, role FROM users WHERE username = \(username) AND disabled_at IS NULL", logger: logger)
        for try await (verifier, role) in rows.decode((String?, String).self) { return (verifier, role) }
        return nil
    }

    func userCount() async throws -> Int {
        let rows = try await postgres.query("SELECT count(*) FROM users", logger: logger)
        for try await (count) in rows.decode(Int.self) { return count }
        return 0
    }

    /// Admins other than `username` who are not disabled: the last admin may not be demoted or disabled.
    func otherActiveAdmins(than username: String) async throws -> Int {
        let rows = try await postgres.query(
            "SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND username <> \(username)", logger: logger)
        for try await (count) in rows.decode(Int.self) { return count }
        return 0
    }

    func token(_ id: String) async throws -> TokenJSON? {
        try await tokens(id: id).first
    }

    /// Tokens of one user, or the one with `id`, or all; newest first.
    func tokens(username: String? = nil, id: String? = nil) async throws -> [TokenJSON] {
        let rows = try await postgres.query(
            """
            SELECT token_id, username, name, token_prefix, issued_by, issued_at, expires_at, revoked_at, revoked_by, last_used_at, request_count,
                   kind
            FROM api_tokens WHERE (\(username == nil) OR username = \(username ?? "")) AND (\(id == nil) OR token_id = \(id ?? ""))
            ORDER BY issued_at DESC, token_id
            """, logger: logger)
        var result: [TokenJSON] = []
        let now = Date()
        for try await (id, username, name, prefix, issuedBy, issuedAt, expiresAt, revokedAt, revokedBy, lastUsedAt, requestCount, kind)
            in rows.decode((String, String, String, String, String, Date, Date?, Date?, String?, Date?, Int64, String).self)
        {
            result.append(
                TokenJSON(
                    id: id, username: username, name: name, tokenPrefix: prefix, isActive: revokedAt == nil && (expiresAt.map { $0 > now } ?? true),
                    issuedBy: issuedBy, issuedAt: issuedAt, expiresAt: expiresAt, revokedAt: revokedAt, revokedBy: revokedBy, lastUsedAt: lastUsedAt,
                    requestCount: requestCount, kind: kind.isEmpty ? "api" : kind))
        }
        return result
    }
}
