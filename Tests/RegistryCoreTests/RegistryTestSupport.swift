import Foundation
import Logging
import PostgresNIO
import RegistryCore
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayTestSupport
import SwiftProtobuf

/// registry-svc as the shell wires it (read model, projections with their reactions, routes), on a
/// fresh database; projections are fed by the tests.
struct RegistryHarness: Sendable {
    let service: TestService

    var client: PostgresClient { service.postgres }
    var store: EventStore { service.store }
    var api: APITestClient { service.api }
    var queries: RegistryQueries { RegistryQueries(client: service.postgres, logger: TestInfrastructure.logger) }
    var training: any Projection { try! service.projection(named: "training_runs") }
    var schedules: any Projection { try! service.projection(named: "model_schedules") }

    /// What the projector does with a batch: one transaction on the given schema.
    func apply(_ envelopes: [EventEnvelope], to projection: any Projection, schema: String = "public") async throws {
        try await client.withTransaction(logger: TestInfrastructure.logger) { connection in
            try await connection.query(
                PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(quoteIdentifier(schema))"), logger: TestInfrastructure.logger)
            try await projection.apply(envelopes: envelopes, on: connection, logger: TestInfrastructure.logger)
        }
    }

    func count(_ sql: String) async throws -> Int64 { try await service.scalar(sql) }

    func eventTypes(of model: String) async throws -> [String] {
        try await store.events(aggregateType: RegisteredModelDecider.aggregateType, aggregateID: model).map {
            String($0.eventType.split(separator: ".").last ?? "")
        }
    }
}

func withRegistry(_ body: @Sendable (RegistryHarness) async throws -> Void) async throws {
    try await withTestService(RegistryService.definition) { service in try await body(RegistryHarness(service: service)) }
}

/// Training-svc's events as its relay would publish them.
typealias EventFeedBuilder = EnvelopeBuilder

/// Training-svc's side of a run, as events.
enum TrainingEvents {
    static func created(runID: String, model: String, runNumber: Int32, type: ModelType = .retrieval, skipAutoRegister: Bool = false)
        -> TrainingRunCreated
    {
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

    static func completed(runID: String, model: String, runNumber: Int32, blessed: Bool, recall: Double = 0.42, skipAutoRegister: Bool = false)
        -> TrainingRunCompleted
    {
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

extension EnvelopeBuilder {
    /// A run's created and completed events.
    mutating func run(_ runID: String, model: String, number: Int32, blessed: Bool, recall: Double = 0.42) throws -> [EventEnvelope] {
        [
            try envelope(TrainingEvents.created(runID: runID, model: model, runNumber: number), aggregateType: "TrainingRun", aggregateID: runID),
            try envelope(
                TrainingEvents.completed(runID: runID, model: model, runNumber: number, blessed: blessed, recall: recall),
                aggregateType: "TrainingRun", aggregateID: runID),
        ]
    }
}
