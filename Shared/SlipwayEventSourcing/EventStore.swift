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
    /// Who caused the command: the user the gateway authenticated (`X-Slipway-Actor`), or the name of
    /// the service or worker that causes it by itself (a timer, a reaction). Stored on every event.
    public var actor: String
    public var now: Date
    /// When set, the command applies only if the aggregate is at exactly this version (HTTP If-Match).
    public var expectedVersion: Int64?

    public init(
        correlationID: String = UUID.v7().uuidString.lowercased(), causationID: String = "", actor: String = "", now: Date = Date(),
        expectedVersion: Int64? = nil
    ) {
        self.correlationID = correlationID
        self.causationID = causationID
        self.actor = actor
        // Stored in the event table and in read models alike: aligned once, equal everywhere.
        self.now = now.microsecondAligned
        self.expectedVersion = expectedVersion
    }
}

/// Carries a command's typed result out of the type-erased write job.
final class OutcomeBox<D: Decider>: @unchecked Sendable {
    // Written once by the job (inside the batch) before the writer reads it; the batch's completion
    // (a continuation resume) orders the two.
    private var state: D.State?
    private var version: Int64 = 0

    func set(state: D.State, version: Int64) {
        self.state = state
        self.version = version
    }

    func get() -> (D.State, Int64) { (state!, version) }
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
    let commits: WakeSignal
    let conflicts: Counter
    /// This service's own read model, updated in every command's transaction.
    /// `concurrentBatches`: group-commit transactions in flight at once. One measured best on 2 cores
    /// (bigger batches, fewer round trips); more can help where PostgreSQL has cores to spare.
    public let readModel: (any Projection)?
    let batcher: WriteBatcher
    let stateCache: StateCache

    public init(
        service: String, client: PostgresClient, logger: Logger, readModel: (any Projection)? = nil,
        maxAttempts: Int = 4, maxBatch: Int = 256, concurrentBatches: Int = 1, cachedAggregates: Int = 50_000
    ) {
        self.stateCache = StateCache(capacity: cachedAggregates)
        self.service = service
        self.client = client
        self.logger = logger
        self.readModel = readModel
        self.maxAttempts = maxAttempts
        self.batcher = WriteBatcher(maxBatch: maxBatch, maxLeaders: concurrentBatches)
        self.commits = WakeSignal()
        self.conflicts = Counter(label: "command.conflicts", dimensions: [("service", service)])
    }

    public static let migrations = MigrationSet(
        component: "slipway.event-store",
        migrations: [
            Migration(
                1, "events and outbox",
                [
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
            // A commit by any process on this database wakes the leading relay (`OutboxRelay.notificationChannel`), so it
            // need not poll for other replicas' commits. Once per statement, delivered at commit (none on rollback).
            Migration(
                2, "outbox commits notify the relay",
                [
                    """
                    CREATE FUNCTION slipway.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN PERFORM pg_notify('slipway_outbox', ''); RETURN NULL; END $$
                    """,
                    "CREATE TRIGGER outbox_notify AFTER INSERT ON slipway.outbox FOR EACH STATEMENT EXECUTE FUNCTION slipway.notify_outbox()",
                ]),
            // Who caused each event (`CommandMetadata.actor`); events recorded before keep ''.
            Migration(3, "events record their actor", ["ALTER TABLE slipway.events ADD COLUMN actor text NOT NULL DEFAULT ''"]),
        ])

    // MARK: Reading

    public func events(aggregateType: String, aggregateID: String) async throws -> [StoredEvent] {
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.columns) FROM slipway.events
            WHERE aggregate_type = \(aggregateType) AND aggregate_id = \(aggregateID) ORDER BY version
            """, logger: logger)
        return try await Self.decodeRows(rows)
    }

    /// An aggregate's current state folded from its committed events, for reads that need the decider's view.
    public func state<D: Decider>(_ decider: D.Type, aggregateID: String) async throws -> D.State {
        let stored = try await events(aggregateType: D.aggregateType, aggregateID: aggregateID)
        return D.fold(try stored.map { try D.Event.decode(eventType: $0.eventType, payload: $0.payload) })
    }

    /// Published events after `position`, in position order: the feed behind `GET /internal/events`.
    public func feed(after position: Int64, limit: Int) async throws -> [StoredEvent] {
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.columns) FROM slipway.events
            WHERE source_position > \(position) ORDER BY source_position LIMIT \(limit)
            """, logger: logger)
        return try await Self.decodeRows(rows)
    }

