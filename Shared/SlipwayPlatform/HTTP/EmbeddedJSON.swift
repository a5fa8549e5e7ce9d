import Foundation

/// A JSON document inside an `Encodable` answer, kept as it is: a protobuf message's JSON, a stored `jsonb`
/// column, anything whose shape the answer does not restate.
public struct EmbeddedJSON: Codable, Sendable, Equatable {
    private let value: Node

    private indirect enum Node: Codable, Sendable, Equatable {
        case null, bool(Bool), integer(Int64), number(Double), string(String), array([Node]), object([String: Node])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let flag = try? container.decode(Bool.self) {
                self = .bool(flag)
            } else if let number = try? container.decode(Int64.self) {
                self = .integer(number)
            } else if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else if let text = try? container.decode(String.self) {
                self = .string(text)
            } else if let items = try? container.decode([Node].self) {
                self = .array(items)
            } else {
                self = .object(try container.decode([String: Node].self))
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .null: try container.encodeNil()
            case .bool(let flag): try container.encode(flag)
            case .integer(let number): try container.encode(number)
            case .number(let number): try container.encode(number)
            case .string(let text): try container.encode(text)
            case .array(let items): try container.encode(items)
            case .object(let members): try container.encode(members)
            }
        }
    }

    /// nil when `text` is not JSON.
    public init?(text: String) {
        guard let node = try? JSONDecoder().decode(Node.self, from: Data(text.utf8)) else { return nil }
        value = node
    }

    public init(from decoder: any Decoder) throws { value = try Node(from: decoder) }
    public func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
