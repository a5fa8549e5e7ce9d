import AsyncAlgorithms
import Logging
import ServiceLifecycle
import SlipwayEventSourcing

/// A loop that takes one step every `interval` until graceful shutdown: the shape of every controller
/// and reactor that drives work from a read model. A step in progress finishes before the worker ends;
/// a failed step is logged and tried again at the next tick.
public struct PollingWorker: Service {
    public let name: String
    public let interval: Duration
    let logger: Logger
    let step: @Sendable () async throws -> Void

    public init(_ name: String, every interval: Duration, logger: Logger, step: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.step = step
    }

    public func run() async throws {
        for await _ in AsyncTimerSequence(interval: interval, clock: .continuous).cancelOnGracefulShutdown() {
            do {
                try await step()
            } catch is CancellationError {
                return
            } catch {
                logger.warning("\(name) step failed", metadata: [LogKey.error: "\(error)"])
            }
        }
    }
}
