import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// The gateway's own read model: users and their tokens, updated inline in every command's transaction and
/// derived from the events alone (a replay rebuilds identical rows). The authenticator looks presented tokens
/// up here by their SHA-256.
public struct GatewayReadModel: Projection {
    public let name = "gateway"

    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "users and API tokens",
                [
                    """
                    CREATE TABLE users (
                        username text PRIMARY KEY,
                        role text NOT NULL,
                        display_name text NOT NULL DEFAULT '',
                        created_by text NOT NULL,
                        created_at timestamptz NOT NULL,
                        disabled_at timestamptz,
                        disabled_by text,
                        disabled_reason text)
                    """,
                    """
                    CREATE TABLE api_tokens (
                        token_id text PRIMARY KEY,
                        username text NOT NULL REFERENCES users (username),
                        name text NOT NULL,
                        token_sha256 text NOT NULL UNIQUE,
                        token_prefix text NOT NULL,
                        expires_at timestamptz,
                        issued_by text NOT NULL,
                        issued_at timestamptz NOT NULL,
                        revoked_at timestamptz,
                        revoked_by text,
                        revoke_reason text,
                        last_used_at timestamptz,
                        request_count bigint NOT NULL DEFAULT 0)
                    """,
                    "CREATE INDEX api_tokens_by_user ON api_tokens (username, issued_at)",
                ]),
            Migration(
                2, "browser logins: a user's password verifier, and sessions among the tokens",
                [
                    "ALTER TABLE users ADD COLUMN password_hash text",
                    "ALTER TABLE api_tokens ADD COLUMN kind text NOT NULL DEFAULT ''",
                ]),
        ]
    }

    public func apply(_ events: [Recorded<GatewayEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            let at = recorded.occurredAt
            switch recorded.event {
            case .userCreated(let created):
                try await connection.query(
                    """
                    INSERT INTO users (username, role, display_name, created_by, created_at)
                    VALUES (\(created.username), \(created.role.name), \(created.displayName), \(created.createdBy), \(at))
                    """, logger: logger)
            case .userRoleChanged(let changed):
                try await connection.query(
                    "UPDATE users SET role = \(changed.role.name) WHERE username = \(changed.username)", logger: logger)
            case .userDisabled(let disabled):
                try await connection.query(
                    """
                    UPDATE users SET disabled_at = \(at), disabled_by = \(disabled.disabledBy), disabled_reason = \(disabled.reason)
                    WHERE username = \(disabled.username)
                    """, logger: logger)
            case .userPasswordSet(let set):
                try await connection.query(
                    "UPDATE users SET password_hash = \(set.passwordHash) WHERE username = \(set.username)", logger: logger)
            case .apiTokenIssued(let issued):
                let expiresAt: Date? = issued.hasExpiresAt ? issued.expiresAt.date : nil
                try await connection.query(
                    """
                    INSERT INTO api_tokens (token_id, username, name, token_sha256, token_prefix, expires_at, issued_by, issued_at, kind)
                    VALUES (\(issued.tokenID), \(issued.username), \(issued.name), \(issued.tokenSha256), \(issued.tokenPrefix),
                            \(expiresAt), \(issued.issuedBy), \(at), \(issued.kind))
                    """, logger: logger)
            case .apiTokenRevoked(let revoked):
                try await connection.query(
                    """
                    UPDATE api_tokens SET revoked_at = \(at), revoked_by = \(revoked.revokedBy), revoke_reason = \(revoked.reason)
                    WHERE token_id = \(revoked.tokenID)
                    """, logger: logger)
            case .apiTokenUsed(let used):
                try await connection.query(
                    """
                    UPDATE api_tokens SET last_used_at = GREATEST(last_used_at, \(used.lastUsedAt.date)),
                                          request_count = request_count + \(used.requestCount)
                    WHERE token_id = \(used.tokenID)
                    """, logger: logger)
            }
        }
    }
}
