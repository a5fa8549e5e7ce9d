import Foundation
import SlipwayPlatform
import Testing

/// The schema of a body is read from its decoding: required and optional keys in the API's spelling, nested types,
/// arrays, maps, dates, enums, and a custom `init(from:)`.
@Suite("Schema probe")
struct SchemaProbeTests {
    enum Kind: String, Decodable, CaseIterable { case retrieval, ranking }

    struct Inner: Decodable {
        let weight: Double
        let tags: [String]?
    }

    struct Body: Decodable {
        let name: String
        let sourceRunId: String?
        let kind: Kind
        let count: Int
        let enabled: Bool?
        let startsAt: Date
        let inner: Inner
        let steps: [Inner]
        let labels: [String: String]
    }

    @Test func synthesizedDecodingIsReadKeyByKey() throws {
        let schema = try SchemaProbe.schema(of: Body.self)
        #expect(schema["type"] == "object")
        #expect(schema["title"] == "Body")
        #expect(schema["required"] == ["count", "inner", "kind", "labels", "name", "starts_at", "steps"])
        let properties = try #require(schema["properties"])
        #expect(properties["name"] == ["type": "string"])
        #expect(properties["source_run_id"] == ["type": ["string", "null"]])
        #expect(properties["kind"] == ["type": "string", "enum": ["retrieval", "ranking"]])
        #expect(properties["count"] == ["type": "integer"])
        #expect(properties["enabled"] == ["type": ["boolean", "null"]])
        #expect(properties["starts_at"] == ["type": "string", "format": "date-time"])
        #expect(properties["inner"]?["required"] == ["weight"])
        #expect(properties["inner"]?["properties"]?["tags"] == ["type": ["array", "null"], "items": ["type": "string"]])
        #expect(properties["steps"]?["type"] == "array")
        // A number, or the spelling the platform's coders give a non-finite one.
        #expect(
            properties["steps"]?["items"]?["properties"]?["weight"]
                == ["anyOf": [["type": "number"], ["type": "string", "enum": ["nan", "inf", "-inf"]]]])
        #expect(properties["labels"] == ["type": "object", "additionalProperties": ["type": "string"]])
    }

    @Test func keysAreWrittenAsTheEncoderWritesThem() {
        #expect(SchemaProbe.snakeCased("sourceRunId") == "source_run_id")
        #expect(SchemaProbe.snakeCased("activeDeploymentID") == "active_deployment_id")
        #expect(SchemaProbe.snakeCased("p50Ms") == "p50_ms")
    }

    /// A custom decoding that reads a key only when it is present, and one that rejects what it cannot parse.
    struct Custom: Decodable {
        enum CodingKeys: String, CodingKey { case mode, limit }
        let limit: Int

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            limit = try container.decodeIfPresent(Int.self, forKey: .limit) ?? 10
            _ = try container.decode(String.self, forKey: .mode)
        }
    }

    struct Picky: Decodable {
        init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            guard !text.isEmpty else { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "empty")) }
        }
    }

    struct HasPicky: Decodable {
        let name: String
        let picky: Picky?
    }

    @Test func customDecodingIsReadTooAndAnUnreadableOptionalFieldIsAnyValue() throws {
        let custom = try SchemaProbe.schema(of: Custom.self)
        #expect(custom["required"] == ["mode"])
        #expect(custom["properties"]?["limit"] == ["type": ["integer", "null"]])

        #expect(throws: SchemaProbe.Failure.self) { try SchemaProbe.schema(of: Picky.self) }
        let outer = try SchemaProbe.schema(of: HasPicky.self)
        #expect(outer["properties"]?["picky"] == [:])
        #expect(outer["required"] == ["name"])
    }
}
