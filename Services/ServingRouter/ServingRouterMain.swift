import Logging
import ServiceLifecycle
import ServingRouterCore
import SlipwayPlatform

/// `serving-router [--host 127.0.0.1] [--port 8081] [--admin-host 127.0.0.1] [--admin-port 8082] [--deploy-url http://127.0.0.1:8104]
/// [--kafka-brokers 127.0.0.1:9092] [--log-level info] [--resync-seconds 30] [--usage-interval-seconds 60]
/// [--log-buffer 10000]`; each flag also reads `SLIPWAY_<FLAG>` (e.g. `SLIPWAY_ADMIN_PORT`).
@main
struct ServingRouterMain {
    static func main() async throws {
        let config = try ServingRouterConfig.load()
        Observability.bootstrap(level: config.logLevel)
        let logger = serviceLogger("serving-router", level: config.logLevel)
        let router = ServingRouter(config: config, logger: logger)
        // Bounded like every other process of Slipway's: SIGTERM ends it even with a loop stuck (a broker gone).
        try await ServiceGroup(configuration: ShutdownBudget.processGroup([.init(service: router)], logger: logger)).run()
    }
}
