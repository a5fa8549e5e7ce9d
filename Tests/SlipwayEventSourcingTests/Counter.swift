import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// A small aggregate that exists only to exercise the kit: a named counter that can be incremented.
enum Counter: Decider {
    enum Command {
        case create(name: String)
        case increment(by: Int64)
    }

    enum Event: EventCodable, Equatable {
        case created(name: String)
        case incremented(by: Int64)

        var eventType: String {
            switch self {
            case .created: return "test.CounterCreated"
            case .incremented: return "test.CounterIncremented"
            }
        }

        struct Body: Codable {
            var name: String?
            var by: Int64?
        }

        func encodePayload() throws -> [UInt8] {
            switch self {
            case .created(let name): return Array(try JSONEncoder().encode(Body(name: name)))
            case .incremented(let by): return Array(try JSONEncoder().encode(Body(by: by)))
            }
        }

        static func decode(eventType: String, payload: [UInt8]) throws -> Event {
            let body = try JSONDecoder().decode(Body.self, from: Data(payload))
            switch eventType {
            case "test.CounterCreated": return .created(name: body.name ?? "")
            case "test.CounterIncremented": return .incremented(by: body.by ?? 0)
            default: throw UnknownEventType(eventType)
            }
        }
    }

    struct State: Equatable {
        var exists = false
        var name = ""
        var total: Int64 = 0
    }

    static let aggregateType = "counter"
    static let initial = State()

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch command {
        case .create(let name):
            guard !state.exists else { throw CommandRejected(.conflict, "counter already exists") }
            guard !name.isEmpty else { throw CommandRejected(.invalid, field: "name", "name must not be empty") }
            return [.created(name: name)]
        case .increment(let by):
            guard state.exists else { throw CommandRejected(.notFound, "no such counter") }
            guard by > 0 else { throw CommandRejected(.invalid, field: "by", "by must be positive") }
            return [.incremented(by: by)]
        }
    }

    static func evolve(_ state: State, _ event: Event) -> State {
        var state = state
        switch event {
        case .created(let name):
            state.exists = true
            state.name = name
        case .incremented(let by):
            state.total += by
        }
        return state
    }
}

/// The counters' read model: one row per counter. Used both inline and as another service's projection.
struct CounterTotals: Projection {
    var name: String = "counter_totals"

    var migrations: [Migration] {
        [
            Migration(
                1, "counters",
                [
                    "CREATE TABLE counters (id text PRIMARY KEY, name text NOT NULL, total bigint NOT NULL, events bigint NOT NULL, version bigint NOT NULL)"
                ])
        ]
    }

    func apply(_ events: [Recorded<Counter.Event>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events where recorded.aggregateType == Counter.aggregateType {
            switch recorded.event {
            case .created(let name):
                try await connection.query(
                    """
                    INSERT INTO counters (id, name, total, events, version) VALUES (\(recorded.aggregateID), \(name), 0, 1, \(recorded.version))
                    """, logger: logger)
            case .incremented(let by):
                try await connection.query(
                    """
                    UPDATE counters SET total = total + \(by), events = events + 1, version = \(recorded.version)
                    WHERE id = \(recorded.aggregateID)
                    """, logger: logger)
            }
        }
    }
}

struct CounterRow: Equatable, CustomStringConvertible {
    var id: String
    var name: String
    var total: Int64
    var events: Int64
    var version: Int64
    var description: String { "\(id)(\(name)) total=\(total) events=\(events) v\(version)" }
}

func counterRows(_ client: PostgresClient, logger: Logger) async throws -> [CounterRow] {
    let rows = try await client.query("SELECT id, name, total, events, version FROM counters ORDER BY id", logger: logger)
    var result: [CounterRow] = []
    for try await (id, name, total, events, version) in rows.decode((String, String, Int64, Int64, Int64).self) {
        result.append(CounterRow(id: id, name: name, total: total, events: events, version: version))
    }
    return result
}
