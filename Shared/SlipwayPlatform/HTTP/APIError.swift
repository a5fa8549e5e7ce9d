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
        // PostgreSQL refuses text with U+0000 (22021) in any column: the input was at fault, and the statement's
        // transaction rolled back, so nothing was written.
        if sqlState(of: error) == "22021" {
            return .badRequest("text must not contain the NUL character (U+0000)")
        }
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
                return APIError(
                    error.status, code: error.status.code < 500 ? "bad_request" : "internal", message: error.body ?? error.status.reasonPhrase)
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
            context.logger.error(
                "unhandled error",
                metadata: [
                    LogKey.httpRoute: "\(context.endpointPath ?? request.uri.path)", LogKey.error: "\(String(reflecting: error))",
                ])
            return try APIError(.internalServerError, code: "internal", message: "internal error").response(from: request, context: context)
        }
    }
}

extension APIError {
    /// A decoding error as a 400/422 naming the field in snake_case.
    public static func fromDecoding(_ error: DecodingError) -> APIError {
        func path(_ codingPath: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
            let keys = codingPath + (key.map { [$0] } ?? [])
            let joined = keys.map { $0.intValue.map { "[\($0)]" } ?? snakeCased($0.stringValue) }.joined(separator: ".")
            return joined.replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath, key)
            return .badRequest("missing field '\(field)'", field: field)
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            return .badRequest("field '\(field)' must be \(describe(type))", field: field)
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return .badRequest("field '\(field)' must be \(describe(type)), got null", field: field)
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if field.isEmpty { return .badRequest("request body is not valid JSON") }
            // Well-formed JSON with a value the field does not accept (an unknown enum case, a bad date): 422.
            return .invalid("field '\(field)' is invalid: \(context.debugDescription)", field: field)
        @unknown default:
            return .badRequest("request body could not be decoded")
        }
    }

    /// `learningRate` → `learning_rate` (a key decoded with `.convertFromSnakeCase` arrives camel-cased).
    static func snakeCased(_ key: String) -> String {
        var out = ""
        for character in key {
            if character.isUppercase, !out.isEmpty { out += "_" }
            out += character.lowercased()
        }
        return out
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "a boolean"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "of type \(name)"
        }
    }
}
