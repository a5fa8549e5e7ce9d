import HTTPTypes
import Hummingbird
import Logging
import SlipwayEventSourcing
import SlipwayPlatform

/// Applies the access policy to every request the gateway serves: hidden routes are 404, a missing or bad token
/// is a 401 with a fixed body, too small a role a 403 naming the role needed. Refusals are logged with the method,
/// path and reason — never the token. An accepted caller travels on in `context.caller`.
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
                guard caller.role >= needed else {
                    refusal(request, status: 403, reason: "\(caller.username) is \(caller.role.name), needs \(needed.name)", context: context)
                    throw APIError(
                        .forbidden, code: "forbidden", message: "this needs the \(needed.name) role; \(caller.username) is \(caller.role.name)",
                        details: ["role_needed": needed.name])
                }
                context.caller = caller
            }
            return try await next(request, context)
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
