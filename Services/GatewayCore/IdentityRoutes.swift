import Foundation
import Hummingbird
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// Users and personal API tokens: `GET /api/me`; `GET/POST /api/users`, `GET/PATCH /api/users/:username`,
/// `POST /api/users/:username/disable` (admins); `GET/POST /api/tokens`, `GET/DELETE /api/tokens/:id` (a user's own,
/// or anyone's for an admin).
struct IdentityRoutes: Sendable {
    let environment: ServiceEnvironment
    let authenticator: Authenticator
    let queries: IdentityQueries

    init(environment: ServiceEnvironment, authenticator: Authenticator) {
        self.environment = environment
        self.authenticator = authenticator
        self.queries = IdentityQueries(postgres: environment.postgres, logger: environment.logger)
    }

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.get("/api/me", RouteDoc("Who the caller is: user, role and the token in use"), use: me)
        routes.get("/api/users", RouteDoc("List users"), use: listUsers)
        routes.post("/api/users", RouteDoc("Create a user with a role", body: CreateUserBody.self, status: .created), use: createUser)
        routes.get("/api/users/:username", RouteDoc("One user"), use: getUser)
        routes.patch(
            "/api/users/:username",
            RouteDoc("Change a user's role", details: "The last active admin cannot be demoted (409).", body: ChangeRoleBody.self),
            use: changeRole)
        routes.post(
            "/api/users/:username/disable",
            RouteDoc(
                "Disable a user; their tokens stop working", details: "The last active admin cannot be disabled (409).", body: ReasonBody.self,
                required: false), use: disableUser)
        routes.get(
            "/api/tokens",
            RouteDoc(
                "List API tokens: the caller's own, or (admins) another user's or everyone's",
                query: [
                    .string("username", "Whose tokens (admins only; default: the caller)"),
                    .boolean("all", "Every user's tokens (admins only)"),
                ]), use: listTokens)
        routes.post(
            "/api/tokens",
            RouteDoc(
                "Issue an API token", details: "The token is in this answer only; Slipway keeps its SHA-256.", body: IssueTokenBody.self,
                status: .created), use: issueToken)
        routes.get("/api/tokens/:id", RouteDoc("One API token (never its secret)"), use: getToken)
        routes.delete("/api/tokens/:id", RouteDoc("Revoke an API token", body: ReasonBody.self, required: false), use: revokeToken)
        return routes
    }

    struct CreateUserBody: Decodable {
        var username: String
        var role: String
        var displayName: String?
    }

    struct ChangeRoleBody: Decodable {
        var role: String
    }

    struct ReasonBody: Decodable {
        var reason: String?
    }

    struct IssueTokenBody: Decodable {
        var name: String
        var expiresAt: Date?
        /// An admin may issue a token for another user; anyone else only for themselves.
        var username: String?
    }

    @Sendable func me(_ request: Request, context: SlipwayRequestContext) async throws -> MeJSON {
        let caller = try context.requireCaller()
        return MeJSON(username: caller.username, role: caller.role.name, tokenID: caller.tokenID)
    }

    @Sendable func listUsers(_ request: Request, context: SlipwayRequestContext) async throws -> UserListJSON {
        UserListJSON(users: try await queries.users())
    }

    @Sendable func createUser(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<UserJSON> {
        let caller = try context.requireCaller()
        let body = try await request.decode(as: CreateUserBody.self, context: context)
        let role = try Self.role(body.role)
        try await environment.execute(
            UserDecider.self, aggregateID: body.username,
            command: .create(username: body.username, role: role, displayName: body.displayName ?? "", actor: caller.username),
            metadata: try request.commandMetadata(actor: caller.username))
        return EditedResponse(status: .created, response: try await user(body.username))
    }

    @Sendable func getUser(_ request: Request, context: SlipwayRequestContext) async throws -> UserJSON {
        try await user(try context.parameters.require("username"))
    }

    @Sendable func changeRole(_ request: Request, context: SlipwayRequestContext) async throws -> UserJSON {
        let caller = try context.requireCaller()
        let username = try context.parameters.require("username")
        _ = try await user(username)
        let body = try await request.decode(as: ChangeRoleBody.self, context: context)
        let command = UserDecider.Command.changeRole(
            try Self.role(body.role), actor: caller.username, otherActiveAdmins: try await queries.otherActiveAdmins(than: username))
        try await environment.execute(
            UserDecider.self, aggregateID: username, command: command, metadata: try request.commandMetadata(actor: caller.username))
        authenticator.invalidate()
        return try await user(username)
    }

    @Sendable func disableUser(_ request: Request, context: SlipwayRequestContext) async throws -> UserJSON {
        let caller = try context.requireCaller()
        let username = try context.parameters.require("username")
        _ = try await user(username)
        let body = try await request.decodeIfPresent(as: ReasonBody.self, context: context)
        let command = UserDecider.Command.disable(
            reason: body?.reason ?? "", actor: caller.username, otherActiveAdmins: try await queries.otherActiveAdmins(than: username))
        try await environment.execute(
            UserDecider.self, aggregateID: username, command: command, metadata: try request.commandMetadata(actor: caller.username))
        authenticator.invalidate()
        return try await user(username)
    }

    /// The caller's tokens; an admin may ask for another user's (`?username=`) or everyone's (`?all=true`).
    @Sendable func listTokens(_ request: Request, context: SlipwayRequestContext) async throws -> TokenListJSON {
        let caller = try context.requireCaller()
        let asked = request.uri.queryParameters.nonEmpty("username")
        let all = try request.uri.queryParameters.boolean("all") ?? false
        if all || (asked != nil && asked != caller.username) { try Self.requireAdmin(caller, to: "see another user's tokens") }
        return TokenListJSON(tokens: try await queries.tokens(username: all ? nil : asked ?? caller.username))
    }

    /// The token is in this answer and nowhere else.
    @Sendable func issueToken(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<TokenIssuedJSON> {
        let caller = try context.requireCaller()
        let body = try await request.decode(as: IssueTokenBody.self, context: context)
        let owner = body.username ?? caller.username
        if owner != caller.username { try Self.requireAdmin(caller, to: "issue a token for another user") }
        let ownerActive = try await queries.user(owner).map { !$0.disabled } ?? false
        let issued = try await TokenIssuer(environment: environment).issue(
            for: owner, ownerActive: ownerActive, name: body.name, expiresAt: body.expiresAt, issuedBy: caller.username,
            metadata: try request.commandMetadata(actor: caller.username))
        guard let info = try await queries.token(issued.id) else { throw APIError.notFound("no token '\(issued.id)'") }
        return EditedResponse(
            status: .created, response: TokenIssuedJSON(token: issued.token, tokenInfo: info, message: "Store this token now: it is not shown again.")
        )
    }

    @Sendable func getToken(_ request: Request, context: SlipwayRequestContext) async throws -> TokenJSON {
        try await ownToken(try context.parameters.require("id"), caller: try context.requireCaller())
    }

    @Sendable func revokeToken(_ request: Request, context: SlipwayRequestContext) async throws -> TokenJSON {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        _ = try await ownToken(id, caller: caller)
        let body = try await request.decodeIfPresent(as: ReasonBody.self, context: context)
        try await environment.execute(
            ApiTokenDecider.self, aggregateID: id, command: .revoke(reason: body?.reason ?? "", actor: caller.username),
            metadata: try request.commandMetadata(actor: caller.username))
        authenticator.invalidate()
        return try await ownToken(id, caller: caller)
    }

    // MARK: Helpers

    func user(_ username: String) async throws -> UserJSON {
        guard let user = try await queries.user(username) else { throw APIError.notFound("no user '\(username)'") }
        return user
    }

    /// A token of the caller's, or any for an admin; another user's is answered as if it did not exist.
    func ownToken(_ id: String, caller: Caller) async throws -> TokenJSON {
        guard let token = try await queries.token(id), token.username == caller.username || caller.role == .admin else {
            throw APIError.notFound("no token '\(id)'")
        }
        return token
    }

    static func role(_ name: String) throws -> Role {
        guard let role = Role(name: name) else { throw APIError.invalid("role must be viewer, editor or admin", field: "role") }
        return role
    }

    static func requireAdmin(_ caller: Caller, to what: String) throws {
        guard caller.role == .admin else {
            throw APIError(.forbidden, code: "forbidden", message: "only an admin may \(what)", details: ["role_needed": "admin"])
        }
    }
}

extension SlipwayRequestContext {
    /// The authenticated caller; routes that act for someone are never reached anonymously, so a missing one is a 401.
    func requireCaller() throws -> Caller {
        guard let caller else { throw AuthMiddleware.unauthorized }
        return caller
    }
}
