import AsyncHTTPClient
import DeployCore
import Foundation
import GatewayCore
import HTTPTypes
import Logging
import MetricsCore
import PostgresNIO
import RegistryCore
import ScheduleCore
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayTestSupport
import Testing
import TestingCore
import TrainingCore

/// The gateway's route table and access policy against what every service actually registers (read from the same
/// route collections the services serve, without running them).
@Suite("Gateway: route agreement", .serialized, .timeLimit(.minutes(2)))
struct RouteAgreementTests {
    /// Each domain service's routes, by service name.
    static func serviceRoutes() throws -> [(service: String, routes: [RouteInventory.Route])] {
        // A key given, so schedule-svc makes no key file in the working directory.
        let reader = ConfigReader(arguments: ["x", "--webhook-key", String(repeating: "5a", count: 32)], environment: [:])
        let definitions = [
            TrainingService.definition(reader: reader), RegistryService.definition, ScheduleService.definition(now: { Date() }, reader: reader),
            try DeployService.definition(reader: reader), TestingService.definition(reader: reader), MetricsService.definition(now: { Date() }),
        ]
        return try definitions.map { definition in (definition.name, try routes(of: definition)) }
    }

    /// The routes a definition's components declare. Building them connects to nothing.
    static func routes(of definition: ServiceDefinition) throws -> [RouteInventory.Route] {
        let logger = Logger(label: "route-agreement")
        let config = try ServiceConfig.load(service: definition.name, defaultPort: 0, reader: ConfigReader(arguments: [], environment: [:]))
        let postgres = PostgresClient(configuration: try config.database.clientConfiguration(), backgroundLogger: logger)
        let environment = ServiceEnvironment(
            config: config, store: EventStore(service: definition.name, client: postgres, logger: logger), postgres: postgres,
            httpClient: .slipwayInternal, logger: logger)
        return RouteInventory(try definition.build(environment).routes).routes
    }

    static let gatewayOwn = try! routes(of: GatewayService.definition(settings: GatewaySettings())).filter {
        $0.path.hasPrefix("/api/") && $0.path != "/api/**"
    }

    @Test("every public route of every service is forwarded to that service, and every forwarding rule has routes behind it")
    func tableMatchesServices() throws {
        let services = try Self.serviceRoutes()
        var used = Set<Int>()
        for (service, routes) in services {
            #expect(!routes.isEmpty, "\(service)-svc declares no routes")
            for route in routes where route.path.hasPrefix("/api/") {
                let path = route.concretePath()
                #expect(
                    RouteTable.standard.service(for: path) == service,
                    "\(route) of \(service)-svc is forwarded to \(RouteTable.standard.service(for: path) ?? "nobody")")
                if let index = RouteTable.standard.ruleIndex(for: path) { used.insert(index) }
            }
            // Services' internal routes are not under /api, so the gateway never forwards them.
            for route in routes where !route.path.hasPrefix("/api/") { #expect(route.path.hasPrefix("/internal/"), "\(route) of \(service)-svc") }
        }
        for (index, rule) in RouteTable.standard.rules.enumerated() where !used.contains(index) {
            Issue.record("the rule \(rule.pattern.joined(separator: "/")) → \(rule.service) forwards to no route")
        }
        // The gateway's own routes are served before the table is asked, and no service declares them.
        for route in Self.gatewayOwn { #expect(RouteTable.standard.service(for: route.concretePath()) == nil, "\(route)") }
    }

    @Test("every public route is documented: a summary, and its body's schema derived from the type its handler decodes")
    func everyRouteIsDocumented() throws {
        let services = try Self.serviceRoutes() + [("gateway", Self.gatewayOwn)]
        var documented = 0
        for (service, routes) in services {
            for route in routes where route.path.hasPrefix("/api/") {
                guard let doc = route.doc else {
                    Issue.record("\(route) of \(service) has no RouteDoc")
                    continue
                }
                documented += 1
                #expect(!doc.summary.isEmpty, "\(route) of \(service)")
                if case .failure(let failure)? = doc.body?.schema { Issue.record("\(route) of \(service): \(failure)") }
            }
        }
        #expect(documented > 100, "\(documented) documented routes")
    }

    @Test("every write route refuses anonymous callers (401) and viewers (403) before anything is forwarded; internal routes are 404")
    func writesNeedAnEditor() async throws {
        let routes = try Self.serviceRoutes().flatMap(\.routes) + Self.gatewayOwn
        let writes = routes.filter { $0.path.hasPrefix("/api/") && !AccessPolicy.isRead($0.method) }
        #expect(writes.count > 50, "\(writes.count) write routes")
        try await GatewayAuthTests.withGateway(upstreamPort: nil) { gateway, admin, _ in
            let viewer = try await GatewayAuthTests.user("vera", role: "viewer", gateway: gateway, admin: admin)
            for route in writes {
                let path = route.concretePath()
                switch AccessPolicy().requirement(method: route.method, path: path) {
                case .open where path == "/api/session":
                    // The login checks the password itself: `{}` names no user.
                    try await gateway.api.send(route.method, path, "{}").expectError(.badRequest)
                case .open:
                    // A route with its own secret: forwarded without a caller (here to no service: 502).
                    let answer = try await gateway.api.send(route.method, path, "{}")
                    #expect(answer.status == .badGateway, "\(route): \(answer.status)")
                case .role(let needed):
                    let anonymous = try await gateway.api.send(route.method, path, "{}")
                    #expect(anonymous.status == .unauthorized, "\(route) anonymously: \(anonymous.status)")
                    // A viewer's own tokens, password and session are theirs to manage (the routes refuse another's): the writes
                    // a viewer makes.
                    if path.hasPrefix("/api/tokens") || path == "/api/me/password" || path == "/api/session" { continue }
                    #expect(needed >= .editor, "\(route) is a write a viewer may make")
                    let asViewer = try await gateway.api.send(route.method, path, "{}", headers: GatewayAuthTests.bearer(viewer))
                    #expect(asViewer.status == .forbidden, "\(route) as a viewer: \(asViewer.status)")
                case .hidden:
                    Issue.record("\(route) is hidden")
                }
            }
            for route in try Self.serviceRoutes().flatMap(\.routes) where route.path.hasPrefix("/internal/") {
                let answer = try await gateway.api.send(route.method, route.concretePath(), headers: GatewayAuthTests.bearer(admin))
                #expect(answer.status == .notFound, "\(route) through the gateway: \(answer.status)")
            }
        }
    }
}
