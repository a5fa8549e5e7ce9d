import Foundation
import SlipwayContracts
import SwiftProtobuf
import Testing

@Suite("EventEnvelope")
struct EnvelopeTests {
    static func sampleEnvelope() throws -> EventEnvelope {
        var created = TrainingRunCreated()
        created.runID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
        created.runNumber = 3
        created.modelName = "product-retrieval"
        created.modelType = .retrieval
        created.config.datasetID = "ds-1"
        created.config.featureConfigID = "fc-1"
        created.config.modelConfigID = "mc-1"
        created.config.trainingParams.epochs = 150
        created.config.evaluatorConfig.enabled = true
        created.config.evaluatorConfig.blessingMetric = "recall_at_100"
        created.config.evaluatorConfig.blessingThreshold = 0.25
        created.createdBy = "alice"

        var envelope = EventEnvelope()
        envelope.eventID = "0190a1b2-c3d4-7e5f-8a9b-000000000001"
        envelope.aggregateType = "TrainingRun"
        envelope.aggregateID = created.runID
        envelope.aggregateVersion = 1
        envelope.sourceService = EventContext.training.rawValue
        envelope.sourcePosition = 42
        envelope.occurredAt = Google_Protobuf_Timestamp(seconds: 1_790_000_000, nanos: 123_000_000)
        envelope.correlationID = "corr-1"
        envelope.causationID = "cmd-1"
        envelope.schemaVersion = 1
        try envelope.setPayload(created)
        return envelope
    }

    @Test func binaryRoundTrip() throws {
        let envelope = try Self.sampleEnvelope()
        let bytes: [UInt8] = try envelope.serializedBytes()
        let decoded = try EventEnvelope(serializedBytes: bytes)
        #expect(decoded == envelope)
        #expect(decoded.eventType == "slipway.training.v1.TrainingRunCreated")
        #expect(decoded.hasOccurredAt)
        #expect(decoded.occurredAt.nanos == 123_000_000)

        let payload = try decoded.payload(as: TrainingRunCreated.self)
        #expect(payload.runNumber == 3)
        #expect(payload.config.evaluatorConfig.blessingThreshold == 0.25)
        #expect(!payload.hasScheduleID)
    }

    @Test func jsonRoundTrip() throws {
        let envelope = try Self.sampleEnvelope()
        let json = try envelope.jsonString()
        #expect(json.contains("\"eventType\":\"slipway.training.v1.TrainingRunCreated\""))
        #expect(json.contains("\"occurredAt\":\"2026-09-21T"))
        let decoded = try EventEnvelope(jsonString: json)
        #expect(decoded == envelope)
    }

    @Test func payloadOfWrongTypeThrows() throws {
        let envelope = try Self.sampleEnvelope()
        #expect(
            throws: EventContractError.payloadTypeMismatch(
                expected: "slipway.training.v1.TrainingRunFailed",
                actual: "slipway.training.v1.TrainingRunCreated"
            )
        ) {
            _ = try envelope.payload(as: TrainingRunFailed.self)
        }
    }

    @Test func decodedPayloadUsesCatalog() throws {
        let envelope = try Self.sampleEnvelope()
        let message = try #require(try envelope.decodedPayload())
        let created = try #require(message as? TrainingRunCreated)
        #expect(created.modelName == "product-retrieval")

        var unknown = envelope
        unknown.eventType = "slipway.training.v1.NoSuchEvent"
        #expect(try unknown.decodedPayload() == nil)
    }

    @Test func batchRoundTripAndHasMoreAlias() throws {
        var batch = EventEnvelopeBatch()
        batch.events = [try Self.sampleEnvelope(), try Self.sampleEnvelope()]
        batch.events[1].sourcePosition = 43
        batch.lastPosition = 43
        batch.hasMore = true
        #expect(batch.hasMore_p)

        let decoded = try EventEnvelopeBatch(serializedBytes: try batch.serializedBytes() as [UInt8])
        #expect(decoded == batch)
        #expect(decoded.hasMore)
        #expect(decoded.events.map(\.sourcePosition) == [42, 43])
    }

    @Test func envelopeJSONInlinesPayload() throws {
        let envelope = try Self.sampleEnvelope()
        let json = try EventCatalog.envelopeJSON(envelope)
        // The result is one valid JSON object with the payload as an object.
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["eventType"] as? String == "slipway.training.v1.TrainingRunCreated")
        #expect(object["sourcePosition"] as? String == "42")
        let payload = try #require(object["payload"] as? [String: Any])
        #expect(payload["modelName"] as? String == "product-retrieval")
        #expect(payload["modelType"] as? String == "MODEL_TYPE_RETRIEVAL")

        // Unknown payload types keep protobuf JSON's base64 payload.
        var unknown = envelope
        unknown.eventType = "slipway.other.v1.Thing"
        let raw = try #require(
            try JSONSerialization.jsonObject(with: Data(EventCatalog.envelopeJSON(unknown).utf8))
                as? [String: Any])
        #expect(raw["payload"] as? String == envelope.payload.base64EncodedString())

        // An envelope with only a payload still yields a valid object.
        var bare = EventEnvelope()
        try bare.setPayload(StageSkipped())
        let bareJSON = try EventCatalog.envelopeJSON(bare)
        #expect(bareJSON == "{\"eventType\":\"slipway.training.v1.StageSkipped\",\"payload\":{}}")
    }
}
