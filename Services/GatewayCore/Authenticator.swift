import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayPlatform
import Synchronization

/// Finds the caller of a request from its `Authorization: Bearer <token>` header, or else from the browser session
/// cookie a login set: the token's SHA-256 is looked up among the live tokens of active users in the read model
/// (a cookie only counts when it holds a session). Answers are kept for `cacheTTL` (1 s), so a revoked
/// token or a disabled user stops working within that on every replica, and at once on the replica that revoked it.
/// Counts each token's use for the usage report (`drainUsage`).
public final class Authenticator: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// No credentials presented.
        case anonymous
        case caller(Caller)
        /// A browser session's cookie: a write must also carry `csrfToken` in `X-CSRF-Token`.
        case sessionCookie(Caller, csrfToken: String)
        /// Credentials presented and not accepted; the reason is for the log, never for the caller.
        case refused(String)
    }

    /// Every token Slipway issues starts with this, so a leaked one is recognisable (secret scanners).
    public static let tokenPrefix = "slw_"
    /// The cookie a login sets.
    public static let sessionCookie = "slipway_session"

    /// A session's CSRF token: derived from the session's secret, which a page of another site cannot read, so it
    /// needs no storage and cannot be guessed without the cookie.
    public static func csrfToken(forSession secret: String) -> String { String(SecretMaterial.sha256("csrf:" + secret).prefix(32)) }

    let postgres: PostgresClient
    let logger: Logger
    let cacheTTL: Duration
    private let cache = Mutex<[String: CachedLookup]>([:])
    private let usage = Mutex<[String: TokenUsage]>([:])

    struct CachedLookup {
        var found: Found?
        var fetchedAt: ContinuousClock.Instant
    }

    public struct TokenUsage: Sendable, Equatable {
        public var lastUsedAt: Date
        public var requestCount: Int64
    }

    public init(postgres: PostgresClient, logger: Logger, cacheTTL: Duration = .seconds(1)) {
        self.postgres = postgres
        self.logger = logger
        self.cacheTTL = cacheTTL
    }

    public func authenticate(_ request: Request) async throws -> Outcome {
        guard let header = request.headers[.authorization] else {
            guard let secret = request.cookies[Self.sessionCookie]?.value, !secret.isEmpty else { return .anonymous }
            guard let found = try await lookUp(SecretMaterial.sha256(secret)), found.kind == ApiTokenDecider.sessionKind else {
                return .refused("unknown, ended or expired session")
            }
            count(found.caller)
            return .sessionCookie(found.caller, csrfToken: Self.csrfToken(forSession: secret))
        }
        guard header.count > 7, header.prefix(7).lowercased() == "bearer " else { return .refused("Authorization is not a bearer token") }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        guard token.hasPrefix(Self.tokenPrefix) else { return .refused("not a Slipway token") }
        guard let caller = try await lookUp(SecretMaterial.sha256(token))?.caller else { return .refused("unknown, revoked or expired token") }
        count(caller)
        return .caller(caller)
    }

    private func count(_ caller: Caller) {
        usage.withLock { usage in
            usage[caller.tokenID, default: TokenUsage(lastUsedAt: Date(), requestCount: 0)].requestCount += 1
            usage[caller.tokenID]!.lastUsedAt = Date()
        }
    }

    struct Found {
        var caller: Caller
        var kind: String
    }

    func lookUp(_ sha256: String) async throws -> Found? {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[sha256] }), now - cached.fetchedAt < cacheTTL { return cached.found }
        let rows = try await postgres.query(
            """
            SELECT t.token_id, t.username, u.role, t.kind FROM api_tokens t JOIN users u ON u.username = t.username
            WHERE t.token_sha256 = \(sha256) AND t.revoked_at IS NULL AND u.disabled_at IS NULL
              AND (t.expires_at IS NULL OR t.expires_at > now())
            """, logger: logger)
        var found: Found?
        for try await (tokenID, username, role, kind) in rows.decode((String, String, String, String).self) {
            found = Found(caller: Caller(username: username, role: Role(name: role) ?? .unspecified, tokenID: tokenID), kind: kind)
        }
        cache.withLock { cache in
            if cache.count >= 10_000 { cache.removeAll() }  // bounded: unknown tokens are cached too
            cache[sha256] = CachedLookup(found: found, fetchedAt: now)
        }
        return found
    }

    /// Forgets every cached answer: after this replica revoked a token or changed a user.
    public func invalidate() {
        cache.withLock { $0.removeAll() }
    }

    /// The use counted since the last call, by token id.
    public func drainUsage() -> [String: TokenUsage] {
        usage.withLock { usage in
            defer { usage.removeAll() }
            return usage
        }
    }
}
