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
            throw APIError.fromDecoding(error)
        } catch {
            throw APIError.badRequest("request body could not be decoded")
        }
    }

    /// `/recommend` is the hot route: its usual bodies go through a hand parser, anything else through JSONDecoder.
    static func decodeRecommend(_ body: ByteBuffer?) throws(APIError) -> RecommendRequest {
        if let body, let request = body.withUnsafeReadableBytes({ RecommendFastParser.parse($0) }) { return request }
        return try decode(RecommendRequest.self, from: body)
    }
}
