import Foundation
import HTTPTypes
import Hummingbird

// Transitional: the coding helpers the services used before `SlipwayRequestContext` carried the
// platform's JSON coding. Each is deprecated so the compiler lists what still uses them; this file is
// deleted once nothing does.

extension Request {
    @available(*, deprecated, message: "use request.decode(as:context:) with SlipwayRequestContext")
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
}

@available(*, deprecated, message: "return a ResponseEncodable value")
public func snakeCaseJSONResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    rawJSONResponse(try PlatformJSON.encode(value), status: status)
}

@available(*, deprecated, message: "return RawJSON")
public func rawJSONResponse(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
}

@available(*, deprecated, message: "return a ResponseEncodable value")
public func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    let data = try encoder.encode(value)
    var headers = extra
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
