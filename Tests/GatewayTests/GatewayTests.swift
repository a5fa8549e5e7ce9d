import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SlipwayPlatform
import Testing

@Suite("Gateway route table")
struct RouteTableTests {
    @Test(
        "the spec's paths reach their owning service",
        arguments: [
            ("/api/training-runs/12/", "training"),
            ("/api/training-runs/12/webhook/epoch-complete/", "training"),
            ("/api/training/schedules/3/pause/", "schedule"),
            ("/api/registered-models/", "registry"),
            ("/api/registered-models/check-name/", "registry"),
            ("/api/registered-models/7/endpoints/", "deploy"),
            ("/api/models/7/deployments/", "deploy"),
            ("/api/models/7/api-keys/", "deploy"),
            ("/api/models/7/training-runs/", "training"),
            ("/api/deployments/4/rollback/", "deploy"),
            ("/api/deployments/4/metrics/", "metrics"),
            ("/api/deployed-endpoints/4/test/", "testing"),
            ("/api/deployed-endpoints/shop/load-test/", "testing"),
            ("/api/load-tests/load-1/cancel", "testing"),
            ("/api/alerts/", "metrics"),
            ("/api/datasets/", "training"),
        ])
    func routes(path: String, service: String) {
        #expect(RouteTable.standard.service(for: path) == service)
    }

    @Test func unknownPathsHaveNoOwner() {
        #expect(RouteTable.standard.service(for: "/api/nope/1") == nil)
        #expect(RouteTable.standard.service(for: "/other/training-runs") == nil)
    }
}

@Suite("Gateway forwarding", .serialized, .timeLimit(.minutes(1)))
struct GatewayForwardingTests {
    /// A stand-in upstream that echoes what it received, as a service would see it.
    static func upstream() -> Application<RouterResponder<SlipwayRequestContext>> {
        let router = platformRouter()
        router.post("/api/training-runs/:id/rerun/") { request, context in
            let body = try await request.body.collect(upTo: 1 << 20)
            let echo = [
                "path": request.uri.path, "query": request.uri.query ?? "", "body": String(buffer: body),
                "correlation": request.headers[.correlationID] ?? "",
            ]
            return EditedResponse(status: .created, response: RawJSON(try PlatformJSON.encode(echo)))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    static func gateway(upstreamPort: Int?) throws -> Application<RouterResponder<SlipwayRequestContext>> {
        let peers = ["training": "http://127.0.0.1:\(upstreamPort ?? 1)"]
        let config = GatewayConfig(host: "127.0.0.1", port: 0, peers: peers, logLevel: .warning, maxBodyBytes: 1 << 20)
        return Application(router: Gateway.buildRouter(config: config, httpClient: .slipwayInternal))
    }

    @Test("forwards method, path, query and body; propagates the correlation id both ways")
    func forwards() async throws {
        let upstream = Self.upstream()
        try await upstream.test(.live) { upstreamClient in
            let gateway = try Self.gateway(upstreamPort: upstreamClient.port)
            try await gateway.test(.router) { client in
                let headers: HTTPFields = [.contentType: "application/json", .correlationID: "corr-123"]
                try await client.execute(
                    uri: "/api/training-runs/9/rerun/?dry=1", method: .post, headers: headers, body: ByteBuffer(string: #"{"a":1}"#)
                ) { response throws in
                    #expect(response.status == .created)
                    #expect(response.headers[.correlationID] == "corr-123")
                    let echo = try JSONDecoder().decode([String: String].self, from: Data(buffer: response.body))
                    #expect(echo["path"] == "/api/training-runs/9/rerun/")
                    #expect(echo["query"] == "dry=1")
                    #expect(echo["body"] == #"{"a":1}"#)
                    #expect(echo["correlation"] == "corr-123")
                }
            }
        }
    }

    @Test("unknown API paths are 404 and a down service is 502, both in the error shape")
    func errors() async throws {
        let gateway = try Self.gateway(upstreamPort: nil)
        try await gateway.test(.router) { client in
            try await client.execute(uri: "/api/unknown-things/", method: .get) { response throws in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains(#""code":"not_found""#))
            }
            try await client.execute(uri: "/api/training-runs/", method: .get) { response throws in
                #expect(response.status == .badGateway)
                #expect(String(buffer: response.body).contains("training-svc is not reachable"))
            }
        }
    }
}
