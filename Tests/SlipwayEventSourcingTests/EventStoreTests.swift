import Foundation
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

@Suite("Event store on PostgreSQL", .serialized, .timeLimit(.minutes(2)))
struct EventStoreTests {
    let environment = TestEnvironment.shared

    @Test("two writers with the same expected version: exactly one wins, the other gets a conflict")
    func concurrentWritersOneWins() async throws {
        let url = try await environment.freshDatabase("store")
        try await withPostgres(url) { client in
            try await migrateCounterStore(client)
            let source = SourceService(url: url, client: client, topic: "unused")
            try await source.create("c1")
            let results = await withTaskGroup(of: Result<Int64, any Error>.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        do {
                            let outcome = try await source.store.execute(
                                Counter.self, aggregateID: "c1", command: .increment(by: 1),
                                metadata: CommandMetadata(expectedVersion: 1))
                            return .success(outcome.version)
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let wins = results.compactMap { try? $0.get() }
            let conflicts = results.filter { if case .failure(let error) = $0 { return error is ConcurrencyConflict } else { return false } }
            #expect(wins == [2])
            #expect(conflicts.count == 1)
            let versions = try await source.store.events(aggregateType: Counter.aggregateType, aggregateID: "c1").map(\.version)
            #expect(versions == [1, 2])
            #expect(try await counterRows(client, logger: TestEnvironment.logger).first?.total == 1)
            #expect(try await scalar(client, "SELECT count(*) FROM slipway.outbox") == 2)
        }
    }

    @Test("commands executed together commit in order, a later one seeing the earlier one's events; a refused one fails alone")
    func executeAllInOrder() async throws {
        let url = try await environment.freshDatabase("store")
        try await withPostgres(url) { client in
            try await migrateCounterStore(client)
            let source = SourceService(url: url, client: client, topic: "unused")
            let results = await source.store.executeAll(
                Counter.self,
                [
                    ("a", .create(name: "a"), CommandMetadata()),
                    ("a", .increment(by: 2), CommandMetadata()),
                    ("a", .create(name: "again"), CommandMetadata()),
                    ("b", .increment(by: 1), CommandMetadata()),
                    ("a", .increment(by: 3), CommandMetadata()),
                ])
            #expect(results.map { (try? $0.get())?.version } == [1, 2, nil, nil, 3])
            let refusals: [CommandRejected.Kind?] = results.map { if case .failure(let error as CommandRejected) = $0 { error.kind } else { nil } }
            #expect(refusals == [nil, nil, .conflict, .notFound, nil])
            #expect(try await counterRows(client, logger: TestEnvironment.logger).map(\.total) == [5])
            #expect(try await source.store.events(aggregateType: Counter.aggregateType, aggregateID: "a").map(\.version) == [1, 2, 3])
        }
    }

    @Test("thousands of commands on distinct aggregates commit in batches side by side, each outcome in its place, beside single writers")
    func executeAllDistinctInLanes() async throws {
        let url = try await environment.freshDatabase("store")
        try await withPostgres(url) { client in
            try await migrateCounterStore(client)
            let source = SourceService(url: url, client: client, topic: "unused", maxAttempts: 50)
            let ids = (0..<3000).map { "bulk-\($0)" }
            try await source.create("single")
            // More than one batch of the bulk at once, while another writer commits its own commands one by one.
            async let singles: Void = {
                for _ in 0..<20 { try await source.increment("single") }
            }()
            let created = await source.store.executeAll(Counter.self, ids.map { ($0, .create(name: $0), CommandMetadata()) })
            let bumped = await source.store.executeAll(
                Counter.self, ids.enumerated().map { ($1, .increment(by: $0 % 7 == 0 ? 0 : 1), CommandMetadata()) })
            try await singles
            #expect(created.allSatisfy { (try? $0.get())?.version == 1 })
            // Incrementing by 0 is refused; the others are each at version 2.
            #expect(bumped.enumerated().allSatisfy { index, result in (try? result.get())?.version == (index % 7 == 0 ? nil : 2) })
            let events = try await scalar(client, "SELECT count(*) FROM slipway.events WHERE aggregate_id LIKE 'bulk-%'")
            #expect(events == 3000 + 3000 - (3000 + 6) / 7)
            #expect(try await source.store.events(aggregateType: Counter.aggregateType, aggregateID: "single").map(\.version) == Array(1...21))
        }
    }

    @Test("racing writers without an expected version retry: nothing lost, nothing duplicated")
    func concurrentWritersRetry() async throws {
        let url = try await environment.freshDatabase("store")
        try await withPostgres(url) { client in
            try await migrateCounterStore(client)
            let source = SourceService(url: url, client: client, topic: "unused", maxAttempts: 50)
            try await source.create("c1")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<12 { group.addTask { try await source.increment("c1") } }
                try await group.waitForAll()
            }
            let versions = try await source.store.events(aggregateType: Counter.aggregateType, aggregateID: "c1").map(\.version)
            #expect(versions == Array(1...13))
            let row = try await counterRows(client, logger: TestEnvironment.logger).first
            #expect(row?.total == 12)
            #expect(row?.version == 13)
        }
    }

    @Test("commands committed together: a rejected or stale one fails alone, the others all land")
    func groupCommitIsolatesFailures() async throws {
        let url = try await environment.freshDatabase("store")
        try await withPostgres(url) { client in
            try await migrateCounterStore(client)
            let source = SourceService(url: url, client: client, topic: "unused")
            for index in 0..<8 { try await source.create("c\(index)") }
            let outcomes = await withTaskGroup(of: (String, Bool).self) { group in
                for round in 0..<64 {
                    group.addTask {
                        let id = "c\(round % 8)"
                        do {
                            switch round % 16 {
                            case 3:
                                try await source.store.execute(
                                    Counter.self, aggregateID: "missing", command: .increment(by: 1), metadata: CommandMetadata())
                            case 7:
                                try await source.store.execute(
                                    Counter.self, aggregateID: id, command: .increment(by: 1), metadata: CommandMetadata(expectedVersion: 0))
                            default: try await source.increment(id)
                            }
                            return (id, true)
                        } catch {
                            return (id, false)
                        }
                    }
                }
                return await group.reduce(into: [(String, Bool)]()) { $0.append($1) }
            }
            #expect(outcomes.filter { !$0.1 }.count == 8)
            let rows = try await counterRows(client, logger: TestEnvironment.logger)
            #expect(rows.map(\.total).reduce(0, +) == 56)
            #expect(try await scalar(client, "SELECT count(*) FROM slipway.events") == 64)
            // Versions stay gapless per aggregate and the read model agrees with the log.
            for row in rows {
                let versions = try await source.store.events(aggregateType: Counter.aggregateType, aggregateID: row.id).map(\.version)
                #expect(versions == Array(1...Int64(versions.count)))
                #expect(row.version == Int64(versions.count))
            }
        }
    }

    @Test("a cached aggregate state sees events another replica wrote since")
    func cachedStateCatchesUp() async throws {
        let url = try await environment.freshDatabase("store")
        try await withPostgres(url) { client in
            try await migrateCounterStore(client)
            let replicaA = EventStore(service: "source", client: client, logger: TestEnvironment.logger, readModel: CounterTotals())
            let replicaB = EventStore(service: "source", client: client, logger: TestEnvironment.logger, readModel: CounterTotals())
            try await replicaA.execute(Counter.self, aggregateID: "c1", command: .create(name: "one"), metadata: CommandMetadata())
            try await replicaA.execute(Counter.self, aggregateID: "c1", command: .increment(by: 1), metadata: CommandMetadata())  // A caches v2
            try await replicaB.execute(Counter.self, aggregateID: "c1", command: .increment(by: 10), metadata: CommandMetadata())  // v3, unseen by A
            // A's cached state is at v2; the expected version 3 must match what is really stored.
            let outcome = try await replicaA.execute(
                Counter.self, aggregateID: "c1", command: .increment(by: 100), metadata: CommandMetadata(expectedVersion: 3))
            #expect(outcome.version == 4)
            #expect(outcome.state.total == 111)
            await #expect(throws: ConcurrencyConflict.self) {
                try await replicaB.execute(Counter.self, aggregateID: "c1", command: .increment(by: 1), metadata: CommandMetadata(expectedVersion: 3))
            }
            #expect(try await counterRows(client, logger: TestEnvironment.logger).first?.total == 111)
        }
    }