    /// Every event in commit order of its aggregate (by sequence), published or not: what a replay of
    /// this service's own read model folds.
    public func allEvents(afterSequence sequence: Int64, limit: Int, on connection: PostgresConnection) async throws -> [StoredEvent] {
        let rows = try await connection.query(
            """
            SELECT \(unescaped: Self.columns) FROM slipway.events
            WHERE sequence > \(sequence) ORDER BY sequence LIMIT \(limit)
            """, logger: logger)
        return try await Self.decodeRows(rows)
    }

    // MARK: Writing

    /// The write path: load, fold, decide, then in one transaction append with the expected version,
    /// write the outbox and update the inline read model. Concurrent commands share a transaction
    /// (group commit, see `WriteBatcher`); a batch that loses a race to another writer is retried one
    /// command at a time on fresh state, where a command with a caller-supplied expected version that
    /// is now stale fails with `ConcurrencyConflict` instead of being applied to the newer state.
    @discardableResult
    public func execute<D: Decider>(
        _ decider: D.Type,
        aggregateID: String,
        command: D.Command,
        metadata: CommandMetadata
    ) async throws -> CommandOutcome<D> {
        let (job, result) = Self.job(decider, aggregateID: aggregateID, command: command, metadata: metadata)
        let events = try await batcher.submit(job) { batch in await self.commit(batch) }
        let (state, version) = result.get()
        return CommandOutcome(events: events, state: state, version: version)
    }

    /// Several commands queued together and in order, so they commit in one transaction when they fit in a
    /// batch (each alone if that transaction fails, as always); a later command on the same aggregate decides
    /// on the earlier ones' events. For reactions to a batch of another service's events. Each command's
    /// outcome or error, in order.
    public func executeAll<D: Decider>(
        _ decider: D.Type, _ commands: [(aggregateID: String, command: D.Command, metadata: CommandMetadata)]
    ) async -> [Result<CommandOutcome<D>, any Error>] {
        let jobs = commands.map { Self.job(decider, aggregateID: $0.aggregateID, command: $0.command, metadata: $0.metadata) }
        batcher.enqueue(jobs.map(\.job))
        // Commands on distinct aggregates may commit in any order: two batches of them go at once, one decided
        // here while PostgreSQL writes the other (10,000 schedules due at one minute fire in 0.6–0.9 s, not 1.1–1.3 s).
        // Commands sharing an aggregate keep their order, one batch after the other.
        let distinct = Set(commands.map(\.aggregateID)).count == commands.count
        await batcher.leadQueued(lanes: distinct ? max(2, batcher.maxLeaders) : 1, batchSize: 4 * batcher.maxBatch) { batch in
            await self.commit(batch)
        }
        for (job, _) in jobs { _ = try? await batcher.finish(job) { batch in await self.commit(batch) } }
        return jobs.map { job, result in
            Result {
                let events = try job.outcome.result()
                let (state, version) = result.get()
                return CommandOutcome(events: events, state: state, version: version)
            }
        }
    }

    /// The write job of one command: it folds, checks the expected version, decides and versions the events.
    private static func job<D: Decider>(
        _ decider: D.Type, aggregateID: String, command: D.Command, metadata: CommandMetadata
    ) -> (job: WriteJob, result: OutcomeBox<D>) {
        let result = OutcomeBox<D>()
        let job = WriteJob(aggregateType: D.aggregateType, aggregateID: aggregateID, stateType: ObjectIdentifier(D.State.self)) { base, newer in
            var state = (base?.state as? D.State) ?? D.initial
            for event in newer { state = D.evolve(state, try D.Event.decode(eventType: event.eventType, payload: event.payload)) }
            let currentVersion = newer.last?.version ?? base?.version ?? 0
            if let expected = metadata.expectedVersion, expected != currentVersion {
                throw ConcurrencyConflict(
                    aggregateType: D.aggregateType, aggregateID: aggregateID, expectedVersion: expected, actualVersion: currentVersion)
            }
            let newEvents = try D.decide(command, state)
            let after = newEvents.reduce(state, D.evolve)
            let newVersion = currentVersion + Int64(newEvents.count)
            result.set(state: after, version: newVersion)
            let stored = try newEvents.enumerated().map { offset, event in
                StoredEvent(
                    sequence: 0, eventID: UUID.v7(now: metadata.now), aggregateType: D.aggregateType, aggregateID: aggregateID,
                    version: currentVersion + Int64(offset) + 1, eventType: event.eventType, schemaVersion: 1,
                    payload: try event.encodePayload(), occurredAt: metadata.now,
                    correlationID: metadata.correlationID, causationID: metadata.causationID, actor: metadata.actor,
                    sourcePosition: nil)
            }
            return (stored, AggregateSnapshot(version: newVersion, state: after))
        }
        return (job, result)
    }

