/// A raw feature value as it arrives at serving time (JSON string, integer or number).
public enum FeatureValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case double(Double)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .int(i); return }
        if let d = try? c.decode(Double.self) { self = .double(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        throw DecodingError.typeMismatch(
            FeatureValue.self,
            .init(codingPath: c.codingPath, debugDescription: "feature value must be a string, integer or number"))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        }
    }

    /// JSON-ish type name used in error messages.
    public var typeName: String {
        switch self {
        case .string: "string"
        case .int: "int"
        case .double: "float"
        }
    }

    public var description: String {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .double(let d): String(d)
        }
    }
}

/// Declared type of a raw input feature.
public enum RawFeatureType: String, Sendable, Codable, CaseIterable {
    case string, int, float, timestamp
}
