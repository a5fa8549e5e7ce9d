import Hummingbird

/// Refuses a query parameter whose value holds U+0000 (`?search=%00`), naming it: PostgreSQL stores no such text, so
/// the request could only fail later, and less clearly. (A body's text with one is refused by `APIError.from`.)
public struct QueryTextMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.query?.contains("%00") == true {
            for (name, value) in request.uri.queryParameters where value.contains("\u{0}") {
                throw APIError.badRequest("query parameter '\(name)' must not contain the NUL character (U+0000)", field: String(name))
            }
        }
        return try await next(request, context)
    }
}
