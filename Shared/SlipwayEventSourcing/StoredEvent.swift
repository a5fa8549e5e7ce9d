import Foundation
import SlipwayContracts
import SwiftProtobuf

/// One row of a service's event store.
public struct StoredEvent: Sendable {
    public var sequence: Int64
    public var eventID: UUID
    public var aggregateType: String
    public var aggregateID: String
    public var version: Int64
    public var eventType: String
    public var schemaVersion: Int32
    public var payload: [UInt8]
    public var occurredAt: Date
    public var correlationID: String
    public var causationID: String
    /// Assigned by the outbox relay when it publishes; nil until then.
    public var sourcePosition: Int64?

    public func envelope(sourceService: String) -> EventEnvelope {
        var envelope = EventEnvelope()
        envelope.eventID = eventID.uuidString.lowercased()
        envelope.eventType = eventType
        envelope.aggregateType = aggregateType
        envelope.aggregateID = aggregateID
        envelope.aggregateVersion = version
        envelope.sourceService = sourceService
        envelope.sourcePosition = sourcePosition ?? 0
        envelope.occurredAt = Google_Protobuf_Timestamp(date: occurredAt)
        envelope.correlationID = correlationID
        envelope.causationID = causationID
        envelope.schemaVersion = schemaVersion
        envelope.payload = Data(payload)
        return envelope
    }
}

extension EventEnvelope {
    /// Decodes the payload as the given event family.
    public func decode<Event: EventCodable>(as _: Event.Type) throws -> Event {
        try Event.decode(eventType: eventType, payload: [UInt8](payload))
    }

    public var occurredDate: Date { occurredAt.date }
}
