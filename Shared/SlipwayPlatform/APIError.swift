import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SlipwayEventSourcing

/// The one error shape every Slipway HTTP API answers with:
/// `{"error": {"code": "...", "message": "...", "details": {...}}}`.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var details: [String: String]

    public init(_ status: HTTPResponse.Status, code: String, message: String, details: [String: String] = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
    }

    public static func badRequest(_ message: String, field: String? = nil) -> APIError {
        APIError(.badRequest, code: "bad_request", message: message, details: field.map { ["field": $0] } ?? [:])
    }

    public static func invalid(_ message: String, field: String) -> APIError {
        APIError(.unprocessableContent, code: "invalid", message: message, details: ["field": field])
    }

    public static func notFound(_ message: String) -> APIError {
        APIError(.notFound, code: "not_found", message: message)
    }

    public static func conflict(_ message: String, details: [String: String] = [:]) -> APIError {
        APIError(.conflict, code: "conflict", message: message, details: details)
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    struct Body: Encodable {
        struct Inner: Encodable {
            let code: String
            let message: String
            let details: [String: String]
        }
        let error: Inner
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(Body(error: .init(code: code, message: message, details: details)))
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension APIError {
    /// Maps every error a handler can throw onto the API's shape. Unknown errors become an opaque 500
    /// (logged by the middleware, never echoed).
    public static func from(_ error: any Error) -> APIError? {
        switch error {
        case let error as APIError:
            return error
        case let error as ConcurrencyConflict:
            var details = ["aggregate_type": error.aggregateType, "aggregate_id": error.aggregateID]
            if let expected = error.expectedVersion { details["expected_version"] = "\(expected)" }
            if let actual = error.actualVersion { details["current_version"] = "\(actual)" }
            return .conflict(error.description, details: details)
        case let error as CommandRejected:
            let details = error.field.map { ["field": $0] } ?? [:]
            switch error.kind {
            case .invalid: return APIError(.unprocessableContent, code: "invalid", message: error.message, details: details)
            case .notFound: return APIError(.notFound, code: "not_found", message: error.message, details: details)
            case .conflict: return APIError(.conflict, code: "conflict", message: error.message, details: details)
            }
        case let error as HTTPError:
            switch error.status {
            case .notFound: return .notFound(error.body ?? "no route for this path")
            case .methodNotAllowed: return APIError(.methodNotAllowed, code: "method_not_allowed", message: error.body ?? "method not allowed")
            case .contentTooLarge: return APIError(.contentTooLarge, code: "too_large", message: error.body ?? "request body too large")
            default:
                return APIError(error.status, code: error.status.code < 500 ? "bad_request" : "internal", message: error.body ?? error.status.reasonPhrase)
            }
        default:
            return nil
        }
    }
}

/// Turns thrown errors into the JSON error shape and logs the unexpected ones at error level
/// (the framework's default is silent).
public struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            if let apiError = APIError.from(error) {
                return try apiError.response(from: request, context: context)
            }
            context.logger.error("unhandled error", metadata: [
                "http.route": "\(context.endpointPath ?? request.uri.path)", "error": "\(String(reflecting: error))",
            ])
            return try APIError(.internalServerError, code: "internal", message: "internal error").response(from: request, context: context)
        }
    }
}
