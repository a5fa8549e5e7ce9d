import Logging
import ServiceLifecycle
import SlipwayEventSourcing

/// Runs a service once the startup gate opens (the migrations are applied). A loop that fails — a peer's
/// feed down, a broker gone — is restarted with backoff until graceful shutdown, instead of taking the
/// process down; the HTTP server is not (`restartOnFailure: false`).
struct AfterStartup: Service {
    let service: any Service
    let name: String
    let gate: StartupGate
    let restartOnFailure: Bool
    let logger: Logger

    init(_ service: any Service, name: String, gate: StartupGate, restartOnFailure: Bool = true, logger: Logger) {
        self.service = service
        self.name = name
        self.gate = gate
        self.restartOnFailure = restartOnFailure
        self.logger = logger
    }

    func run() async throws {
        // Shut down before the gate opened: nothing was started, so there is nothing to stop.
        let opened = await cancelWhenGracefulShutdown { await gate.wait() }
        guard opened, !Task.isShuttingDownGracefully else { return }
        var delay: Duration = .milliseconds(500)
        while true {
            do {
                try await service.run()
                return
            } catch is CancellationError {
                return
            } catch {
                guard restartOnFailure, !Task.isCancelled, !Task.isShuttingDownGracefully else { throw error }
                logger.error("\(name) failed, restarting", metadata: [LogKey.error: "\(error)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(10))
            }
        }
    }
}
