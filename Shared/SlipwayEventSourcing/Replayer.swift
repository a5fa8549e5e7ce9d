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
public enum Replayer {
    public static let pageSize = 5000

    /// A service's own (inline) read model: every event of its store in sequence order.
    public static func replay(
        _ projection: any Projection, from store: EventStore, liveSchema: String = "public",
        verify: Bool, keepSchema: Bool = false, logger: Logger
    ) async throws -> ReplayReport {
        try await rebuild(projection, client: store.client, liveSchema: liveSchema, verify: verify, keepSchema: keepSchema, logger: logger) { apply in
            var after: Int64 = 0
            while true {
                let page = try await store.allEvents(afterSequence: after, limit: pageSize)
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
        var targets: [String: Int64] = [:]
        for source in sources {
            let rows = try await client.query("""
                SELECT position FROM slipway.projection_checkpoints WHERE projection = \(projection.name) AND source_service = \(source.service)
                """, logger: logger)
            for try await position in rows.decode(Int64.self) { targets[source.service] = position }
        }
        return try await rebuild(projection, client: client, liveSchema: liveSchema, verify: verify, keepSchema: keepSchema, logger: logger) { apply in
            for source in sources {
                let target = targets[source.service] ?? 0
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
        pages: (_ apply: ([EventEnvelope]) async throws -> Void) async throws -> Void
    ) async throws -> ReplayReport {
        let schema = "replay_\(projection.name.filter { $0.isLetter || $0.isNumber })_\(Int(Date().timeIntervalSince1970 * 1000))"
        let started = ContinuousClock.now
        try await client.withTransaction(logger: logger) { connection in
            try await Migrator.createFresh(projection.migrations, schema: schema, on: connection, logger: logger)
        }
        var count = 0
        do {
            try await pages { events in
                count += events.count
                try await client.withTransaction(logger: logger) { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(quoteIdentifier(schema))"), logger: logger)
                    try await projection.apply(events, on: connection, logger: logger)
                }
            }
        } catch {
            try? await dropSchema(schema, client: client, logger: logger)
            throw error
        }
        let seconds = (ContinuousClock.now - started).seconds
        var tables: [ReplayReport.TableComparison] = []
        if verify {
            tables = try await compare(schema: schema, with: liveSchema, client: client, logger: logger)
        }
        if !keepSchema { try await dropSchema(schema, client: client, logger: logger) }
        return ReplayReport(
            projection: projection.name, schema: schema, events: count, seconds: seconds,
            eventsPerSecond: seconds > 0 ? Double(count) / seconds : 0, tables: tables,
            verified: verify ? tables.allSatisfy(\.equal) : nil, schemaKept: keepSchema)
    }

    static func compare(schema: String, with liveSchema: String, client: PostgresClient, logger: Logger) async throws -> [ReplayReport.TableComparison] {
        var names: [String] = []
        let rows = try await client.query("""
            SELECT table_name::text FROM information_schema.tables WHERE table_schema = \(schema) ORDER BY table_name
            """, logger: logger)
        for try await name in rows.decode(String.self) { names.append(name) }
        var result: [ReplayReport.TableComparison] = []
        for name in names {
            let live = "\(quoteIdentifier(liveSchema)).\(quoteIdentifier(name))"
            let replay = "\(quoteIdentifier(schema)).\(quoteIdentifier(name))"
            let counts = try await client.query(PostgresQuery(unsafeSQL: """
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
                let samples = try await client.query(PostgresQuery(unsafeSQL: """
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

    static func dropSchema(_ schema: String, client: PostgresClient, logger: Logger) async throws {
        try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(quoteIdentifier(schema)) CASCADE"), logger: logger)
    }
}

extension Duration {
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
