import Foundation
import Logging
import Metrics
import NIOCore
import PostgresNIO
import SlipwayContracts

/// Who asked, and why: travels into every event the command causes.
public struct CommandMetadata: Sendable {
    public var correlationID: String
    public var causationID: String
    public var now: Date
    /// When set, the command applies only if the aggregate is at exactly this version (HTTP If-Match).
    public var expectedVersion: Int64?

    public init(correlationID: String = UUID.v7().uuidString.lowercased(), causationID: String = "", now: Date = Date(), expectedVersion: Int64? = nil) {
        self.correlationID = correlationID
        self.causationID = causationID
        self.now = now
        self.expectedVersion = expectedVersion
    }
}

public struct CommandOutcome<D: Decider> {
    public let events: [StoredEvent]
    public let state: D.State
    /// The aggregate's version after the command.
    public let version: Int64
}

/// A service's event store in its own PostgreSQL database: append-only events with
/// `UNIQUE(aggregate_type, aggregate_id, version)`, the transactional outbox, and the feed
/// that other services backfill from.
public final class EventStore: Sendable {
    public let service: String
    public let client: PostgresClient
    let logger: Logger
    let maxAttempts: Int
    /// Wakes the in-process outbox relay after a commit so it does not wait for its next poll.
    let commits: CommitSignal
    let conflicts: Counter

    public init(service: String, client: PostgresClient, logger: Logger, maxAttempts: Int = 4) {
        self.service = service
        self.client = client
        self.logger = logger
        self.maxAttempts = maxAttempts
        self.commits = CommitSignal()
        self.conflicts = Counter(label: "command.conflicts", dimensions: [("service", service)])
    }

    public static let migrations = MigrationSet(component: "slipway.event-store", migrations: [
        Migration(1, "events and outbox", [
            """
            CREATE TABLE slipway.events (
                sequence bigserial PRIMARY KEY,
                event_id uuid NOT NULL UNIQUE,
                aggregate_type text NOT NULL,
                aggregate_id text NOT NULL,
                version bigint NOT NULL,
                event_type text NOT NULL,
                schema_version integer NOT NULL DEFAULT 1,
                payload bytea NOT NULL,
                occurred_at timestamptz NOT NULL,
                correlation_id text NOT NULL DEFAULT '',
                causation_id text NOT NULL DEFAULT '',
                source_position bigint UNIQUE,
                UNIQUE (aggregate_type, aggregate_id, version))
            """,
            // The outbox holds what the relay has not yet seen delivered; the event row is the content.
            "CREATE TABLE slipway.outbox (sequence bigint PRIMARY KEY REFERENCES slipway.events (sequence))",
            """
            CREATE TABLE slipway.projection_checkpoints (
                projection text NOT NULL,
                source_service text NOT NULL,
                position bigint NOT NULL DEFAULT 0,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (projection, source_service))
            """,
        ]),
    ])

    // MARK: Reading

    public func events(aggregateType: String, aggregateID: String) async throws -> [StoredEvent] {
        let rows = try await client.query("""
            SELECT \(unescaped: Self.columns) FROM slipway.events
            WHERE aggregate_type = \(aggregateType) AND aggregate_id = \(aggregateID) ORDER BY version
            """, logger: logger)
        return try await Self.decodeRows(rows)
    }

    /// Published events after `position`, in position order: the feed behind `GET /internal/events`.
    public func feed(after position: Int64, limit: Int) async throws -> [StoredEvent] {
        let rows = try await client.query("""
            SELECT \(unescaped: Self.columns) FROM slipway.events
            WHERE source_position > \(position) ORDER BY source_position LIMIT \(limit)
            """, logger: logger)
        return try await Self.decodeRows(rows)
    }

    /// Every event in commit order of its aggregate (by sequence), published or not: what a replay of
    /// this service's own read model folds.
    public func allEvents(afterSequence sequence: Int64, limit: Int) async throws -> [StoredEvent] {
        let rows = try await client.query("""
            SELECT \(unescaped: Self.columns) FROM slipway.events
            WHERE sequence > \(sequence) ORDER BY sequence LIMIT \(limit)
            """, logger: logger)
        return try await Self.decodeRows(rows)
    }

    // MARK: Writing

