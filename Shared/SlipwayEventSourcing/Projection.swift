import Foundation
import Logging
import PostgresNIO
import SlipwayContracts

/// A read model folded from events. `apply` runs inside the transaction that also advances the
/// checkpoint (or, for a service's own inline read model, inside the command's transaction), with
/// `search_path` set to the schema being written: the live one, or a fresh one during a replay.
/// So table names in `migrations` and `apply` are unqualified, and rows must derive from events only
/// (no `now()`), or a replay could never equal the live model.
///
/// `Event` is the generated enum of the context the projection folds (`DeployEvent`), or
/// `SlipwayEvent` when it folds several; `apply` switches over it exhaustively, so a new event is a
/// decision, not a silent skip.
public protocol Projection: Sendable {
    associatedtype Event: EventCodable
    /// Names the checkpoint rows and the migration component.
    var name: String { get }
    var migrations: [Migration] { get }
    /// Events arrive in source order.
    func apply(_ events: [Recorded<Event>], on connection: PostgresConnection, logger: Logger) async throws
}

/// An event with what the log knows about it.
public struct Recorded<Event: Sendable>: Sendable {
    public let event: Event
    public let envelope: EventEnvelope

    public init(_ event: Event, envelope: EventEnvelope) {
        self.event = event
        self.envelope = envelope
    }

    public var aggregateType: String { envelope.aggregateType }
    public var aggregateID: String { envelope.aggregateID }
    /// The aggregate's version after this event.
    public var version: Int64 { envelope.aggregateVersion }
    /// Aligned as `Date.microsecondAligned` says: the same instant live and in a replay.
    public var occurredAt: Date { envelope.occurredDate }
    public var eventID: String { envelope.eventID }
    public var correlationID: String { envelope.correlationID }
    /// Who caused the event; empty for events recorded before actors were kept.
    public var actor: String { envelope.actor }
}

extension Projection {
    public var migrationSet: MigrationSet { MigrationSet(component: "read-model.\(name)", migrations: migrations) }

    /// Decodes envelopes as this projection's events and applies them. An event type the projection's
    /// family does not know (a newer producer's) is skipped: events evolve additively.
    public func apply(envelopes: [EventEnvelope], on connection: PostgresConnection, logger: Logger) async throws {
        var recorded: [Recorded<Event>] = []
        recorded.reserveCapacity(envelopes.count)
        for envelope in envelopes {
            do {
                recorded.append(Recorded(try envelope.decode(as: Event.self), envelope: envelope))
            } catch let unknown as UnknownEventType {
                logger.debug("projection skips an unknown event type", metadata: [LogKey.eventType: "\(unknown.eventType)"])
            }
        }
        if !recorded.isEmpty { try await apply(recorded, on: connection, logger: logger) }
    }
}

extension PostgresConnection {
    /// Whether a projection's `apply` runs on the live schema (`public`) rather than a replay's scratch one: reactions
    /// (commands caused by another service's events) run only on the live one, so a replay commands nothing.
    public func isLiveSchema(_ live: String = "public", logger: Logger) async throws -> Bool {
        let rows = try await query("SELECT current_schema()::text", logger: logger)
        for try await schema in rows.decode(String.self) { return schema == live }
        return false
    }
}