    @Test("a stale expected version is a conflict and writes nothing")
    func staleExpectedVersion() async throws {
        let url = try await environment.freshDatabase("store")
        try await withPostgres(url) { client in
            try await migrateCounterStore(client)
            let store = EventStore(service: "source", client: client, logger: TestEnvironment.logger)
            try await store.execute(Counter.self, aggregateID: "c1", command: .create(name: "c1"), metadata: CommandMetadata())
            let error = await #expect(throws: ConcurrencyConflict.self) {
                try await store.execute(Counter.self, aggregateID: "c1", command: .increment(by: 1), metadata: CommandMetadata(expectedVersion: 0))
            }
            #expect(error?.actualVersion == 1)
            #expect(try await scalar(client, "SELECT count(*) FROM slipway.events") == 1)
        }
    }

    @Test("a rejected command writes nothing")
    func rejectedCommandWritesNothing() async throws {
        let url = try await environment.freshDatabase("store")
        try await withPostgres(url) { client in
            try await migrateCounterStore(client)
            let store = EventStore(service: "source", client: client, logger: TestEnvironment.logger)
            await #expect(throws: CommandRejected.self) {
                try await store.execute(Counter.self, aggregateID: "nope", command: .increment(by: 1), metadata: CommandMetadata())
            }
            #expect(try await scalar(client, "SELECT count(*) FROM slipway.events") == 0)
            #expect(try await scalar(client, "SELECT count(*) FROM counters") == 0)
        }
    }

    @Test("migrations are recorded once and rerunning them changes nothing")
    func migrationsAreIdempotent() async throws {
        let url = try await environment.freshDatabase("store")
        try await withPostgres(url) { client in
            try await migrateCounterStore(client)
            try await migrateCounterStore(client)
            #expect(
                try await scalar(client, "SELECT count(*) FROM slipway.schema_migrations") == 4, "the event store's three and the read model's one")
        }
    }

    @Test("a service's connections run with JIT off: the pool's and the relay's own")
    func connectionsRunWithoutJIT() async throws {
        let url = try await environment.freshDatabase("store")
        @Sendable func jit(_ rows: PostgresRowSequence) async throws -> String? {
            for try await setting in rows.decode(String.self) { return setting }
            return nil
        }
        let pooled = try await withPostgres(url) { client in try await jit(client.query("SHOW jit", logger: TestEnvironment.logger)) }
        let connection = try await PostgresConnection.connect(configuration: url.connectionConfiguration(), id: 1, logger: TestEnvironment.logger)
        let own = try await jit(connection.query("SHOW jit", logger: TestEnvironment.logger))
        try await connection.close()
        #expect(pooled == "off")
        #expect(own == "off")
    }

    @Test("an event keeps its command's actor: in the store, the feed and the envelope; one recorded before actors has none")
    func actorRoundTrips() async throws {
        let url = try await environment.freshDatabase("store")
        try await withPostgres(url) { client in
            try await migrateCounterStore(client)
            let store = EventStore(service: "source", client: client, logger: TestEnvironment.logger)
            try await store.execute(Counter.self, aggregateID: "c1", command: .create(name: "c1"), metadata: CommandMetadata(actor: "alice"))
            try await store.execute(Counter.self, aggregateID: "c1", command: .increment(by: 1), metadata: CommandMetadata(actor: "schedule-timer"))
            // As an event written before migration 3 was: no actor given.
            try await client.query(
                """
                INSERT INTO slipway.events (event_id, aggregate_type, aggregate_id, version, event_type, payload, occurred_at)
                SELECT gen_random_uuid(), aggregate_type, aggregate_id, 3, event_type, payload, occurred_at FROM slipway.events WHERE version = 2
                """, logger: TestEnvironment.logger)
            let stored = try await store.events(aggregateType: Counter.aggregateType, aggregateID: "c1")
            #expect(stored.map(\.actor) == ["alice", "schedule-timer", ""])
            #expect(try await store.history(aggregateID: "c1").map(\.actor) == ["alice", "schedule-timer", ""])

            let envelope = stored[0].envelope(sourceService: "source")
            #expect(envelope.actor == "alice")
            #expect(try EventEnvelope(serializedBytes: try envelope.serializedBytes() as [UInt8]).actor == "alice", "the wire form keeps it")

            try await client.query("UPDATE slipway.events SET source_position = sequence", logger: TestEnvironment.logger)
            #expect(try await store.feed(after: 0, limit: 10).map { $0.envelope(sourceService: "source").actor } == ["alice", "schedule-timer", ""])
        }
    }
}
