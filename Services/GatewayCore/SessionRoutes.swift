import Foundation
import HTTPTypes
import Hummingbird
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// Browser logins. A user with a password logs in with it (`POST /api/session`) and gets a session: a token of kind
/// `session` that lives 12 hours, sent back as an HttpOnly, Secure, SameSite=Strict cookie the page's script cannot
/// read, and the session's CSRF token, which every write by cookie must repeat in `X-CSRF-Token` (`AuthMiddleware`).
/// A session is an event like any token (who logged in, when, and when it ended) and stops like one: logout,
/// expiry, revocation, or its user disabled.
struct SessionRoutes: Sendable {
    let environment: ServiceEnvironment
    let authenticator: Authenticator
    let throttle: LoginThrottle
    var queries: IdentityQueries { IdentityQueries(postgres: environment.postgres, logger: environment.logger) }

    static let lifetime: TimeInterval = 12 * 3600
    static let wrongLogin = APIError(.unauthorized, code: "unauthorized", message: "username or password is wrong")

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.post(
            "/api/session",
            RouteDoc(
                "Log in from a browser with a username and password",
                details: """
                    Sets the session cookie (HttpOnly, Secure, SameSite=Strict; 12 hours) and answers the session's CSRF token, which \
                    every write made with the cookie must send as `X-CSRF-Token`. A wrong or unknown username, a wrong password, \
                    a user without a password and a disabled user all get the same 401. After 10 failed logins for a username \
                    within 15 minutes, its next attempts get 429 until the oldest failure is 15 minutes old.
                    """, body: LoginBody.self, status: .created), use: login)
        routes.get("/api/session", RouteDoc("The caller's browser session and its CSRF token"), use: current)
        routes.delete("/api/session", RouteDoc("Log out: end the session and clear its cookie"), use: logout)
        routes.put(
            "/api/me/password",
            RouteDoc(
                "Set or change the caller's own password for browser logins",
                details: "Changing a password needs the current one; setting the first needs only the caller's token.",
                body: OwnPasswordBody.self, status: .noContent), use: setOwnPassword)
        routes.put(
            "/api/users/:username/password",
            RouteDoc("Set a user's password for browser logins (admins)", body: PasswordBody.self, status: .noContent),
            use: setPassword)
        return routes
    }

    struct LoginBody: Decodable {
        var username: String
        var password: String
    }

    struct PasswordBody: Decodable {
        var password: String
    }

    struct OwnPasswordBody: Decodable {
        var password: String
        var currentPassword: String?
    }

    struct SessionJSON: ResponseEncodable, Decodable, Sendable {
        var username: String
        var role: String
        var csrfToken: String
        var expiresAt: Date?
    }

    @Sendable func login(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<SessionJSON> {
        let body = try await request.decode(as: LoginBody.self, context: context)
        if let wait = throttle.wait(for: body.username) {
            let seconds = Int(wait.rounded(.up))
            context.logger.notice(
                "login refused",
                metadata: [LogKey.httpPath: "\(request.uri.path)", LogKey.reason: "too many failed logins for '\(body.username.prefix(64))'"])
            throw APIError(
                .tooManyRequests, code: "too_many_attempts", message: "too many failed logins for this user: try again in \(seconds) s",
                details: ["retry_after_seconds": "\(seconds)"])
        }
        let found = try await queries.login(body.username)
        // Checked against a throwaway verifier when there is none, so a missing user takes as long as a wrong password.
        guard PasswordHasher.verify(body.password, against: found?.verifier), let found else {
            throttle.failed(body.username)
            context.logger.notice(
                "login refused",
                metadata: [LogKey.httpPath: "\(request.uri.path)", LogKey.reason: "wrong username or password for '\(body.username.prefix(64))'"])
            throw Self.wrongLogin
        }
        throttle.succeeded(body.username)
        let expiresAt = Date().addingTimeInterval(Self.lifetime)
        let issued = try await TokenIssuer(environment: environment).issue(
            for: body.username, ownerActive: true, name: "browser session", expiresAt: expiresAt, issuedBy: body.username,
            metadata: try request.commandMetadata(actor: body.username), kind: ApiTokenDecider.sessionKind)
        var headers = HTTPFields()
        headers[.setCookie] = Self.cookie(issued.token, maxAge: Int(Self.lifetime))
        return EditedResponse(
            status: .created, headers: headers,
            response: SessionJSON(
                username: body.username, role: found.role, csrfToken: Authenticator.csrfToken(forSession: issued.token), expiresAt: expiresAt))
    }

    @Sendable func current(_ request: Request, context: SlipwayRequestContext) async throws -> SessionJSON {
        let caller = try context.requireCaller()
        guard let secret = request.cookies[Authenticator.sessionCookie]?.value, !secret.isEmpty else {
            throw APIError.notFound("this request carries no browser session (it was made with an API token)")
        }
        let token = try await queries.token(caller.tokenID)
        return SessionJSON(
            username: caller.username, role: caller.role.name, csrfToken: Authenticator.csrfToken(forSession: secret), expiresAt: token?.expiresAt)
    }

    @Sendable func logout(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<SessionEnded> {
        let caller = try context.requireCaller()
        guard request.cookies[Authenticator.sessionCookie] != nil, try await queries.token(caller.tokenID)?.kind == ApiTokenDecider.sessionKind
        else {
            throw APIError.notFound("this request carries no browser session (it was made with an API token)")
        }
        try await environment.execute(
            ApiTokenDecider.self, aggregateID: caller.tokenID, command: .revoke(reason: "logged out", actor: caller.username),
            metadata: try request.commandMetadata(actor: caller.username))
        authenticator.invalidate()
        var headers = HTTPFields()
        headers[.setCookie] = Self.cookie("", maxAge: 0)
        return EditedResponse(status: .ok, headers: headers, response: SessionEnded(ended: true))
    }

    struct SessionEnded: ResponseEncodable, Decodable, Sendable {
        var ended: Bool
    }

    @Sendable func setOwnPassword(_ request: Request, context: SlipwayRequestContext) async throws -> HTTPResponse.Status {
        let caller = try context.requireCaller()
        let body = try await request.decode(as: OwnPasswordBody.self, context: context)
        guard let found = try await queries.login(caller.username) else { throw AuthMiddleware.unauthorized }
        if found.verifier != nil {
            guard let current = body.currentPassword, PasswordHasher.verify(current, against: found.verifier) else {
                throw APIError(
                    .forbidden, code: "forbidden", message: "current_password is wrong or missing", details: ["field": "current_password"])
            }
        }
        try await set(body.password, for: caller.username, by: caller.username, request)
        return .noContent
    }

    @Sendable func setPassword(_ request: Request, context: SlipwayRequestContext) async throws -> HTTPResponse.Status {
        let caller = try context.requireCaller()
        let username = try context.parameters.require("username")
        let body = try await request.decode(as: PasswordBody.self, context: context)
        try await set(body.password, for: username, by: caller.username, request)
        return .noContent
    }

    /// Hashed only when the length is within the rule, so an oversized password costs no hashing; the decider
    /// still decides.
    func set(_ password: String, for username: String, by actor: String, _ request: Request) async throws {
        let length = password.count
        let hash = UserDecider.passwordLengths.contains(length) ? try PasswordHasher.hash(password) : ""
        try await environment.execute(
            UserDecider.self, aggregateID: username, command: .setPassword(hash: hash, length: length, actor: actor),
            metadata: try request.commandMetadata(actor: actor))
    }

    /// The session cookie: for the whole site, unreadable by scripts, sent only over HTTPS (browsers count
    /// http://localhost as secure) and never with another site's requests.
    static func cookie(_ value: String, maxAge: Int) -> String {
        "\(Authenticator.sessionCookie)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; Secure; SameSite=Strict"
    }
}
