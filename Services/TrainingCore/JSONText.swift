import Foundation
import SlipwayPlatform

/// JSON text for jsonb columns, in the API's JSON style (snake_case keys, sorted, so replays compare
/// equal byte for byte), and back.
enum JSONText {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try PlatformJSON.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try PlatformJSON.decoder.decode(type, from: Data(text.utf8))
    }
}
