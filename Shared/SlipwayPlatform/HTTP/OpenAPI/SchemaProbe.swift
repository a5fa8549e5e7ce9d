import Foundation

/// The JSON Schema of what a `Decodable` type accepts, read from the type's own decoding: the type is decoded once
/// from a decoder that answers every question with a placeholder and records what was asked — which keys, of which
/// types, through `decode` (required) or `decodeIfPresent` (optional). So a body's documentation is its decoding,
/// custom `init(from:)` included, and cannot drift from it.
///
/// Keys are written as the platform's decoder reads them (`sourceRunId` ← `source_run_id`). String enums are
/// documented with their cases when they are `CaseIterable`; a type the probe cannot decode (one that rejects every
/// placeholder) is an error naming it, and as an optional field it is documented as any value.
public enum SchemaProbe {
    public struct Failure: Error, CustomStringConvertible {
        public let typeName: String
        public let underlying: any Error
        public var description: String { "cannot derive the schema of \(typeName): \(underlying)" }
    }

    public static func schema<T: Decodable>(of type: T.Type) throws -> OpenAPIValue {
        let node = SchemaNode()
        do {
            _ = try probe(T.self, into: node, codingPath: [])
        } catch {
            throw Failure(typeName: String(describing: T.self), underlying: error)
        }
        var schema = node.schema
        if case .object = node.kind { schema["title"] = .string(String(describing: T.self)) }
        return schema
    }

    /// A key as the platform's encoder writes it (`PlatformJSON.encoder`, `convertToSnakeCase`: `activeDeploymentID` →
    /// `active_deployment_id`, `p50Ms` → `p50_ms`), asked of the encoder itself so the two cannot disagree. Request
    /// bodies spell acronyms as words (`sourceRunId`), on which decoding agrees.
    public static func snakeCased(_ key: String) -> String {
        let data = (try? PlatformJSON.encoder.encode(OneKey(name: key))) ?? Data()
        return ((try? JSONSerialization.jsonObject(with: data)) as? [String: Int])?.keys.first ?? key
    }

    /// An object with one key named `name`.
    private struct OneKey: Encodable {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        let name: String

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(1, forKey: Key(stringValue: name))
        }
    }

    /// Decodes a placeholder `T`, recording its shape into `node`.
    static func probe<T: Decodable>(_ type: T.Type, into node: SchemaNode, codingPath: [any CodingKey]) throws -> T {
        if let described = T.self as? any SchemaDescribing.Type {
            node.kind = .scalar(described.jsonSchema)
            return described.schemaPlaceholder as! T
        }
        if let scalar = placeholderScalar(T.self) {
            node.kind = .scalar(scalar.schema)
            return scalar.value as! T
        }
        if let enumeration = T.self as? any CaseIterable.Type, let (schema, first) = enumCases(enumeration) {
            node.kind = .scalar(schema)
            return first as! T
        }
        if let map = T.self as? any StringKeyedMap.Type {
            let values = SchemaNode()
            node.kind = .map(values)
            return try map.probeEmpty(values: values, codingPath: codingPath) as! T
        }
        return try T(from: ProbeDecoder(node: node, codingPath: codingPath))
    }

    /// Types that decode from one JSON scalar through a representation the probe cannot guess (a date from an
    /// ISO-8601 string), with the placeholder that stands for them.
    private static func placeholderScalar(_ type: Any.Type) -> (schema: OpenAPIValue, value: Any)? {
        switch type {
        case is Date.Type: (["type": "string", "format": "date-time"], Date(timeIntervalSince1970: 0))
        case is UUID.Type: (["type": "string", "format": "uuid"], UUID())
        case is URL.Type: (["type": "string", "format": "uri"], URL(string: "http://localhost")!)
        case is Data.Type: (["type": "string", "contentEncoding": "base64"], Data())
        case is MillisecondDate.Type: (["type": "string", "format": "date-time"], MillisecondDate(Date(timeIntervalSince1970: 0)))
        default: nil
        }
    }

    private static func enumCases<C: CaseIterable>(_ type: C.Type) -> (OpenAPIValue, Any)? {
        let cases = Array(C.allCases)
        guard let first = cases.first else { return nil }
        let raw = cases.compactMap { ($0 as? any RawRepresentable)?.rawValue }
        if raw.count == cases.count, let strings = raw as? [String] {
            return (["type": "string", "enum": .array(strings.map(OpenAPIValue.string))], first)
        }
        if raw.count == cases.count, let numbers = raw as? [Int] {
            return (["type": "integer", "enum": .array(numbers.map(OpenAPIValue.integer))], first)
        }
        return nil
    }
}

