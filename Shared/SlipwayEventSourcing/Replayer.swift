import Foundation
import Logging
import PostgresNIO
import SlipwayContracts

/// What a rebuild found: how much it folded, how long it took, and — with verify — how the rebuilt
/// tables compare with the live ones row by row.
public struct ReplayReport: Codable, Sendable {
    public struct TableComparison: Codable, Sendable {
        public var table: String
        public var liveRows: Int64
        public var replayRows: Int64
        public var onlyInLive: Int64
        public var onlyInReplay: Int64
        /// A few differing rows as JSON, to see what diverged.
        public var samples: [String]
        public var equal: Bool { onlyInLive == 0 && onlyInReplay == 0 }
    }

    public var projection: String
    public var schema: String
    public var events: Int
    public var seconds: Double
    public var eventsPerSecond: Double
    public var tables: [TableComparison]
    /// nil when verification was not asked for.
    public var verified: Bool?
    public var schemaKept: Bool
}

/// Rebuilds a read model from the log into a fresh schema and, on request, diffs it against the live one.
///
/// A replay runs in one REPEATABLE READ transaction: the live tables, the live checkpoints and this
/// service's own events are read from one snapshot, so commands committed while the replay runs cannot
/// make live and rebuilt differ. Without `keepSchema` the transaction is rolled back, which is also how
/// the scratch schema goes away.
public enum Replayer {
    public static let pageSize = 5000

    /// A service's own (inline) read model: every event of its store in sequence order.
    public static func replay(
        _ projection: any Projection, from store: EventStore, liveSchema: String = "public",
        verify: Bool, keepSchema: Bool = false, logger: Logger
    ) async throws -> ReplayReport {
        try await rebuild(projection, client: store.client, liveSchema: liveSchema, verify: verify, keepSchema: keepSchema, logger: logger) {
            connection, apply in
            var after: Int64 = 0
            while true {
                let page = try await store.allEvents(afterSequence: after, limit: pageSize, on: connection)
                guard let last = page.last else { break }
                after = last.sequence
                try await apply(page.map { $0.envelope(sourceService: store.service) })
            }
        }
    }

    /// A projection of other services' events: each source's feed up to the live checkpoint, so the
    /// rebuilt model describes the same point in the log as the live one.
    public static func replay(
        _ projection: any Projection, sources: [Projector.Source], client: PostgresClient, liveSchema: String = "public",
        verify: Bool, keepSchema: Bool = false, logger: Logger
    ) async throws -> ReplayReport {
        try await rebuild(projection, client: client, liveSchema: liveSchema, verify: verify, keepSchema: keepSchema, logger: logger) {
            connection, apply in
            for source in sources {
                let rows = try await connection.query(
                    """
                    SELECT position FROM slipway.projection_checkpoints WHERE projection = \(projection.name) AND source_service = \(source.service)
                    """, logger: logger)
                var target: Int64 = 0
                for try await position in rows.decode(Int64.self) { target = position }
                var after: Int64 = 0
                while after < target {
                    let page = try await source.feed.events(after: after, limit: min(pageSize, Int(target - after)))
                    guard let last = page.last else { break }
                    after = last.sourcePosition
                    try await apply(page)
                }
            }
        }
    }

    static func rebuild(
        _ projection: any Projection, client: PostgresClient, liveSchema: String, verify: Bool, keepSchema: Bool, logger: Logger,
        pages: (_ connection: PostgresConnection, _ apply: ([EventEnvelope]) async throws -> Void) async throws -> Void
    ) async throws -> ReplayReport {
        let schema = "replay_\(projection.name.filter { $0.isLetter || $0.isNumber })_\(Int(Date().timeIntervalSince1970 * 1000))"
        let started = ContinuousClock.now
        return try await client.withConnection { connection in
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ", logger: logger)
            do {
                // The snapshot is taken by the transaction's first statement: read the live side first.
                try await connection.query("SELECT 1 FROM slipway.events LIMIT 1", logger: logger)
                try await Migrator.createFresh(projection.migrations, schema: schema, on: connection, logger: logger)
                var count = 0
                try await pages(connection) { events in
                    count += events.count
                    try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(quoteIdentifier(schema))"), logger: logger)
                    try await projection.apply(envelopes: events, on: connection, logger: logger)
                }
                let seconds = (ContinuousClock.now - started).seconds
                let tables = verify ? try await compare(schema: schema, with: liveSchema, on: connection, logger: logger) : []
                try await connection.query(keepSchema ? "COMMIT" : "ROLLBACK", logger: logger)
                return ReplayReport(
                    projection: projection.name, schema: schema, events: count, seconds: seconds,
                    eventsPerSecond: seconds > 0 ? Double(count) / seconds : 0, tables: tables,
                    verified: verify ? tables.allSatisfy(\.equal) : nil, schemaKept: keepSchema)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    static func compare(schema: String, with liveSchema: String, on connection: PostgresConnection, logger: Logger) async throws -> [ReplayReport
        .TableComparison]
    {
        var names: [String] = []
        let rows = try await connection.query(
            """
            SELECT table_name::text FROM information_schema.tables WHERE table_schema = \(schema) ORDER BY table_name
            """, logger: logger)
        for try await name in rows.decode(String.self) { names.append(name) }
        var result: [ReplayReport.TableComparison] = []
        for name in names {
            let live = "\(quoteIdentifier(liveSchema)).\(quoteIdentifier(name))"
            let replay = "\(quoteIdentifier(schema)).\(quoteIdentifier(name))"
            let counts = try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT (SELECT count(*) FROM \(live)), (SELECT count(*) FROM \(replay)),
                               (SELECT count(*) FROM (SELECT * FROM \(live) EXCEPT ALL SELECT * FROM \(replay)) d),
                               (SELECT count(*) FROM (SELECT * FROM \(replay) EXCEPT ALL SELECT * FROM \(live)) d)
                        """), logger: logger)
            var comparison = ReplayReport.TableComparison(table: name, liveRows: 0, replayRows: 0, onlyInLive: 0, onlyInReplay: 0, samples: [])
            for try await (liveRows, replayRows, onlyLive, onlyReplay) in counts.decode((Int64, Int64, Int64, Int64).self) {
                comparison.liveRows = liveRows
                comparison.replayRows = replayRows
                comparison.onlyInLive = onlyLive
                comparison.onlyInReplay = onlyReplay
            }
            if !comparison.equal {
                let samples = try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            (SELECT 'live: ' || row_to_json(d)::text FROM (SELECT * FROM \(live) EXCEPT ALL SELECT * FROM \(replay)) d LIMIT 3)
                            UNION ALL
                            (SELECT 'replay: ' || row_to_json(d)::text FROM (SELECT * FROM \(replay) EXCEPT ALL SELECT * FROM \(live)) d LIMIT 3)
                            """), logger: logger)
                for try await sample in samples.decode(String.self) { comparison.samples.append(sample) }
            }
            result.append(comparison)
        }
        return result
    }
}

extension Duration {
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
