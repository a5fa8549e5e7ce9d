import Foundation
import Logging
import PostgresNIO
import RegistryCore
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayTestSupport
import SwiftProtobuf

/// A migrated registry database with its event store, reactor and projections, as the shell wires them.
struct RegistryHarness: Sendable {
    let client: PostgresClient
    let store: EventStore
    let definition: ServiceDefinition
    let queries: RegistryQueries

    var training: any Projection { definition.projections[0].projection }
    var schedules: any Projection { definition.projections[1].projection }

    /// What the projector does with a batch: one transaction on the live schema.
    func apply(_ envelopes: [EventEnvelope], to projection: any Projection, schema: String = "public") async throws {
        try await client.withTransaction(logger: TestDatabase.logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(quoteIdentifier(schema))"), logger: TestDatabase.logger)
            try await projection.apply(envelopes, on: connection, logger: TestDatabase.logger)
        }
    }

    func count(_ sql: String) async throws -> Int64 {
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger)
        for try await value in rows.decode(Int64.self) { return value }
        return 0
    }

    func eventTypes(of model: String) async throws -> [String] {
        try await store.events(aggregateType: RegisteredModelDecider.aggregateType, aggregateID: model).map {
            String($0.eventType.split(separator: ".").last ?? "")
        }
    }
}

func withRegistry(_ body: @Sendable (RegistryHarness) async throws -> Void) async throws {
    let url = try await TestDatabase.shared.freshDatabase("registry")
    var quiet = TestDatabase.logger
    quiet.logLevel = .error  // the pool warns when a query races its own start-up: expected here
    let client = PostgresClient(configuration: try url.clientConfiguration(), backgroundLogger: quiet)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        let reactor = RegistryReactor()
        let definition = buildRegistryDefinition(reactor: reactor)
        let sets = [EventStore.migrations] + [definition.readModel?.migrationSet].compactMap { $0 } + definition.projections.map(\.projection.migrationSet)
        try await Migrator.migrate(sets, client: client, logger: TestDatabase.logger)
        let store = EventStore(service: definition.name, client: client, logger: TestDatabase.logger, readModel: definition.readModel)
        reactor.attach(store)
        try await body(RegistryHarness(
            client: client, store: store, definition: definition, queries: RegistryQueries(client: client, logger: TestDatabase.logger)))
    }
}

/// Builds envelopes as a source service's outbox relay would: consecutive source positions.
struct EventFeedBuilder {
    let service: String
    var position: Int64 = 0
    var clock = Date(timeIntervalSince1970: 1_800_000_000)

    init(service: String) { self.service = service }

    mutating func envelope(_ message: some SwiftProtobuf.Message, aggregateType: String, aggregateID: String) throws -> EventEnvelope {
        position += 1
        clock += 60
        var envelope = EventEnvelope()
        envelope.eventID = UUID.v7(now: clock).uuidString.lowercased()
        envelope.eventType = type(of: message).protoMessageName
        envelope.aggregateType = aggregateType
        envelope.aggregateID = aggregateID
        envelope.aggregateVersion = position
        envelope.sourceService = service
        envelope.sourcePosition = position
        envelope.occurredAt = Google_Protobuf_Timestamp(date: clock)
        envelope.correlationID = "test-\(position)"
        envelope.schemaVersion = 1
        envelope.payload = try message.serializedData()
        return envelope
    }
}

/// Training-svc's side of a run, as events.
enum TrainingEvents {
    static func created(runID: String, model: String, runNumber: Int32, type: ModelType = .retrieval, skipAutoRegister: Bool = false) -> TrainingRunCreated {
        var event = TrainingRunCreated()
        event.runID = runID
        event.runNumber = runNumber
        event.name = "\(model) run \(runNumber)"
        event.modelName = model
        event.modelType = type
        event.createdBy = "alice"
        var config = TrainingRunConfig()
        config.datasetID = "ds-1"
        config.featureConfigID = "fc-1"
        config.modelConfigID = "mc-1"
        config.skipAutoRegister = skipAutoRegister
        event.config = config
        return event
    }

    static func completed(runID: String, model: String, runNumber: Int32, blessed: Bool, recall: Double = 0.42, skipAutoRegister: Bool = false) -> TrainingRunCompleted {
        var event = TrainingRunCompleted()
        event.runID = runID
        event.metrics = ["recall_at_100": recall, "loss": 0.5]
        event.blessed = blessed
        event.blessingMetric = "recall_at_100"
        event.blessingThreshold = 0.3
        event.artifactUri = "file:///artifacts/\(runID)/model"
        event.artifacts = ["statistics": "file:///artifacts/\(runID)/stats.json"]
        event.modelName = model
        event.modelType = .retrieval
        event.runNumber = runNumber
        var config = TrainingRunConfig()
        config.datasetID = "ds-1"
        config.featureConfigID = "fc-1"
        config.modelConfigID = "mc-1"
        config.skipAutoRegister = skipAutoRegister
        event.config = config
        return event
    }
}

extension EventFeedBuilder {
    /// A run's created and completed events.
    mutating func run(_ runID: String, model: String, number: Int32, blessed: Bool, recall: Double = 0.42) throws -> [EventEnvelope] {
        [
            try envelope(TrainingEvents.created(runID: runID, model: model, runNumber: number), aggregateType: "TrainingRun", aggregateID: runID),
            try envelope(TrainingEvents.completed(runID: runID, model: model, runNumber: number, blessed: blessed, recall: recall),
                         aggregateType: "TrainingRun", aggregateID: runID),
        ]
    }
}