/// A type whose JSON the probe cannot learn from a placeholder — one that accepts any JSON, or tries several shapes
/// in turn (the first would answer for all) — says its schema itself, and the placeholder the probe hands back.
public protocol SchemaDescribing: Decodable {
    static var jsonSchema: OpenAPIValue { get }
    static var schemaPlaceholder: Self { get }
}

extension EmbeddedJSON: SchemaDescribing {
    public static var jsonSchema: OpenAPIValue { ["description": "Any JSON value, kept as it was sent"] }
    public static var schemaPlaceholder: EmbeddedJSON { EmbeddedJSON(text: "{}")! }
}

/// What the probe learned about one value.
final class SchemaNode {
    enum Kind {
        case unknown
        case scalar(OpenAPIValue)
        case object
        case array(SchemaNode)
        case map(SchemaNode)
    }

    struct Property {
        let name: String
        let node: SchemaNode
        var required: Bool
    }

    var kind = Kind.unknown
    var properties: [Property] = []

    func property(_ name: String, required: Bool) -> SchemaNode {
        if let index = properties.firstIndex(where: { $0.name == name }) {
            properties[index].required = properties[index].required || required
            return properties[index].node
        }
        let node = SchemaNode()
        properties.append(Property(name: name, node: node, required: required))
        return node
    }

    var schema: OpenAPIValue {
        switch kind {
        case .unknown: return [:]
        case .scalar(let schema): return schema
        case .array(let items): return ["type": "array", "items": items.schema]
        case .map(let values): return ["type": "object", "additionalProperties": values.schema]
        case .object:
            var members: [String: OpenAPIValue] = [:]
            for property in properties { members[property.name] = property.required ? property.node.schema : property.node.nullableSchema }
            var schema: OpenAPIValue = ["type": "object", "properties": .object(members)]
            let required = properties.filter(\.required).map(\.name).sorted()
            if !required.isEmpty { schema["required"] = .array(required.map(OpenAPIValue.string)) }
            return schema
        }
    }

    /// An optional field's schema: absent or null are both accepted by `decodeIfPresent`.
    var nullableSchema: OpenAPIValue {
        let schema = self.schema
        if case .string(let type)? = schema["type"] {
            var nullable = schema
            nullable["type"] = [.string(type), "null"]
            return nullable
        }
        if schema == [:] { return schema }
        return ["anyOf": [schema, ["type": "null"]]]
    }
}

/// `[String: Value]`: decoded by JSONDecoder from an object's members, documented as `additionalProperties`.
protocol StringKeyedMap {
    static func probeEmpty(values: SchemaNode, codingPath: [any CodingKey]) throws -> Self
}

extension Dictionary: StringKeyedMap where Key == String, Value: Decodable {
    static func probeEmpty(values: SchemaNode, codingPath: [any CodingKey]) throws -> Self {
        _ = try SchemaProbe.probe(Value.self, into: values, codingPath: codingPath)
        return [:]
    }
}

