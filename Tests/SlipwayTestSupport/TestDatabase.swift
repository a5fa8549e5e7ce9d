import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import SlipwayEventSourcing
import SlipwayPlatform

/// The PostgreSQL cluster and dev broker `scripts/test` started, read from the file it writes (not the
/// environment, which would make SwiftPM re-plan the build).
public struct TestDatabase: Decodable, Sendable {
    public let postgresURL: String
    public let kafkaBrokers: String
    /// Where `scripts/test` built the executables (model-server, slipway-devbroker, …).
    public let binDirectory: String?

    enum CodingKeys: String, CodingKey { case postgresURL = "postgres_url", kafkaBrokers = "kafka_brokers", binDirectory = "bin_directory" }

    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static let shared: TestDatabase = {
        let file = packageRoot.appendingPathComponent(".slipway-test/env.json")
        guard let data = try? Data(contentsOf: file), let database = try? JSONDecoder().decode(TestDatabase.self, from: data) else {
            fatalError("integration tests need \(file.path): run them through `make test` (scripts/test), which starts PostgreSQL")
        }
        return database
    }()

    public static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }

    /// A new, empty database on the test cluster.
    public func freshDatabase(_ prefix: String) async throws -> DatabaseURL {
        let url = try DatabaseURL(postgresURL, defaultDatabase: "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())")
        try await url.ensureDatabaseExists(logger: Self.logger)
        return url
    }
}

/// A domain service as the shell wires it, on a fresh database: migrations applied, its workers running,
/// its router under HummingbirdTesting. `prepare` runs after the migrations, before the first request.
public func withTestService(
    _ definition: ServiceDefinition, reader: ConfigReader = ConfigReader(arguments: [], environment: [:]),
    prepare: @Sendable (ServiceEnvironment) async throws -> Void = { _ in },
    _ test: @Sendable (any TestClientProtocol, ServiceEnvironment) async throws -> Void
) async throws {
    let url = try await TestDatabase.shared.freshDatabase(definition.name)
    var quiet = TestDatabase.logger
    quiet.logLevel = .error  // the pool warns when a query races its own start-up: expected here
    let client = PostgresClient(configuration: try url.clientConfiguration(), backgroundLogger: quiet)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        let sets = [EventStore.migrations] + [definition.readModel?.migrationSet].compactMap { $0 } + definition.projections.map(\.projection.migrationSet)
        try await Migrator.migrate(sets, client: client, logger: quiet)
        let config = try ServiceConfig.load(service: definition.name, defaultPort: 0, reader: reader)
        let environment = ServiceEnvironment(
            config: config, store: EventStore(service: definition.name, client: client, logger: quiet, readModel: definition.readModel),
            postgres: client, httpClient: .slipwayInternal, logger: quiet)
        for worker in definition.workers { group.addTask { try await worker.run(environment) } }
        try await prepare(environment)
        let readiness = Readiness()
        readiness.markMigrated()
        let app = Application(router: SlipwayServiceRunner.buildRouter(definition, environment: environment, readiness: readiness))
        try await app.test(.router) { try await test($0, environment) }
    }
}
