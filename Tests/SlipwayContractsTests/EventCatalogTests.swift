import Foundation
import SlipwayContracts
import SwiftProtobuf
import Testing

@Suite("EventCatalog")
struct EventCatalogTests {
    @Test(arguments: EventCatalog.typeNames)
    func everyCataloguedTypeDecodes(typeName: String) throws {
        let type = try #require(EventCatalog.messageType(for: typeName))
        #expect(type.protoMessageName == typeName)

        let context = try #require(EventCatalog.context(forEventType: typeName))
        #expect(typeName.hasPrefix(context.protoPackage + "."))
        #expect(EventCatalog.topic(forEventType: typeName) == context.topic)

        // The empty payload is a valid (all-default) message of every type.
        let empty = try #require(try EventCatalog.decode(typeName: typeName, payload: []))
        #expect(Swift.type(of: empty).protoMessageName == typeName)
        #expect(try EventCatalog.decodeJSON(typeName: typeName, payload: []) == "{}")

        // A payload carrying an unknown field still decodes (forward compatibility) and keeps it.
        let withUnknownField: [UInt8] = [0xF8, 0xFF, 0x03, 0x01]  // field 8191, varint 1
        let decoded = try #require(try EventCatalog.decode(typeName: typeName, payload: withUnknownField))
        #expect(try decoded.serializedBytes() as [UInt8] == withUnknownField)
    }

    @Test func unknownTypeReturnsNil() throws {
        for name in [
            "", "TrainingRunCreated", "slipway.training.v1.Nope", "slipway.v1.EventEnvelope",
            "slipway.training.v1.TrainingRunConfig", "slipway.v1.FeatureValue",
        ] {
            #expect(EventCatalog.messageType(for: name) == nil, "\(name)")
            #expect(EventCatalog.entry(for: name) == nil)
            #expect(EventCatalog.context(forEventType: name) == nil)
            #expect(EventCatalog.topic(forEventType: name) == nil)
            #expect(try EventCatalog.decode(typeName: name, payload: [0x08, 0x01]) == nil)
            #expect(try EventCatalog.decodeJSON(typeName: name, payload: [0x08, 0x01]) == nil)
        }
    }

    @Test func decodeJSONGivesProtobufJSON() throws {
        var event = DeploymentActivated()
        event.endpointID = "ep-1"
        event.versionNumber = 4
        let json = try EventCatalog.decodeJSON(
            typeName: "slipway.deploy.v1.DeploymentActivated", payload: event.serializedBytes())
        #expect(json == "{\"endpointId\":\"ep-1\",\"versionNumber\":4}")
    }

    @Test func typeNamesAreUniqueAndCoverEveryContext() {
        let names = EventCatalog.typeNames
        #expect(Set(names).count == names.count)
        for context in EventContext.allCases {
            #expect(!(EventCatalog.eventTypes[context] ?? []).isEmpty, "\(context) has no events")
        }
        #expect(EventCatalog.typeName(of: TrainingRunCreated.self) == "slipway.training.v1.TrainingRunCreated")
    }

    @Test func topics() {
        #expect(
            EventCatalog.topics == [
                "slipway.training.events",
                "slipway.registry.events",
                "slipway.schedule.events",
                "slipway.deploy.events",
                "slipway.testing.events",
                "slipway.metrics.events",
                "slipway.gateway.events",
                "slipway.serving.requests",
            ])
        #expect(EventCatalog.topic(forContext: .deploy) == "slipway.deploy.events")
        #expect(EventCatalog.topic(forContext: "serving") == "slipway.serving.requests")
        #expect(EventCatalog.topic(forContext: "nope") == nil)
    }

    /// Every message in proto/ documented as "// Emitted ..." must be catalogued, and
    /// nothing else: fails when the generated context enums are older than the proto files
    /// (run `scripts/gen-proto`).
    @Test func catalogMatchesEmittedMessagesInProtoFiles() throws {
        let protoRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("proto")
        let files = try #require(FileManager.default.enumerator(atPath: protoRoot.path))
            .compactMap { $0 as? String }
            .filter { $0.hasSuffix(".proto") }
        #expect(files.count >= 9)

        var emitted: Set<String> = []
        for file in files {
            let text = try String(contentsOf: protoRoot.appendingPathComponent(file), encoding: .utf8)
            var package = ""
            var inEmittedComment = false
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("package ") {
                    package = String(line.dropFirst("package ".count).dropLast())  // drop ";"
                } else if line.hasPrefix("// Emitted") {
                    inEmittedComment = true
                } else if line.hasPrefix("message "), let name = line.split(separator: " ").dropFirst().first {
                    if inEmittedComment { emitted.insert("\(package).\(name)") }
                    inEmittedComment = false
                } else if !line.hasPrefix("//") {
                    inEmittedComment = false
                }
            }
        }
        #expect(
            emitted == Set(EventCatalog.typeNames),
            "missing from catalog: \(emitted.subtracting(EventCatalog.typeNames).sorted()); not emitted: \(Set(EventCatalog.typeNames).subtracting(emitted).sorted())"
        )
    }
}
