import Logging
import PostgresNIO
import ServiceLifecycle
import SlipwayEventSourcing

/// A worker that runs on one replica at a time (`Leadership`): for periodic work that a second replica would do
/// twice — metrics-svc's hourly drift analysis (each analysis is a new report) and its webhook deliveries (posted
/// before they are recorded). When the leader dies its lock goes with its connection, and another replica takes over.
public struct LeaderOnly: Service {
    let leadership: Leadership
    let postgres: PostgresClient
    let logger: Logger
    let worker: any Service

    public init(_ name: String, postgres: PostgresClient, logger: Logger, _ worker: any Service) {
        leadership = Leadership(name: name)
        self.postgres = postgres
        self.logger = logger
        self.worker = worker
    }

    public func run() async throws {
        await leadership.run(postgres: postgres, logger: logger) { try await worker.run() }
    }
}
