import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import SlipwayStatistics
import Synchronization

/// One active replica for work that must not run twice at once (deploy-svc's deployment controller starts and stops
/// model-servers): a session-level PostgreSQL advisory lock on the service's database, held on a connection of its
/// own for as long as the work runs. A replica that does not get the lock tries again every `retry`. The lock lives
/// with its connection, so the holder checks the connection every `check`; when it is lost, the work is cancelled
/// (another replica may hold the lock already) and this replica competes again.
public final class Leadership: Sendable {
    public let name: String
    let key: Int64
    let retry: Duration
    let check: Duration
    private let leading = Atomic<Bool>(false)
    private let lost = Atomic<Bool>(false)

    public init(name: String, retry: Duration = .seconds(2), check: Duration = .seconds(2)) {
        self.name = name
        // A stable 64-bit key from the name (FNV-1a): the same on every replica and release.
        key = Int64(bitPattern: StableHash.fnv1a64("slipway.leadership.\(name)"))
        self.retry = retry
        self.check = check
    }

    /// Whether this replica holds the lock now.
    public var isLeading: Bool { leading.load(ordering: .relaxed) }
    /// Whether the work now ending was cancelled because the lock's connection was lost (another replica may lead
    /// already), rather than because the service stops.
    public var lostLock: Bool { lost.load(ordering: .relaxed) }

    /// Runs `work` whenever this replica leads, until graceful shutdown (or cancellation). `work` returns at graceful
    /// shutdown, or throws `CancellationError` when the lock's connection is lost.
    public func run(postgres: PostgresClient, logger: Logger, _ work: @escaping @Sendable () async throws -> Void) async {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                let finished = try await postgres.withConnection { connection in
                    try await self.lead(on: connection, logger: logger, work)
                }
                if finished { return }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                logger.warning("leadership lost", metadata: [LogKey.leadership: "\(name)", LogKey.error: "\(error)"])
            }
            await cancelWhenGracefulShutdown { try? await Task.sleep(for: self.retry) }
        }
    }

    /// Takes the lock if it is free and runs `work` while holding it; true when `work` ran to its end.
    private func lead(on connection: PostgresConnection, logger: Logger, _ work: @escaping @Sendable () async throws -> Void) async throws
        -> Bool
    {
        var acquired = false
        for try await value in try await connection.query("SELECT pg_try_advisory_lock(\(key))", logger: logger).decode(Bool.self) {
            acquired = value
        }
        guard acquired else { return false }
        leading.store(true, ordering: .relaxed)
        lost.store(false, ordering: .relaxed)
        logger.info("leading", metadata: [LogKey.leadership: "\(name)"])
        defer { leading.store(false, ordering: .relaxed) }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await work() }
                group.addTask {
                    // The lock lives as long as this connection: a failed query here means it may be gone.
                    while true {
                        try await Task.sleep(for: self.check)
                        do {
                            try await connection.query("SELECT 1", logger: logger)
                        } catch {
                            if !Task.isCancelled { self.lost.store(true, ordering: .relaxed) }
                            throw error
                        }
                    }
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        } catch {
            await release(connection, logger: logger)
            throw error
        }
        await release(connection, logger: logger)
        return true
    }

    /// Unlocks, so the connection goes back to the pool free of the lock; a connection that cannot be unlocked is closed
    /// (the server releases a session's locks when it ends).
    private func release(_ connection: PostgresConnection, logger: Logger) async {
        do {
            try await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger)
        } catch {
            logger.warning("could not unlock; closing the connection", metadata: [LogKey.leadership: "\(name)", LogKey.error: "\(error)"])
            try? await connection.close()
        }
    }
}
