import Foundation
import Logging
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// The public REST entry point. It owns the gateway context — users and their API tokens — and so runs in the
/// service shell like the domain services (its own database, event store and topic); every request passes its
/// access policy before it is served or forwarded to the service that owns the path.
public enum GatewayService {
    public static func definition(settings: GatewaySettings, routes: RouteTable = .standard) -> ServiceDefinition {
        var definition = ServiceDefinition(
            name: EventContext.gateway.rawValue, topic: EventContext.gateway.topic, defaultPort: ServiceDirectory.gatewayPort,
            readModel: GatewayReadModel()
        ) { environment in
            let authenticator = Authenticator(postgres: environment.postgres, logger: environment.logger)
            let proxy = Proxy(
                peers: environment.config.peers, maxBodyBytes: settings.maxBodyBytes, httpClient: environment.httpClient, routes: routes,
                voucher: environment.config.actorVoucher)
            let usage = TokenUsageReporter(environment: environment, authenticator: authenticator)
            let live = LiveEvents(
                brokers: environment.config.kafkaBrokers, fetchWaitMaxMs: environment.config.fetchWaitMaxMs, logger: environment.logger)
            let policy = AccessPolicy(anonymousReads: settings.anonymousReads)
            let own = [
                IdentityRoutes(environment: environment, authenticator: authenticator).collection,
                SessionRoutes(environment: environment, authenticator: authenticator, throttle: LoginThrottle()).collection,
                EventStreamRoutes(live: live).collection,
            ]
            let reference = APIReference(
                peers: environment.config.peers, routes: routes, policy: policy, httpClient: environment.httpClient,
                own: RouteInventory(own).routes)
            return ServiceComponents(
                routes: own + [
                    reference.collection, WebPages(environment: environment, authenticator: authenticator).collection, proxy.collection,
                ],
                workers: [
                    PollingWorker("token usage", every: settings.usageReportInterval, logger: environment.logger) { await usage.report() }, live,
                ],
                middleware: [
                    ServiceMiddleware(AuthMiddleware(authenticator: authenticator, policy: policy))
                ],
                startupTasks: settings.bootstrapTokenFile.map { file in
                    [StartupTask("first admin") { try await FirstAdmin(environment: environment, tokenFile: file).ensure() }]
                } ?? [])
        }
        // Its only Kafka input is the live event streams: a tenth of a second late is live enough, and idle fetches cost CPU.
        definition.defaultFetchWaitMs = 100
        return definition
    }

    public static func run(reader: ConfigReader = ConfigReader()) async throws {
        try await SlipwayServiceRunner.run(definition(settings: try GatewaySettings.load(reader: reader)), reader: reader)
    }
}