    /// The write path: load, fold, decide, then in one transaction append with the expected version,
    /// write the outbox and update the inline read model. A lost race is retried on fresh state;
    /// a caller-supplied expected version is never retried.
    @discardableResult
    public func execute<D: Decider>(
        _ decider: D.Type,
        aggregateID: String,
        command: D.Command,
        metadata: CommandMetadata,
        readModel: (any Projection)? = nil
    ) async throws -> CommandOutcome<D> {
        var attempt = 0
        while true {
            attempt += 1
            let history = try await events(aggregateType: D.aggregateType, aggregateID: aggregateID)
            let decoded = try history.map { try D.Event.decode(eventType: $0.eventType, payload: $0.payload) }
            let currentVersion = history.last?.version ?? 0
            if let expected = metadata.expectedVersion, expected != currentVersion {
                throw ConcurrencyConflict(aggregateType: D.aggregateType, aggregateID: aggregateID, expectedVersion: expected, actualVersion: currentVersion)
            }
            let state = D.fold(decoded)
            let newEvents = try D.decide(command, state)
            if newEvents.isEmpty {
                return CommandOutcome(events: [], state: state, version: currentVersion)
            }
            let stored = try newEvents.enumerated().map { offset, event in
                StoredEvent(
                    sequence: 0, eventID: UUID.v7(now: metadata.now), aggregateType: D.aggregateType, aggregateID: aggregateID,
                    version: currentVersion + Int64(offset) + 1, eventType: event.eventType, schemaVersion: 1,
                    payload: try event.encodePayload(), occurredAt: metadata.now,
                    correlationID: metadata.correlationID, causationID: metadata.causationID, sourcePosition: nil)
            }
            do {
                try await append(stored, readModel: readModel)
                commits.signal()
                return CommandOutcome(events: stored, state: newEvents.reduce(state, D.evolve), version: stored.last!.version)
            } catch let error where isUniqueViolation(error) {
                conflicts.increment()
                if metadata.expectedVersion != nil || attempt >= maxAttempts {
                    throw ConcurrencyConflict(aggregateType: D.aggregateType, aggregateID: aggregateID, expectedVersion: currentVersion, actualVersion: nil)
                }
                logger.debug("command conflict, retrying", metadata: ["slipway.aggregate.id": "\(aggregateID)", "slipway.attempt": "\(attempt)"])
            }
        }
    }

    /// Appends already-versioned events (all of one aggregate) with their outbox rows and the
    /// inline read model update, atomically.
    public func append(_ events: [StoredEvent], readModel: (any Projection)? = nil) async throws {
        guard let first = events.first else { return }
        var payloads: [ByteBuffer] = []
        payloads.reserveCapacity(events.count)
        for event in events { payloads.append(ByteBuffer(bytes: event.payload)) }
        let eventIDs = events.map(\.eventID)
        let versions = events.map(\.version)
        let types = events.map(\.eventType)
        let schemaVersions = events.map(\.schemaVersion)
        let occurred = events.map(\.occurredAt)
        let correlations = events.map(\.correlationID)
        let causations = events.map(\.causationID)
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("""
                WITH inserted AS (
                    INSERT INTO slipway.events (event_id, aggregate_type, aggregate_id, version, event_type, schema_version,
                                                payload, occurred_at, correlation_id, causation_id)
                    SELECT e.event_id, \(first.aggregateType), \(first.aggregateID), e.version, e.event_type, e.schema_version,
                           e.payload, e.occurred_at, e.correlation_id, e.causation_id
                    FROM unnest(\(eventIDs)::uuid[], \(versions)::bigint[], \(types)::text[], \(schemaVersions)::integer[],
                                \(payloads)::bytea[], \(occurred)::timestamptz[], \(correlations)::text[], \(causations)::text[])
                         AS e(event_id, version, event_type, schema_version, payload, occurred_at, correlation_id, causation_id)
                    RETURNING sequence)
                INSERT INTO slipway.outbox (sequence) SELECT sequence FROM inserted
                """, logger: logger)
            if let readModel {
                try await readModel.apply(events.map { $0.envelope(sourceService: service) }, on: connection, logger: logger)
            }
        }
    }

    // MARK: Rows

    static let columns = """
        sequence, event_id, aggregate_type, aggregate_id, version, event_type, schema_version, payload,
        occurred_at, correlation_id, causation_id, source_position
        """

    static func decodeRows(_ rows: PostgresRowSequence) async throws -> [StoredEvent] {
        var result: [StoredEvent] = []
        for try await (sequence, eventID, aggregateType, aggregateID, version, eventType, schemaVersion, payload, occurredAt, correlationID, causationID, position)
            in rows.decode((Int64, UUID, String, String, Int64, String, Int32, ByteBuffer, Date, String, String, Int64?).self)
        {
            result.append(StoredEvent(
                sequence: sequence, eventID: eventID, aggregateType: aggregateType, aggregateID: aggregateID, version: version,
                eventType: eventType, schemaVersion: schemaVersion, payload: Array(payload.readableBytesView), occurredAt: occurredAt,
                correlationID: correlationID, causationID: causationID, sourcePosition: position))
        }
        return result
    }
}

/// SQLSTATE 23505, wherever PostgresNIO wrapped it (a transaction error carries the closure's error).
public func isUniqueViolation(_ error: any Error) -> Bool {
    sqlState(of: error) == "23505"
}

public func sqlState(of error: any Error) -> String? {
    if let error = error as? PSQLError { return error.serverInfo?[.sqlState] }
    if let error = error as? PostgresTransactionError {
        if let inner = error.closureError, let state = sqlState(of: inner) { return state }
        if let inner = error.commitError, let state = sqlState(of: inner) { return state }
    }
    return nil
}

extension EventStore {
    /// One aggregate's history, published or not, in order: "what happened to deployment 12".
    public func history(aggregateID: String, aggregateType: String? = nil) async throws -> [StoredEvent] {
        if let aggregateType { return try await events(aggregateType: aggregateType, aggregateID: aggregateID) }
        let rows = try await client.query("""
            SELECT \(unescaped: Self.columns) FROM slipway.events WHERE aggregate_id = \(aggregateID) ORDER BY sequence
            """, logger: logger)
        return try await Self.decodeRows(rows)
    }
}
