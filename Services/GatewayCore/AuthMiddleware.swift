import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// Applies the access policy to every request the gateway serves: hidden routes are 404, a missing or bad token
/// is a 401 with a fixed body, too small a role a 403 naming the role needed. Refusals are logged with the method,
/// path and reason — never the token. An accepted caller travels on in `context.caller`.
///
/// A browser session's cookie goes with every request the browser makes, another site's included, so a write by
/// cookie must also carry the session's CSRF token in `X-CSRF-Token` (which only Slipway's own pages can read, from
/// the login's answer or `GET /api/session`) and, when the browser says where it comes from (`Origin`), come from
/// the gateway's own origin.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = SlipwayRequestContext

    let authenticator: Authenticator
    let policy: AccessPolicy

    static let unauthorized = APIError(.unauthorized, code: "unauthorized", message: "a valid API token is required: Authorization: Bearer <token>")

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        switch policy.requirement(method: request.method, path: path) {
        case .open:
            return try await next(request, context)
        case .hidden:
            throw APIError.notFound("no API route for \(path)")
        case .role(let needed):
            var context = context
            switch try await authenticator.authenticate(request) {
            case .refused(let reason):
                refusal(request, status: 401, reason: reason, context: context)
                throw Self.unauthorized
            case .anonymous:
                guard needed == .viewer, policy.anonymousReads, AccessPolicy.isRead(request.method) else {
                    refusal(request, status: 401, reason: "no credentials", context: context)
                    throw Self.unauthorized
                }
            case .caller(let caller):
                try authorize(caller, needed: needed, request, context: context)
                context.caller = caller
            case .sessionCookie(let caller, let csrfToken):
                if !AccessPolicy.isRead(request.method) {
                    try checkCSRF(request, expected: csrfToken, context: context)
                }
                try authorize(caller, needed: needed, request, context: context)
                context.caller = caller
            }
            return try await next(request, context)
        }
    }

    func authorize(_ caller: Caller, needed: Role, _ request: Request, context: Context) throws {
        guard caller.role >= needed else {
            refusal(request, status: 403, reason: "\(caller.username) is \(caller.role.name), needs \(needed.name)", context: context)
            throw APIError(
                .forbidden, code: "forbidden", message: "this needs the \(needed.name) role; \(caller.username) is \(caller.role.name)",
                details: ["role_needed": needed.name])
        }
    }

    func checkCSRF(_ request: Request, expected: String, context: Context) throws {
        let presented = request.headers[.csrfToken] ?? ""
        let matches = SecretMaterial.constantTimeEqual(presented.utf8, expected.utf8)
        var sameOrigin = true
        if let origin = request.headers[.origin] {
            let from = URL(string: origin).flatMap { url in url.host.map { $0 + (url.port.map { ":\($0)" } ?? "") } }
            sameOrigin = from != nil && from == request.head.authority
        }
        guard matches, sameOrigin else {
            refusal(
                request, status: 403, reason: matches ? "cross-origin write with a session cookie" : "missing or wrong CSRF token", context: context)
            throw APIError(
                .forbidden, code: "csrf_failed",
                message: "a write with a session cookie needs the session's X-CSRF-Token, from this site's own pages")
        }
    }

    func refusal(_ request: Request, status: Int, reason: String, context: Context) {
        context.logger.notice(
            "request refused",
            metadata: [
                LogKey.httpMethod: "\(request.method.rawValue)", LogKey.httpPath: "\(request.uri.path)", LogKey.httpStatus: "\(status)",
                LogKey.reason: "\(reason)",
            ])
    }
}

extension HTTPField.Name {
    /// The CSRF token of a browser session (`AuthMiddleware`).
    static let csrfToken = HTTPField.Name("X-CSRF-Token")!
}
