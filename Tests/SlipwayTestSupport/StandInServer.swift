import Hummingbird
import Synchronization

/// Serves the router `routes` builds on a loopback port the kernel picks, until `body` returns: a stand-in for
/// another service, or a receiver, that a test needs over real HTTP. `body` gets its base URL
/// (`http://127.0.0.1:<port>`), once it listens.
public func withStandInServer<Context: RequestContext, Result: Sendable>(
    _ routes: @escaping @Sendable () -> Router<Context>, _ body: @Sendable (_ baseURL: String) async throws -> Result
) async throws -> Result where Context.Source == ApplicationRequestContextSource {
    let listening = ListeningPort()
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            let app = Application(
                router: routes(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in listening.port.withLock { $0 = channel.localAddress?.port } })
            try await app.runService()
        }
        defer { group.cancelAll() }
        try await eventually(timeout: .seconds(30), "the stand-in server listens") { listening.port.withLock { $0 } != nil }
        return try await body("http://127.0.0.1:\(listening.port.withLock { $0 }!)")
    }
}

/// The port a stand-in server listens on, once it does (shared by the server's task and the waiting test).
private final class ListeningPort: Sendable {
    let port = Mutex<Int?>(nil)
}
