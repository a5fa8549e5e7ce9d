import Foundation
import HTTPTypes
import Hummingbird
import SlipwayEventSourcing

extension Request {
    /// Decodes a JSON body; a malformed body or a missing/mistyped field is a 400 naming the field.
    /// Pass a decoder with `.convertFromSnakeCase` for snake_case bodies; errors still name fields in snake_case.
    public func decodeJSON<T: Decodable>(as type: T.Type, context: some RequestContext, decoder: JSONDecoder = JSONDecoder(),
                                         maxBytes: Int = 8 * 1024 * 1024) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: maxBytes)
        } catch {
            throw APIError(.contentTooLarge, code: "too_large", message: "request body is larger than \(maxBytes) bytes")
        }
        guard buffer.readableBytes > 0 else { throw APIError.badRequest("request body is empty; expected JSON") }
        do {
            return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIError.fromDecoding(error)
        }
    }

    /// `If-Match: 3` (or `"3"`): the version the client last saw; a stale one is answered 409.
    public func expectedVersion() throws -> Int64? {
        guard let value = headers[.ifMatch] else { return nil }
        let trimmed = value.trimmingCharacters(in: CharacterSet(charactersIn: "\" W/"))
        guard let version = Int64(trimmed), version >= 0 else {
            throw APIError.badRequest("If-Match must be an aggregate version number", field: "If-Match")
        }
        return version
    }

    /// The caller's correlation id (`X-Correlation-ID`), or a new one: it ends up in every event caused.
    public var correlationID: String {
        headers[HTTPField.Name.correlationID].flatMap { $0.isEmpty ? nil : String($0.prefix(128)) } ?? UUID.v7String()
    }
}

extension HTTPField.Name {
    public static let correlationID = HTTPField.Name("X-Correlation-ID")!
}

extension UUID {
    static func v7String() -> String { UUID.v7().uuidString.lowercased() }
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

/// The API's JSON style for Swift types: camelCase properties become snake_case keys, keys sorted (stable
/// output, byte-equal replays when stored), dates ISO-8601, non-finite numbers as strings.
public func makeSnakeCaseJSONEncoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return encoder
}

/// A response in the API's snake_case JSON style.
public func snakeCaseJSONResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    rawJSONResponse(Array(try makeSnakeCaseJSONEncoder().encode(value)), status: status)
}

/// A response whose body is JSON that is already encoded (e.g. an artifact file).
public func rawJSONResponse(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
}

/// JSON responses with snake_case-free, stable output (keys as the Codable types name them).
public func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    let data = try encoder.encode(value)
    var headers = extra
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
