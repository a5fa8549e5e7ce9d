import Foundation
import NIOCore
import SlipwayModelBundle
import SlipwayPlatform

/// Request bodies to Swift values; a malformed body or a missing/mistyped field is a 400 naming the field
/// (the same messages the platform's `Request.decodeJSON` gives the other services).
enum RequestBody {
    static func decode<T: Decodable>(_ type: T.Type, from body: ByteBuffer?) throws(APIError) -> T {
        guard let body, body.readableBytes > 0 else { throw APIError.badRequest("request body is empty; expected JSON") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch let error as DecodingError {
            throw Self.apiError(error)
        } catch {
            throw APIError.badRequest("request body could not be decoded")
        }
    }

    /// `/recommend` is the hot route: its usual bodies go through a hand parser, anything else through JSONDecoder.
    static func decodeRecommend(_ body: ByteBuffer?) throws(APIError) -> RecommendRequest {
        if let body, let request = body.withUnsafeReadableBytes({ RecommendFastParser.parse($0) }) { return request }
        return try decode(RecommendRequest.self, from: body)
    }

    static func apiError(_ error: DecodingError) -> APIError {
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
            return .invalid("field '\(field)' is invalid: \(context.debugDescription)", field: field)
        @unknown default:
            return .badRequest("request body could not be decoded")
        }
    }

    /// As the platform names fields: `learningRate` → `learning_rate`.
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
