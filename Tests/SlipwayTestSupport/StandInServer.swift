import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// Runs `services` (in one `ServiceGroup`) while `body` runs, then shuts them down gracefully and waits for them.
///
/// Gracefully, never by cancelling their task: a NIOAsyncChannel server (every Hummingbird application) cancelled
/// while a connection is accepted but not yet served drops that connection's writer unfinished, and the process
/// traps ("Deinited NIOAsyncWriter without calling finish()", apple/swift-nio#2813). It crashed a whole test run once.
/// A service still shutting down after `gracefulShutdownBudget` is cancelled, so no test hangs on one; servers stop
/// first (a group stops its services in reverse order, and serving-router lists its servers last), so by then
/// only loops are left to cancel.
public func withServices<Result: Sendable>(
    _ services: [any Service], logger: Logger = Logger(label: "slipway.test-services"), gracefulShutdownBudget: Duration = .seconds(10),
    _ body: () async throws -> Result
) async throws -> Result {
    var configuration = ServiceGroupConfiguration(services: services, logger: logger)
    configuration.maximumGracefulShutdownDuration = gracefulShutdownBudget
    let group = ServiceGroup(configuration: configuration)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

/// Serves `router` on a loopback port the kernel picks while `body` runs: a stand-in for another service, or a
/// receiver, that a test needs over real HTTP. `body` gets its base URL (`http://127.0.0.1:<port>`) once it listens.
public func withStandInServer<Context: RequestContext, Result: Sendable>(
    _ router: Router<Context>, logger: Logger = Logger(label: "slipway.stand-in"), _ body: (_ baseURL: String) async throws -> Result
) async throws -> Result where Context.Source == ApplicationRequestContextSource {
    let listening = ListeningPort()
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in listening.port.withLock { $0 = channel.localAddress?.port } }, logger: logger)
    return try await withServices([app], logger: logger) {
        try await eventually(timeout: .seconds(30), "the stand-in server listens") { listening.port.withLock { $0 } != nil }
        return try await body("http://127.0.0.1:\(listening.port.withLock { $0 }!)")
    }
}

/// The port a stand-in server listens on, once it does (shared by the server's callback and the waiting test).
private final class ListeningPort: Sendable {
    let port = Mutex<Int?>(nil)
}
