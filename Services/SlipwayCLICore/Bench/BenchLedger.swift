import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// The benchmark's workload: accounts that receive deposits. Small fixed-size payloads, so the
/// figures measure the pipeline (store, outbox, relay, Kafka, projection), not serialization.
enum BenchAccount: Decider {
    enum Command {
        case deposit([Int64])
    }

    struct Deposited: EventCodable, Equatable {
        var amount: Int64
        var eventType: String { "slipway.bench.Deposited" }

        func encodePayload() throws -> [UInt8] {
            withUnsafeBytes(of: amount.littleEndian) { Array($0) }
        }

        static func decode(eventType: String, payload: [UInt8]) throws -> Deposited {
            guard eventType == "slipway.bench.Deposited", payload.count == 8 else { throw UnknownEventType(eventType) }
            return Deposited(amount: payload.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) })
        }
    }

    typealias Event = Deposited

    struct State {
        var balance: Int64 = 0
    }

    static let aggregateType = "bench-account"
    static let initial = State()

    static func decide(_ command: Command, _ state: State) throws -> [Deposited] {
        switch command {
        case .deposit(let amounts):
            guard amounts.allSatisfy({ $0 > 0 }) else { throw CommandRejected(field: "amount", "deposits must be positive") }
            return amounts.map(Deposited.init(amount:))
        }
    }

    static func evolve(_ state: State, _ event: Deposited) -> State {
        State(balance: state.balance + event.amount)
    }
}

/// Balances per account, applied set-wise: a batch is summed per account in memory and written with
/// one statement, which is what lets a replay fold a million events in seconds.
struct LedgerProjection: Projection {
    var name: String { "ledger" }

    var migrations: [Migration] {
        [
            Migration(
                1, "ledger accounts",
                [
                    "CREATE TABLE ledger_accounts (id text PRIMARY KEY, balance bigint NOT NULL, deposits bigint NOT NULL, version bigint NOT NULL)"
                ])
        ]
    }

    func apply(_ events: [Recorded<BenchAccount.Deposited>], on connection: PostgresConnection, logger: Logger) async throws {
        var totals: [String: (balance: Int64, deposits: Int64, version: Int64)] = [:]
        for recorded in events where recorded.aggregateType == BenchAccount.aggregateType {
            var entry = totals[recorded.aggregateID] ?? (0, 0, 0)
            entry.balance += recorded.event.amount
            entry.deposits += 1
            entry.version = max(entry.version, recorded.version)
            totals[recorded.aggregateID] = entry
        }
        guard !totals.isEmpty else { return }
        let ids = Array(totals.keys)
        let balances = ids.map { totals[$0]!.balance }
        let deposits = ids.map { totals[$0]!.deposits }
        let versions = ids.map { totals[$0]!.version }
        try await connection.query(
            """
            INSERT INTO ledger_accounts (id, balance, deposits, version)
            SELECT * FROM unnest(\(ids)::text[], \(balances)::bigint[], \(deposits)::bigint[], \(versions)::bigint[])
            ON CONFLICT (id) DO UPDATE SET balance = ledger_accounts.balance + EXCLUDED.balance,
                deposits = ledger_accounts.deposits + EXCLUDED.deposits, version = EXCLUDED.version
            """, logger: logger)
    }
}

/// The benchmark sink's projection: the ledger plus, per event, how long after its commit it became
/// visible here. Measurement only: never a read model to replay.
struct LatencyRecordingLedger: Projection {
    let ledger = LedgerProjection()
    var name: String { ledger.name }
    var migrations: [Migration] {
        ledger.migrations + [
            Migration(2, "latency samples", ["CREATE TABLE bench_latency (position bigint PRIMARY KEY, latency_us bigint NOT NULL)"])
        ]
    }

    func apply(_ events: [Recorded<BenchAccount.Deposited>], on connection: PostgresConnection, logger: Logger) async throws {
        try await ledger.apply(events, on: connection, logger: logger)
        let now = Date()
        let positions = events.map(\.envelope.sourcePosition)
        let latencies = events.map { Int64(now.timeIntervalSince($0.occurredAt) * 1_000_000) }
        try await connection.query(
            """
            INSERT INTO bench_latency (position, latency_us) SELECT * FROM unnest(\(positions)::bigint[], \(latencies)::bigint[])
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }
}
