import AsyncAlgorithms
import Logging
import ServiceLifecycle
import SlipwayEventSourcing

/// A loop that takes one step every `interval` until graceful shutdown: the shape of every controller
/// and reactor that drives work from a read model. A step in progress finishes before the worker ends;
/// a failed step is logged and tried again at the next tick. `atStart`, when given, runs once before the first tick
/// (work that is overdue after the process was down: the first tick is a whole interval away).
public struct PollingWorker: Service {
    public let name: String
    public let interval: Duration
    let logger: Logger
    let atStart: (@Sendable () async throws -> Void)?
    let step: @Sendable () async throws -> Void

    public init(
        _ name: String, every interval: Duration, logger: Logger, atStart: (@Sendable () async throws -> Void)? = nil,
        step: @escaping @Sendable () async throws -> Void
    ) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.atStart = atStart
        self.step = step
    }

    public func run() async throws {
        if let atStart, try await take(atStart) == false { return }
        for await _ in AsyncTimerSequence(interval: interval, clock: .continuous).cancelOnGracefulShutdown() {
            if try await take(step) == false { return }
        }
    }

    /// Runs one step; false when it was cancelled (the worker ends).
    private func take(_ work: @Sendable () async throws -> Void) async throws -> Bool {
        do {
            try await work()
        } catch is CancellationError {
            return false
        } catch {
            logger.warning("\(name) step failed", metadata: [LogKey.error: "\(error)"])
        }
        return true
    }
}
