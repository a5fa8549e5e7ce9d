import SlipwayContracts

/// A pure aggregate: commands are decided against the folded state, events evolve the state.
/// No I/O, clock or randomness inside: time and ids arrive on the command. Commands are the domain's
/// intents (`Rollback(to:reason:actor:)`), never event messages, and every rule about a command lives
/// in `decide`; `evolve` switches over the context's event enum exhaustively (no `default:`).
public protocol Decider {
    /// Sendable: a command may be decided by another writer's task when commits are grouped.
    associatedtype Command: Sendable
    /// The context's generated event enum (`DeployEvent`, `TrainingEvent`, …).
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