struct ProbeDecoder: Decoder {
    let node: SchemaNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        if case .object = node.kind {} else { node.kind = .object }
        return KeyedDecodingContainer(ProbeKeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        if case .array(let items) = node.kind { return ProbeUnkeyedContainer(items: items, codingPath: codingPath) }
        let items = SchemaNode()
        node.kind = .array(items)
        return ProbeUnkeyedContainer(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        ProbeSingleValueContainer(node: node, codingPath: codingPath)
    }
}

/// A number, or one the platform's coders spell as a string because JSON has no such number.
private let nonFiniteNumber: OpenAPIValue = ["anyOf": [["type": "number"], ["type": "string", "enum": ["nan", "inf", "-inf"]]]]

/// The placeholder of a JSON scalar and its schema.
private func scalar<T>(_ type: T.Type, into node: SchemaNode) -> T? {
    let (schema, value): (OpenAPIValue, Any)
    switch type {
    case is String.Type: (schema, value) = (["type": "string"], "")
    case is Bool.Type: (schema, value) = (["type": "boolean"], false)
    case is Double.Type: (schema, value) = (nonFiniteNumber, 0.0)
    case is Float.Type: (schema, value) = (nonFiniteNumber, Float(0))
    case is Int.Type: (schema, value) = (["type": "integer"], 0)
    case is Int64.Type: (schema, value) = (["type": "integer", "format": "int64"], Int64(0))
    case is Int32.Type: (schema, value) = (["type": "integer", "format": "int32"], Int32(0))
    case is UInt64.Type: (schema, value) = (["type": "integer", "minimum": 0], UInt64(0))
    case is UInt32.Type: (schema, value) = (["type": "integer", "minimum": 0], UInt32(0))
    case is UInt.Type: (schema, value) = (["type": "integer", "minimum": 0], UInt(0))
    case is Int16.Type: (schema, value) = (["type": "integer"], Int16(0))
    case is Int8.Type: (schema, value) = (["type": "integer"], Int8(0))
    case is UInt16.Type: (schema, value) = (["type": "integer", "minimum": 0], UInt16(0))
    case is UInt8.Type: (schema, value) = (["type": "integer", "minimum": 0], UInt8(0))
    default: return nil
    }
    node.kind = .scalar(schema)
    return value as? T
}

private func probeValue<T: Decodable>(_ type: T.Type, into node: SchemaNode, codingPath: [any CodingKey]) throws -> T {
    if let value = scalar(T.self, into: node) { return value }
    return try SchemaProbe.probe(T.self, into: node, codingPath: codingPath)
}

struct ProbeKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let node: SchemaNode
    let codingPath: [any CodingKey]
    var allKeys: [Key] { [] }

    func contains(_ key: Key) -> Bool { true }
    func decodeNil(forKey key: Key) throws -> Bool { false }

    private func name(_ key: Key) -> String { SchemaProbe.snakeCased(key.stringValue) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try field(type, key) }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try optionalField(type, key) }

    private func field<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        try probeValue(T.self, into: node.property(name(key), required: true), codingPath: codingPath + [key])
    }

    private func optionalField<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        let property = node.property(name(key), required: false)
        // An optional field the probe cannot decode is documented as any value rather than failing its parent.
        do {
            return try probeValue(T.self, into: property, codingPath: codingPath + [key])
        } catch {
            property.kind = .unknown
            property.properties = []
            return nil
        }
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try field(type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try field(type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try field(type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try field(type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try field(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try field(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try field(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try field(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try field(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try field(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try field(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try field(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try field(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try field(type, key) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optionalField(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optionalField(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optionalField(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optionalField(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optionalField(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optionalField(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optionalField(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optionalField(type, key) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ProbeDecoder(node: node.property(name(key), required: true), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ProbeDecoder(node: node.property(name(key), required: true), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { ProbeDecoder(node: node, codingPath: codingPath) }
    func superDecoder(forKey key: Key) throws -> any Decoder {
        ProbeDecoder(node: node.property(name(key), required: true), codingPath: codingPath + [key])
    }
}

/// An array's elements: every element is documented by the first; the probe's array has one.
struct ProbeUnkeyedContainer: UnkeyedDecodingContainer {
    let items: SchemaNode
    let codingPath: [any CodingKey]
    var count: Int? { 1 }
    var isAtEnd: Bool { currentIndex >= 1 }
    var currentIndex = 0

    mutating func decodeNil() throws -> Bool { false }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        currentIndex += 1
        return try probeValue(T.self, into: items, codingPath: codingPath)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        currentIndex += 1
        return try ProbeDecoder(node: items, codingPath: codingPath).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        currentIndex += 1
        return try ProbeDecoder(node: items, codingPath: codingPath).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        currentIndex += 1
        return ProbeDecoder(node: items, codingPath: codingPath)
    }
}

struct ProbeSingleValueContainer: SingleValueDecodingContainer {
    let node: SchemaNode
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { false }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try probeValue(T.self, into: node, codingPath: codingPath) }
}
