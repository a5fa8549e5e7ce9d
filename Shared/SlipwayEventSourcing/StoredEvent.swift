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
    /// Who caused the event (`CommandMetadata.actor`); empty for events recorded before actors were kept.
    public var actor: String
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
        envelope.actor = actor
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

    /// The event's time, aligned as `Date.microsecondAligned` says, so a read model stores the same
    /// instant whether it applies the command's envelope or a replayed one.
    public var occurredDate: Date { occurredAt.date.microsecondAligned }
}

extension Date {
    /// PostgreSQL keeps whole microseconds, and PostgresNIO converts through a Double and truncates, so
    /// an instant can come back one microsecond early. Half a microsecond past a whole one sits far
    /// from both truncation edges (a Date near today resolves ~0.12 µs), and realigning any value
    /// within ±0.25 µs of either form gives the same date: every round trip is exact.
    public var microsecondAligned: Date {
        let micros = (timeIntervalSinceReferenceDate * 1_000_000 + 0.25).rounded(.down)
        return Date(timeIntervalSinceReferenceDate: (micros + 0.5) / 1_000_000)
    }
}
