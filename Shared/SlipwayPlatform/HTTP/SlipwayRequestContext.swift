import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The request context of every Slipway HTTP API: it carries the platform's JSON coding, so handlers
/// take and return Codable types (`request.decode(as:context:)`, `-> SomeView` with `ResponseEncodable`).
public struct SlipwayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Who is calling, once the gateway has authenticated the request (nil in the domain services, which learn
    /// the caller's name from the gateway's `X-Slipway-Actor` header, and for anonymous reads).
    public var caller: Caller?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    public var requestDecoder: PlatformRequestDecoder { PlatformRequestDecoder() }
    public var responseEncoder: JSONEncoder { PlatformJSON.encoder }
    public var maxUploadSize: Int { PlatformJSON.maxBodyBytes }
}

/// The API's JSON style, in both directions: camelCase properties are snake_case keys (dictionary keys,
/// which are user data, are left alone), keys sorted (stable output), dates ISO-8601, non-finite numbers as
/// strings. Acronyms in request bodies are spelled as words (`sourceRunId`): decoding turns `source_run_id`
/// into `sourceRunId`, never `sourceRunID`.
public enum PlatformJSON {
    public static let maxBodyBytes = 8 * 1024 * 1024

    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = ISO8601.date(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected an ISO-8601 date, got '\(text)'"))
            }
            return date
        }
        return decoder
    }()

    /// Encodes in the API's style.
    public static func encode(_ value: some Encodable) throws -> [UInt8] { Array(try encoder.encode(value)) }

    /// Decodes in the API's style; a decoding error becomes a 400/422 naming the field.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: some DataProtocol) throws -> T {
        do {
            return try decoder.decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw APIError.fromDecoding(error)
        }
    }
}

/// ISO-8601 timestamps with or without fractional seconds.
public enum ISO8601 {
    public static func date(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        return try? Date(text, strategy: .iso8601)
    }

    /// With milliseconds, rounded (`2026-12-04T18:50:32.123Z`).
    public static func millisecondString(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}

/// Decodes request bodies in the API's style: an empty body, malformed JSON or a missing or mistyped
/// field is a 400 naming the field; a body over the context's limit is a 413.
public struct PlatformRequestDecoder: RequestDecoder {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        guard let value = try await decodeIfPresent(type, from: request, context: context) else {
            throw APIError.badRequest("request body is empty; expected JSON")
        }
        return value
    }

    /// nil for an empty body: for requests whose body is optional (all fields default).
    public func decodeIfPresent<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T? {
        // The reference documents the body a route declares; a handler decoding another would make it lie.
        if case .some(let declared) = RouteDoc.servedBody, declared != ObjectIdentifier(T.self) {
            throw APIError(
                .internalServerError, code: "undocumented_body",
                message: "this route decodes \(T.self), which its documentation does not declare")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw APIError(.contentTooLarge, code: "too_large", message: "request body is larger than \(context.maxUploadSize) bytes")
        }
        guard buffer.readableBytes > 0 else { return nil }
        return try PlatformJSON.decode(T.self, from: buffer.readableBytesView)
    }
}

extension Request {
    /// The body as `T`, or nil when the request has no body (all of its fields are optional).
    /// A malformed body is a 400, never silently ignored.
    public func decodeIfPresent<T: Decodable>(as type: T.Type, context: SlipwayRequestContext) async throws -> T? {
        try await context.requestDecoder.decodeIfPresent(type, from: self, context: context)
    }
}

/// A value encoded as `null` when it is nil, where synthesized coding would leave the key out: for
/// answers that promise the same keys for every object (a model without a schedule has
/// `"schedule_id": null`). Decodes a missing key as nil.
@propertyWrapper
public struct Nullable<Value: Sendable>: Sendable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }
}

extension Nullable: Encodable where Value: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension Nullable: Decodable where Value: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }
}

extension Nullable: Equatable where Value: Equatable {}

extension KeyedDecodingContainer {
    /// A `@Nullable` property whose key is missing decodes as nil instead of failing.
    public func decode<Value: Decodable>(_ type: Nullable<Value>.Type, forKey key: Key) throws -> Nullable<Value> {
        try decodeIfPresent(type, forKey: key) ?? Nullable(wrappedValue: nil)
    }
}

/// A date the API writes with milliseconds (deploy-svc's endpoint and deployment answers); other dates
/// are whole seconds.
public struct MillisecondDate: Codable, Sendable, Equatable {
    public var date: Date

    public init(_ date: Date) { self.date = date }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = ISO8601.date(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected an ISO-8601 date"))
        }
        self.date = date
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(ISO8601.millisecondString(date))
    }
}

/// A body that is already JSON (an artifact file): sent as it is.
public struct RawJSON: ResponseGenerator {
    public var bytes: [UInt8]
    public var status: HTTPResponse.Status

    public init(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) {
        self.bytes = bytes
        self.status = status
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
