/// A pure aggregate: commands are decided against the folded state, events evolve the state.
/// No I/O, clock or randomness inside: time and ids arrive on the command.
public protocol Decider {
    /// Sendable: a command may be decided by another writer's task when commits are grouped.
    associatedtype Command: Sendable
    associatedtype Event: EventCodable
    associatedtype State

    /// Stored with every event; also the Kafka envelope's `aggregate_type`.
    static var aggregateType: String { get }
    static var initial: State { get }
    static func decide(_ command: Command, _ state: State) throws -> [Event]
    static func evolve(_ state: State, _ event: Event) -> State
}

extension Decider {
    public static func fold(_ events: some Sequence<Event>) -> State {
        events.reduce(initial, evolve)
    }
}

/// How an event travels: a type name (the payload message's full name) and its serialized bytes.
public protocol EventCodable: Sendable {
    var eventType: String { get }
    func encodePayload() throws -> [UInt8]
    static func decode(eventType: String, payload: [UInt8]) throws -> Self
}

public struct UnknownEventType: Error, CustomStringConvertible {
    public let eventType: String
    public init(_ eventType: String) { self.eventType = eventType }
    public var description: String { "unknown event type \(eventType)" }
}