    /// Commits a batch in one transaction. If the transaction fails (a concurrent writer took a
    /// version, or anything else), each command is retried alone so one bad apple fails only itself.
    func commit(_ batch: [WriteJob]) async {
        if batch.count > 1, (try? await attempt(batch)) != nil { return }
        for job in batch where !job.outcome.isResolved {
            var attemptNumber = 0
            while true {
                attemptNumber += 1
                do {
                    try await attempt([job])
                    break
                } catch  where isUniqueViolation(error) {
                    conflicts.increment()
                    if attemptNumber >= maxAttempts {
                        job.outcome.resolve(
                            .failure(
                                ConcurrencyConflict(
                                    aggregateType: job.aggregateType, aggregateID: job.aggregateID, expectedVersion: nil, actualVersion: nil)))
                        break
                    }
                    logger.debug(
                        "command conflict, retrying", metadata: [LogKey.aggregateID: "\(job.aggregateID)", LogKey.attempt: "\(attemptNumber)"])
                } catch {
                    job.outcome.resolve(.failure(error))
                    break
                }
            }
        }
    }

    /// One transaction: load every history the batch touches, decide each command in order (a later
    /// command on the same aggregate sees the earlier one's events), append all new events with their
    /// outbox rows, update the inline read model, commit. Commands whose decision fails are resolved
    /// with that error and leave no trace; the others are resolved only after the commit.
    private func attempt(_ batch: [WriteJob]) async throws {
        var decided: [(WriteJob, [StoredEvent])] = []
        // What the batch starts from: cached states, plus the events written after them.
        var working = stateCache.snapshots(for: Set(batch.map(\.cacheKey)))
        let rejected: [(WriteJob, any Error)] = try await client.withTransaction(logger: logger) { connection in
            var after: [AggregateKey: Int64] = [:]
            for job in batch { after[job.key] = min(after[job.key] ?? .max, working[job.cacheKey]?.version ?? 0) }
            var newer = try await self.histories(after: after, on: connection)
            var rejected: [(WriteJob, any Error)] = []
            var appended: [StoredEvent] = []
            for job in batch {
                do {
                    // A later command on the same aggregate starts from the state an earlier one left.
                    let base = working[job.cacheKey]
                    let unseen = (newer[job.key] ?? []).filter { $0.version > (base?.version ?? 0) }
                    let (events, state) = try job.decide(base, unseen)
                    working[job.cacheKey] = state
                    newer[job.key] =
                        (newer[job.key] ?? [])
                        + events.map {
                            HistoryEvent(version: $0.version, eventType: $0.eventType, payload: $0.payload)
                        }
                    appended.append(contentsOf: events)
                    decided.append((job, events))
                } catch {
                    rejected.append((job, error))
                }
            }
            if !appended.isEmpty {
                try await self.insert(appended, on: connection)
                if let readModel = self.readModel {
                    try await readModel.apply(
                        envelopes: appended.map { $0.envelope(sourceService: self.service) }, on: connection, logger: self.logger)
                }
            }
            return rejected
        }
        stateCache.store(working)
        for (job, error) in rejected { job.outcome.resolve(.failure(error)) }
        for (job, events) in decided { job.outcome.resolve(.success(events)) }
        if decided.contains(where: { !$0.1.isEmpty }) { commits.signal() }
    }

    /// Each aggregate's events after the given version (0: its whole history), in version order.
    private func histories(after versions: [AggregateKey: Int64], on connection: PostgresConnection) async throws -> [AggregateKey: [HistoryEvent]] {
        let rows: PostgresRowSequence
        if versions.count == 1, let (key, after) = versions.first {
            // One aggregate (every HTTP command, a burst on one model): the planner sees the values, so a cached
            // state's "nothing after version 1955" is an index probe. Joined with `unnest` below it cannot, and
            // where one aggregate holds most of the table (a first model with a thousand versions) it chose a
            // sequential scan of every event: 2.3 ms of each alias change on that model.
            rows = try await connection.query(
                """
                SELECT aggregate_type, aggregate_id, version, event_type, payload FROM slipway.events
                WHERE aggregate_type = \(key.type) AND aggregate_id = \(key.id) AND version > \(after) ORDER BY version
                """, logger: logger)
        } else {
            let keys = Array(versions.keys)
            let types = keys.map(\.type)
            let ids = keys.map(\.id)
            let after = keys.map { versions[$0]! }
            rows = try await connection.query(
                """
                SELECT e.aggregate_type, e.aggregate_id, e.version, e.event_type, e.payload
                FROM unnest(\(types)::text[], \(ids)::text[], \(after)::bigint[]) AS k(aggregate_type, aggregate_id, after_version)
                JOIN slipway.events e ON e.aggregate_type = k.aggregate_type AND e.aggregate_id = k.aggregate_id AND e.version > k.after_version
                ORDER BY e.aggregate_type, e.aggregate_id, e.version
                """, logger: logger)
        }
        var result: [AggregateKey: [HistoryEvent]] = [:]
        for try await (type, id, version, eventType, payload) in rows.decode((String, String, Int64, String, ByteBuffer).self) {
            result[AggregateKey(type: type, id: id), default: []]
                .append(HistoryEvent(version: version, eventType: eventType, payload: Array(payload.readableBytesView)))
        }
        return result
    }

