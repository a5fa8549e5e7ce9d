import SlipwayEventSourcing
import Testing

/// Given events, when a command, then events — the shape of every decider test. Use in tables with
/// `@Test(arguments:)`:
///
///     #expect(try decide(EndpointDecider.self, given: [.endpointCreated(created)], when: .undeploy(...)) == [...])
///     expectRejection(EndpointDecider.self, given: history, when: command, kind: .conflict, field: "version")
public func decide<D: Decider>(_ decider: D.Type, given history: [D.Event], when command: D.Command) throws -> [D.Event] {
    try D.decide(command, D.fold(history))
}

/// The state after `history` and the events `command` decides, applied.
public func stateAfter<D: Decider>(_ decider: D.Type, given history: [D.Event], when command: D.Command) throws -> D.State {
    let state = D.fold(history)
    return try D.decide(command, state).reduce(state, D.evolve)
}

/// Records an issue unless deciding `command` after `history` is rejected as `kind` naming `field`
/// (nil: any field). Returns the rejection for further checks.
@discardableResult
public func expectRejection<D: Decider>(
    _ decider: D.Type, given history: [D.Event], when command: D.Command, kind: CommandRejected.Kind, field: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) -> CommandRejected? {
    do {
        let events = try decide(decider, given: history, when: command)
        Issue.record("expected a \(kind) rejection, got \(events.count) event(s): \(events)", sourceLocation: sourceLocation)
        return nil
    } catch let rejected as CommandRejected {
        #expect(rejected.kind == kind, "\(rejected.message)", sourceLocation: sourceLocation)
        if let field { #expect(rejected.field == field, "\(rejected.message)", sourceLocation: sourceLocation) }
        return rejected
    } catch {
        Issue.record("expected a \(kind) rejection, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// The events `commands` make, each decided on the state the ones before left (after `earlier`): a way
/// to write a test's history as a story of commands.
public func history<D: Decider>(_ decider: D.Type, _ commands: [D.Command], after earlier: [D.Event] = []) throws -> [D.Event] {
    var state = D.fold(earlier)
    var events: [D.Event] = []
    for command in commands {
        let decided = try D.decide(command, state)
        state = decided.reduce(state, D.evolve)
        events += decided
    }
    return events
}

/// One row of a refusal table: after the `given` commands, `when` is rejected as `kind` naming
/// `field` (nil: any field). Check a row with `expectRejection(_:)`.
public struct Refusal<D: Decider>: Sendable, CustomTestStringConvertible where D.Command: Sendable {
    public let name: String
    public let given: [D.Command]
    public let when: D.Command
    public let kind: CommandRejected.Kind
    public let field: String?

    public init(name: String, given: [D.Command], when: D.Command, kind: CommandRejected.Kind, field: String?) {
        self.name = name
        self.given = given
        self.when = when
        self.kind = kind
        self.field = field
    }

    public var testDescription: String { name }
}

/// Records an issue unless the refusal's command is rejected as it says.
public func expectRejection<D: Decider>(_ refusal: Refusal<D>, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let history = try history(D.self, refusal.given)
    expectRejection(D.self, given: history, when: refusal.when, kind: refusal.kind, field: refusal.field, sourceLocation: sourceLocation)
}
