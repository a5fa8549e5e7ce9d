import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SwiftProtobuf

/// A domain service as the shell wires it, on a fresh database of the test cluster: migrations applied,
/// its workers running, its router under HummingbirdTesting. Projectors are not started (no Kafka):
/// a test feeds a projection with `project`, as the projector would.
public struct TestService: Sendable {
    public let api: APITestClient
    /// The port it listens on, when started `live` (another service, a gateway, calls it over TCP); else nil.
    public let port: Int?
    public let environment: ServiceEnvironment
    public let projections: [ProjectionSubscription]

    public var store: EventStore { environment.store }
    public var postgres: PostgresClient { environment.postgres }

    /// Applies envelopes to the projection called `name` in one transaction on the live schema, as its
    /// projector does (without the checkpoint).
    public func project(_ envelopes: [EventEnvelope], into name: String) async throws {
        let projection = try projection(named: name)
        try await postgres.withTransaction(logger: TestInfrastructure.logger) { connection in
            try await connection.query("SET LOCAL search_path TO public", logger: TestInfrastructure.logger)
            try await projection.apply(envelopes: envelopes, on: connection, logger: TestInfrastructure.logger)
        }
    }

    public func projection(named name: String) throws -> any Projection {
        guard let subscription = projections.first(where: { $0.projection.name == name }) else {
            throw TimedOut(description: "the service has no projection \(name)")
        }
        return subscription.projection
    }

    /// A single integer from SQL (a count, a sum) on the service's database.
    public func scalar(_ sql: String) async throws -> Int64 {
        let rows = try await postgres.query(PostgresQuery(unsafeSQL: sql), logger: TestInfrastructure.logger)
        for try await value in rows.decode(Int64.self) { return value }
        return 0
    }
}

/// Runs `test` against `definition` on a fresh database. `prepare` runs after the migrations, before the
/// workers start and before the first request. `live` serves it on a loopback port, for callers other than `api`.
public func withTestService(
    _ definition: ServiceDefinition, reader: ConfigReader = ConfigReader(arguments: [], environment: [:]), runWorkers: Bool = true,
    live: Bool = false,
    prepare: @Sendable (TestService) async throws -> Void = { _ in },
    _ test: @Sendable (TestService) async throws -> Void
) async throws {
    let url = try await TestInfrastructure.shared.freshDatabase(definition.name)
    var loaded = try ServiceConfig.load(service: definition.name, defaultPort: 0, reader: reader)
    if loaded.actorVoucher == nil { loaded.actorVoucher = ActorVoucher(secret: TestInfrastructure.actorSecret) }
    // A peer the test did not name is no peer: the default ports may belong to another test's `slipway up`, whose
    // feeds a projector here must not catch up from.
    for (name, addresses) in loaded.peers where addresses.urls == ["http://127.0.0.1:\(ServiceDirectory.defaultPorts[name] ?? 0)"] {
        loaded.peers[name] = PeerAddresses([TestInfrastructure.noPeer])
    }
    let config = loaded
    try await withPostgres(url) { client in
        var quiet = TestInfrastructure.logger
        quiet.logLevel = .error
        let environment = ServiceEnvironment(
            config: config, store: EventStore(service: definition.name, client: client, logger: quiet, readModel: definition.readModel),
            postgres: client, httpClient: .slipwayInternal, logger: quiet)
        let components = try definition.build(environment)
        try await Migrator.migrate(SlipwayServiceRunner.migrationSets(definition, components), client: client, logger: quiet)
        for task in components.startupTasks { try await task.run() }
        let readiness = Readiness()
        readiness.markMigrated()
        let router = SlipwayServiceRunner.buildRouter(definition, components, environment: environment, readiness: readiness)
        let projections = components.projections
        let workers = components.workers
        try await Application(router: router).test(live ? .live : .router) { client in
            let service = TestService(api: APITestClient(client), port: client.port, environment: environment, projections: projections)
            try await prepare(service)
            try await withThrowingTaskGroup(of: Void.self) { group in
                if runWorkers {
                    for worker in workers { group.addTask { try await worker.run() } }
                }
                defer { group.cancelAll() }
                try await test(service)
            }
        }
    }
}

/// Builds envelopes as a source service's outbox relay would: consecutive source positions, one
/// minute apart.
public struct EnvelopeBuilder {
    public let service: String
    public var position: Int64 = 0
    public var clock = Date(timeIntervalSince1970: 1_800_000_000)
    /// Who caused the events built next (`EventEnvelope.actor`); empty as in events recorded before actors were kept.
    public var actor = ""
    private var versions: [String: Int64] = [:]

    public init(service: String) { self.service = service }

    public mutating func envelope(_ message: some SwiftProtobuf.Message, aggregateType: String, aggregateID: String) throws -> EventEnvelope {
        position += 1
        clock += 60
        let version = (versions[aggregateID] ?? 0) + 1
        versions[aggregateID] = version
        var envelope = EventEnvelope()
        envelope.eventID = UUID.v7(now: clock).uuidString.lowercased()
        envelope.eventType = type(of: message).protoMessageName
        envelope.aggregateType = aggregateType
        envelope.aggregateID = aggregateID
        envelope.aggregateVersion = version
        envelope.sourceService = service
        envelope.sourcePosition = position
        envelope.occurredAt = .init(date: clock)
        envelope.correlationID = "test-\(position)"
        envelope.actor = actor
        envelope.schemaVersion = 1
        envelope.payload = try message.serializedData()
        return envelope
    }
}
