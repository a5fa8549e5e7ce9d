import Foundation
import PostgresNIO
import SlipwayTestSupport
import Testing

@testable import SlipwayEventSourcing

@Suite("Replay into a fresh schema", .serialized, .timeLimit(.minutes(5)))
struct ReplayTests {
    let environment = TestEnvironment.shared

    @Test("a rebuilt read model equals the live one; a tampered live one is caught")
    func replayVerify() async throws {
        let url = try await environment.freshDatabase("replay")
        try await withPostgres(url) { client in
            try await migrateCounterStore(client)
            let source = SourceService(url: url, client: client, topic: "unused")
            for index in 0..<20 { try await source.create("c\(index)") }
            for round in 0..<180 { try await source.increment("c\(round % 20)", by: Int64(round % 7 + 1)) }

            let report = try await Replayer.replay(CounterTotals(), from: source.store, verify: true, logger: TestEnvironment.logger)
            #expect(report.events == 200)
            #expect(report.verified == true)
            #expect(report.tables.map(\.table) == ["counters"])
            #expect(report.tables.first?.replayRows == 20)
            // The replay schema is dropped afterwards.
            #expect(try await scalar(client, "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'replay_%'") == 0)

            try await client.query("UPDATE counters SET total = total + 1 WHERE id = 'c3'", logger: TestEnvironment.logger)
            let tampered = try await Replayer.replay(CounterTotals(), from: source.store, verify: true, logger: TestEnvironment.logger)
            #expect(tampered.verified == false)
            #expect(tampered.tables.first?.onlyInLive == 1)
            #expect(tampered.tables.first?.onlyInReplay == 1)
            #expect(tampered.tables.first?.samples.contains { $0.contains("c3") } == true)
        }
    }

    @Test("a projection of another service replays from that service's feed up to the live checkpoint")
    func replayFromFeed() async throws {
        try await environment.withSourceAndSink(topic: "unused") { source, sourceClient, sinkClient in
            for index in 0..<5 { try await source.create("c\(index)") }
            for round in 0..<45 { try await source.increment("c\(round % 5)") }
            // Publish positions as the relay would, without Kafka: the feed is what a replay reads.
            try await sourceClient.query("UPDATE slipway.events SET source_position = sequence", logger: TestEnvironment.logger)
            let projector = makeProjector(
                client: sinkClient, service: "source", topic: "unused", feed: LocalEventFeed(store: source.store), brokers: environment.kafkaBrokers,
                group: "unused")
            var states: [String: Projector.SourceState] = ["source": .init(checkpoint: 0)]
            try await projector.catchUp("source", &states)
            #expect(try await checkpoint(sinkClient, projection: "counter_totals", source: "source") == 50)

            let report = try await Replayer.replay(
                CounterTotals(), sources: [Projector.Source(service: "source", topic: "unused", feed: LocalEventFeed(store: source.store))],
                client: sinkClient, verify: true, logger: TestEnvironment.logger)
            #expect(report.events == 50)
            #expect(report.verified == true)
        }
    }
}
