import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SlipwayEventSourcing
import SlipwayPlatform

/// The public REST entry point: forwards `/api/...` to the owning service by the route table, with a
/// correlation id that the service writes into every event the request causes.
public struct GatewayConfig: Sendable {
    public var host: String
    public var port: Int
    public var peers: [String: String]
    public var logLevel: Logger.Level
    public var maxBodyBytes: Int

    public init(host: String, port: Int, peers: [String: String], logLevel: Logger.Level, maxBodyBytes: Int) {
        self.host = host
        self.port = port
        self.peers = peers
        self.logLevel = logLevel
        self.maxBodyBytes = maxBodyBytes
    }

    public static func load(reader: ConfigReader = ConfigReader()) throws -> GatewayConfig {
        let service = try ServiceConfig.load(service: "gateway", defaultPort: ServiceDirectory.gatewayPort, reader: reader)
        return GatewayConfig(
            host: service.host, port: service.port, peers: service.peers, logLevel: service.logLevel,
            maxBodyBytes: try reader.int("max-body-bytes", default: 64 * 1024 * 1024))
    }
}

public enum Gateway {
    public static func run(reader: ConfigReader = ConfigReader()) async throws {
        let config = try GatewayConfig.load(reader: reader)
        Observability.bootstrap(level: config.logLevel)
        let logger = serviceLogger("gateway", level: config.logLevel)
        let app = Application(
            router: buildRouter(config: config, httpClient: .slipwayInternal),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "gateway"),
            logger: logger)
        var configuration = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = ShutdownBudget.graceful
        configuration.maximumCancellationDuration = ShutdownBudget.cancellation
        logger.info("gateway listening", metadata: [LogKey.httpPort: "\(config.port)"])
        try await ServiceGroup(configuration: configuration).run()
    }

    public static func buildRouter(config: GatewayConfig, httpClient: HTTPClient, routes: RouteTable = .standard) -> Router<SlipwayRequestContext> {
        let router = platformRouter()
        InternalRoutes.addHealth(to: router, readiness: Readiness(), postgres: nil, kafkaBrokers: nil)
        let proxy = Proxy(config: config, httpClient: httpClient, routes: routes)
        router.on("/api/**", method: .get, use: proxy.forward)
        router.on("/api/**", method: .post, use: proxy.forward)
        router.on("/api/**", method: .put, use: proxy.forward)
        router.on("/api/**", method: .patch, use: proxy.forward)
        router.on("/api/**", method: .delete, use: proxy.forward)
        return router
    }
}

struct Proxy: Sendable {
    let config: GatewayConfig
    let httpClient: HTTPClient
    let routes: RouteTable

    /// Headers that describe one hop, not the message (RFC 9110 §7.6.1).
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
    ]

    @Sendable func forward(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        let path = request.uri.path
        guard let service = routes.service(for: path) else {
            throw APIError.notFound("no API route for \(path)")
        }
        guard let base = config.peers[service] else {
            throw APIError(.badGateway, code: "no_upstream", message: "no address configured for \(service)-svc")
        }
        let correlationID = request.correlationID
        var upstream = HTTPClientRequest(url: base + request.uri.description)
        upstream.method = HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers where !Self.hopByHop.contains(field.name.canonicalName) {
            upstream.headers.add(name: field.name.rawName, value: field.value)
        }
        upstream.headers.replaceOrAdd(name: "X-Correlation-ID", value: correlationID)
        let body = try await request.body.collect(upTo: config.maxBodyBytes)
        if body.readableBytes > 0 { upstream.body = .bytes(body) }

        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(upstream, timeout: .seconds(60))
        } catch {
            context.logger.warning("upstream unavailable", metadata: [LogKey.service: "\(service)", LogKey.error: "\(error)"])
            throw APIError(.badGateway, code: "upstream_unavailable", message: "\(service)-svc is not reachable")
        }
        let responseBody = try await response.body.collect(upTo: config.maxBodyBytes)
        var headers = HTTPFields()
        for (name, value) in response.headers where !Self.hopByHop.contains(name.lowercased()) {
            if let fieldName = HTTPField.Name(name) { headers.append(HTTPField(name: fieldName, value: value)) }
        }
        headers[.correlationID] = correlationID
        return Response(status: .init(code: Int(response.status.code)), headers: headers, body: .init(byteBuffer: responseBody))
    }
}