    /// Appends versioned events (of any aggregates) and their outbox rows in one statement.
    private func insert(_ events: [StoredEvent], on connection: PostgresConnection) async throws {
        var payloads: [ByteBuffer] = []
        payloads.reserveCapacity(events.count)
        for event in events { payloads.append(ByteBuffer(bytes: event.payload)) }
        try await connection.query(
            """
            WITH inserted AS (
                INSERT INTO slipway.events (event_id, aggregate_type, aggregate_id, version, event_type, schema_version,
                                            payload, occurred_at, correlation_id, causation_id, actor)
                SELECT * FROM unnest(\(events.map(\.eventID))::uuid[], \(events.map(\.aggregateType))::text[], \(events.map(\.aggregateID))::text[],
                                     \(events.map(\.version))::bigint[], \(events.map(\.eventType))::text[], \(events.map(\.schemaVersion))::integer[],
                                     \(payloads)::bytea[], \(events.map(\.occurredAt))::timestamptz[], \(events.map(\.correlationID))::text[],
                                     \(events.map(\.causationID))::text[], \(events.map(\.actor))::text[])
                RETURNING sequence)
            INSERT INTO slipway.outbox (sequence) SELECT sequence FROM inserted
            """, logger: logger)
    }

    // MARK: Rows

    static let columns = """
        sequence, event_id, aggregate_type, aggregate_id, version, event_type, schema_version, payload,
        occurred_at, correlation_id, causation_id, actor, source_position
        """

    static func decodeRows(_ rows: PostgresRowSequence) async throws -> [StoredEvent] {
        var result: [StoredEvent] = []
        for try await (
            sequence, eventID, aggregateType, aggregateID, version, eventType, schemaVersion, payload, occurredAt, correlationID, causationID,
            actor, position
        )
            in rows.decode((Int64, UUID, String, String, Int64, String, Int32, ByteBuffer, Date, String, String, String, Int64?).self)
        {
            result.append(
                StoredEvent(
                    sequence: sequence, eventID: eventID, aggregateType: aggregateType, aggregateID: aggregateID, version: version,
                    eventType: eventType, schemaVersion: schemaVersion, payload: Array(payload.readableBytesView), occurredAt: occurredAt,
                    correlationID: correlationID, causationID: causationID, actor: actor, sourcePosition: position))
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
    /// The newest `limit` events of these aggregates of one type that occurred before `before`, newest first: a model's
    /// timeline gathers its runs', its endpoints', its alerts' events this way, a page at a time (the type leads the
    /// unique index, so this is an index scan).
    public func latest(aggregateType: String, aggregateIDs: [String], before: Date? = nil, limit: Int) async throws -> [StoredEvent] {
        guard !aggregateIDs.isEmpty else { return [] }
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.columns) FROM slipway.events
            WHERE aggregate_type = \(aggregateType) AND aggregate_id = ANY(\(aggregateIDs)) AND occurred_at < \(before ?? .distantFuture)
            ORDER BY sequence DESC LIMIT \(limit)
            """, logger: logger)
        return try await Self.decodeRows(rows)
    }

    /// One aggregate's history, published or not, in order: "what happened to deployment 12".
    public func history(aggregateID: String, aggregateType: String? = nil) async throws -> [StoredEvent] {
        if let aggregateType { return try await events(aggregateType: aggregateType, aggregateID: aggregateID) }
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.columns) FROM slipway.events WHERE aggregate_id = \(aggregateID) ORDER BY sequence
            """, logger: logger)
        return try await Self.decodeRows(rows)
    }
}
