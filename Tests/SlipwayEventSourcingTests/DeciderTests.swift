import Foundation
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

@Suite("Counter decider (pure)")
struct DeciderTests {
    enum Outcome: Sendable {
        case events([Counter.Event])
        case rejected(CommandRejected.Kind)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let given: [Counter.Event]
        let when: Counter.Command
        let then: Outcome
        let testDescription: String
    }

    static let cases: [Case] = [
        Case(given: [], when: .create(name: "a"), then: .events([.created(name: "a")]), testDescription: "create a new counter"),
        Case(given: [.created(name: "a")], when: .create(name: "a"), then: .rejected(.conflict), testDescription: "create twice conflicts"),
        Case(given: [], when: .create(name: ""), then: .rejected(.invalid), testDescription: "empty name is invalid"),
        Case(given: [], when: .increment(by: 1), then: .rejected(.notFound), testDescription: "increment a missing counter"),
        Case(given: [.created(name: "a")], when: .increment(by: 0), then: .rejected(.invalid), testDescription: "increment by zero"),
        Case(
            given: [.created(name: "a"), .incremented(by: 2)], when: .increment(by: 3), then: .events([.incremented(by: 3)]),
            testDescription: "increment"),
    ]

    @Test("given events, when command, then events or error", arguments: cases)
    func decide(_ testCase: Case) throws {
        let state = Counter.fold(testCase.given)
        switch testCase.then {
        case .events(let expected):
            #expect(try Counter.decide(testCase.when, state) == expected)
        case .rejected(let kind):
            let error = #expect(throws: CommandRejected.self) { try Counter.decide(testCase.when, state) }
            #expect(error?.kind == kind)
        }
    }

    @Test func foldSumsIncrements() {
        let state = Counter.fold([.created(name: "x"), .incremented(by: 2), .incremented(by: 5)])
        #expect(state == Counter.State(exists: true, name: "x", total: 7))
    }

    @Test func uuidV7IsTimeOrderedAndVersioned() {
        let first = UUID.v7(now: Date(timeIntervalSince1970: 1_700_000_000))
        let second = UUID.v7(now: Date(timeIntervalSince1970: 1_700_000_001))
        #expect(first.uuidString < second.uuidString)
        #expect(first.uuidString.dropFirst(14).first == "7")
    }
}
