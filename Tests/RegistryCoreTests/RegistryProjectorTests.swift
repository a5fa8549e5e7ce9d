import Foundation
import RegistryCore
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayTestSupport
import Synchronization
import Testing

/// The training projection under the kit's real projector: its reactions run while the projector's
/// transaction (checkpoint row locked) is open, and must neither deadlock nor repeat themselves.
@Suite("Registry training projection under the projector", .serialized, .timeLimit(.minutes(2)))
struct RegistryProjectorTests {
    /// A training-svc feed held in memory; the projector catches up from it on every quiet tick.
    final class MemoryFeed: EventFeed {
        private let events = Mutex<[EventEnvelope]>([])

        func append(_ new: [EventEnvelope]) { events.withLock { $0.append(contentsOf: new) } }

        func events(after position: Int64, limit: Int) async throws -> [EventEnvelope] {
            events.withLock { all in Array(all.filter { $0.sourcePosition > position }.prefix(limit)) }
        }
    }

    @Test("blessed runs arriving through the projector become v1 and v2, once each")
    func throughProjector() async throws {
        try await withRegistry { registry in
            let feed = MemoryFeed()
            var kafka = KafkaConsumerConfiguration(
                bootstrapServers: TestInfrastructure.shared.kafkaBrokers, groupId: "registry-test-\(UUID().uuidString.prefix(8))",
                topics: [], fetchWaitMaxMs: 10)
            kafka.sessionTimeoutMs = 6000
            var configuration = Projector.Configuration(kafka: kafka)
            configuration.catchUpInterval = .milliseconds(200)
            let projector = Projector(
                projection: registry.training,
                sources: [Projector.Source(service: "training", topic: "test.training.\(UUID().uuidString.prefix(8).lowercased())", feed: feed)],
                client: registry.client, configuration: configuration, logger: TestInfrastructure.logger)

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await projector.run() }
                defer { group.cancelAll() }

                var builder = EventFeedBuilder(service: "training")
                feed.append(try builder.run("run-1", model: "recs", number: 1, blessed: true))
                try await eventually("v1 registered") { try await registry.count("SELECT count(*) FROM model_versions") == 1 }
                feed.append(try builder.run("run-2", model: "recs", number: 2, blessed: true))
                feed.append(try builder.run("run-3", model: "recs", number: 3, blessed: false))
                try await eventually("all six events applied") {
                    try await registry.count("SELECT position FROM slipway.projection_checkpoints WHERE projection = 'training_runs'") == 6
                }
                #expect(try await registry.count("SELECT count(*) FROM model_versions") == 2)
                #expect(try await registry.eventTypes(of: "recs") == ["RegisteredModelCreated", "ModelVersionRegistered", "ModelVersionRegistered"])
                #expect(try await registry.queries.model("recs")?.latestVersion?.sourceRunID == "run-2")
            }
        }
    }
}
