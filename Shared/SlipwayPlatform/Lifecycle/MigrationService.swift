import Logging
import PostgresNIO
import ServiceLifecycle
import SlipwayEventSourcing

/// Creates the service's database if it is missing, applies its migrations, runs its startup tasks, then opens the startup gate
/// and ends (its group entry ignores a successful end). PostgreSQL may still be starting when the service
/// comes up, so each step is retried with backoff; shutting down meanwhile abandons the gate.
final class MigrationService: Service {
    let database: DatabaseURL
    let client: PostgresClient
    let sets: [MigrationSet]
    let startupTasks: [StartupTask]
    let readiness: Readiness
    let gate: StartupGate
    let logger: Logger

    init(
        database: DatabaseURL, client: PostgresClient, sets: [MigrationSet], startupTasks: [StartupTask] = [], readiness: Readiness,
        gate: StartupGate, logger: Logger
    ) {
        self.database = database
        self.client = client
        self.sets = sets
        self.startupTasks = startupTasks
        self.readiness = readiness
        self.gate = gate
        self.logger = logger
    }

    func run() async throws {
        do {
            try await retrying("create database \(database.database)", logger: logger) {
                try await self.database.ensureDatabaseExists(logger: self.logger)
            }
            try await retrying("migrate", logger: logger) {
                try await Migrator.migrate(self.sets, client: self.client, logger: self.logger)
            }
            for task in startupTasks {
                try await retrying(task.name, logger: logger) { try await task.run() }
            }
        } catch {
            gate.abandon()
            if error is CancellationError || Task.isShuttingDownGracefully { return }
            throw error
        }
        readiness.markMigrated()
        gate.open()
    }
}

/// Retries an operation with backoff until it succeeds, the attempts run out, or the service shuts down.
func retrying(_ what: String, logger: Logger, attempts: Int = 60, _ body: @Sendable () async throws -> Void) async throws {
    var delay: Duration = .milliseconds(250)
    for attempt in 1...attempts {
        do {
            try await body()
            return
        } catch {
            if attempt == attempts || Task.isCancelled || Task.isShuttingDownGracefully { throw error }
            logger.warning("\(what) failed, retrying", metadata: [LogKey.error: "\(error)", LogKey.attempt: "\(attempt)"])
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(5))
        }
    }
}
