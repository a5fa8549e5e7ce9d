import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayTestSupport
import Testing

/// The gateway as it runs: its own database, the access policy in front of every route, and a stand-in training-svc
/// on loopback that echoes what it received, as a service would see it (the actor only when the test secret vouches for it).
@Suite("Gateway: authentication, roles and forwarding", .serialized, .timeLimit(.minutes(2)))
struct GatewayAuthTests {
    static func upstream() -> Application<RouterResponder<SlipwayRequestContext>> {
        let router = platformRouter()
        router.add(middleware: ActorVouchingMiddleware(voucher: ActorVoucher(secret: TestInfrastructure.actorSecret)))
        for method in [HTTPRequest.Method.get, .post] {
            router.on("/api/training-runs/**", method: method) { request, _ in
                let body = try await request.body.collect(upTo: 1 << 20)
                let echo = [
                    "method": request.method.rawValue, "path": request.uri.path, "query": request.uri.query ?? "", "body": String(buffer: body),
                    "correlation": request.headers[.correlationID] ?? "", "actor": request.headers[.actor] ?? "",
                    "authorization": request.headers[.authorization] ?? "",
                ]
                return EditedResponse(status: method == .post ? .created : .ok, response: RawJSON(try PlatformJSON.encode(echo)))
            }
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    /// Runs the gateway with the first admin's token written to a fresh file; `test` gets the admin's token.
    static func withGateway(
        upstreamPort: Int?, anonymousReads: Bool = false, usageReportInterval: Duration = .seconds(60), peers: [String: String] = [:],
        _ test: @Sendable (TestService, _ adminToken: String, _ tokenFile: URL) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let tokenFile = directory.appendingPathComponent("admin-token")
        let settings = GatewaySettings(anonymousReads: anonymousReads, bootstrapTokenFile: tokenFile, usageReportInterval: usageReportInterval)
        let reader = ConfigReader(
            arguments: [
                "--peer", "training=http://127.0.0.1:\(upstreamPort ?? 1)", "--kafka-brokers", TestInfrastructure.shared.kafkaBrokers,
            ] + peers.flatMap { ["--peer", "\($0.key)=\($0.value)"] }, environment: [:])
        try await withTestService(GatewayService.definition(settings: settings), reader: reader) { gateway in
            let token = try String(contentsOf: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            try await test(gateway, token, tokenFile)
        }
    }

    static func bearer(_ token: String, _ more: HTTPFields = [:]) -> HTTPFields {
        var fields = more
        fields[.authorization] = "Bearer \(token)"
        return fields
    }

    /// Creates a user with a token of their own (issued by the admin) and answers the token.
    static func user(_ name: String, role: String, gateway: TestService, admin: String) async throws -> String {
        try await gateway.api.post("/api/users", #"{"username": "\#(name)", "role": "\#(role)"}"#, headers: bearer(admin), expect: .created)
        let issued = try await gateway.api.post(
            "/api/tokens", #"{"name": "laptop", "username": "\#(name)"}"#, headers: bearer(admin), expect: .created
        ).json()
        return try #require(issued["token"] as? String)
    }

    @Test("the first start makes an admin whose token is in an owner-only file; a second start changes nothing")
    func firstAdmin() async throws {
        try await Self.withGateway(upstreamPort: nil) { gateway, admin, file in
            #expect(admin.hasPrefix("slw_") && admin.count > 40)
            let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
            let me = try await gateway.api.get("/api/me", headers: Self.bearer(admin), expect: .ok).json()
            #expect(me["username"] as? String == "admin" && me["role"] as? String == "admin")
            // The startup task again, as a restart runs it: the same admin, the same file.
            for task in try GatewayService.definition(settings: .init(bootstrapTokenFile: file)).build(gateway.environment).startupTasks {
                try await task.run()
            }
            #expect(try String(contentsOf: file, encoding: .utf8).contains(admin))
            let users = try await gateway.api.get("/api/users", headers: Self.bearer(admin), expect: .ok).json()["users"] as? [[String: Any]]
            #expect(users?.count == 1)
            // The events hold the token's hash, never the token.
            let events = try await gateway.store.history(aggregateID: try #require(me["token_id"] as? String))
            #expect(events.count == 1 && !String(decoding: events[0].payload, as: UTF8.self).contains(admin))
            #expect(String(decoding: events[0].payload, as: UTF8.self).contains(SecretMaterial.sha256(admin)))
        }
    }

    @Test("no token, a bad one or a malformed header: 401 with a fixed body, for reads and writes alike")
    func anonymousIsRefused() async throws {
        try await Self.withGateway(upstreamPort: nil) { gateway, _, _ in
            for headers: HTTPFields in [[:], Self.bearer("slw_not-a-real-token"), [.authorization: "Basic YWRtaW46YWRtaW4="]] {
                for method in [HTTPRequest.Method.get, .post, .delete] {
                    let answer = try await gateway.api.send(
                        method, "/api/training-runs/r1", method == .get ? nil : "{}", headers: headers, expect: .unauthorized)
                    #expect(answer.errorCode == "unauthorized")
                    #expect(answer.text.contains("a valid API token is required"))
                }
            }
            // Health probes stay open; services' internal routes are not there at all.
            try await gateway.api.get("/healthz", expect: .ok)
            try await gateway.api.get("/internal/events", expect: .notFound)
            try await gateway.api.get("/internal/info", expect: .notFound)
        }
    }

    @Test("a viewer reads, an editor writes, an admin manages users; the service learns who from the gateway alone")
    func roles() async throws {
        let upstream = Self.upstream()
        try await upstream.test(.live) { upstreamClient in
            try await Self.withGateway(upstreamPort: upstreamClient.port) { gateway, admin, _ in
                let viewer = try await Self.user("vera", role: "viewer", gateway: gateway, admin: admin)
                let editor = try await Self.user("ed", role: "editor", gateway: gateway, admin: admin)

                let read = try await gateway.api.get(
                    "/api/training-runs/r1?x=1", headers: Self.bearer(viewer, [.actor: "mallory", .correlationID: "corr-1"]), expect: .ok
                ).json()
                #expect(read["actor"] as? String == "vera")
                #expect(read["authorization"] as? String == "", "the token stays at the gateway")
                #expect(read["query"] as? String == "x=1" && read["correlation"] as? String == "corr-1")

                let refused = try await gateway.api.post("/api/training-runs/r1/rerun", "{}", headers: Self.bearer(viewer), expect: .forbidden)
                #expect(refused.errorCode == "forbidden" && refused.text.contains("needs the editor role"))
                let written = try await gateway.api.post(
                    "/api/training-runs/r1/rerun", #"{"a":1}"#, headers: Self.bearer(editor, [.actor: "mallory"]), expect: .created
                ).json()
                #expect(written["actor"] as? String == "ed" && written["body"] as? String == #"{"a":1}"#)

                try await gateway.api.get("/api/users", headers: Self.bearer(editor), expect: .forbidden)
                try await gateway.api.post("/api/users", #"{"username": "eve", "role": "admin"}"#, headers: Self.bearer(editor), expect: .forbidden)
                // Tokens are one's own: an editor may not see or revoke the admin's, nor issue one for someone else.
                try await gateway.api.get("/api/tokens?username=admin", headers: Self.bearer(editor), expect: .forbidden)
                try await gateway.api.post("/api/tokens", #"{"name": "x", "username": "vera"}"#, headers: Self.bearer(editor), expect: .forbidden)
                let adminTokenID = try await gateway.api.get("/api/me", headers: Self.bearer(admin)).json()["token_id"] as? String
                try await gateway.api.delete("/api/tokens/\(adminTokenID ?? "")", headers: Self.bearer(editor), expect: .notFound)
                let own = try await gateway.api.get("/api/tokens", headers: Self.bearer(editor), expect: .ok).json()["tokens"] as? [[String: Any]]
                #expect(own?.count == 1 && own?.first?["username"] as? String == "ed" && own?.first?["token"] == nil)

                // Who did it is recorded: the user's creation names the admin.
                let created = try await gateway.store.history(aggregateID: "ed")
                if case .userCreated(let event) = try GatewayEvent.decode(eventType: created[0].eventType, payload: created[0].payload) {
                    #expect(event.createdBy == "admin")
                } else {
                    Issue.record("ed's first event: \(created[0].eventType)")
                }
            }
        }
    }

    @Test("a route with its own secret is forwarded with it and without a caller")
    func selfAuthenticatedRoutes() async throws {
        let upstream = Self.upstream()
        try await upstream.test(.live) { upstreamClient in
            try await Self.withGateway(upstreamPort: upstreamClient.port) { gateway, _, _ in
                let echo = try await gateway.api.post(
                    "/api/training-runs/r1/webhook/completed", "{}",
                    headers: [.authorization: "Bearer run-token", .actor: "mallory", ActorVoucher.signatureField: "t=1,v1=00"], expect: .created
                ).json()
                #expect(echo["authorization"] as? String == "Bearer run-token")
                #expect(echo["actor"] as? String == "", "a client cannot name the actor")
            }
        }
    }

    @Test("a revoked token stops at once here and within a second on another replica; a disabled user's tokens stop too")
    func revocation() async throws {
        let upstream = Self.upstream()
        try await upstream.test(.live) { upstreamClient in
            try await Self.withGateway(upstreamPort: upstreamClient.port) { gateway, admin, _ in
                let editor = try await Self.user("ed", role: "editor", gateway: gateway, admin: admin)
                let me = try await gateway.api.get("/api/me", headers: Self.bearer(editor), expect: .ok).json()
                // Another replica's authenticator: same database, its own cache, which has just seen the token.
                let replica = Authenticator(postgres: gateway.postgres, logger: gateway.environment.logger)
                let request = Request(
                    head: .init(method: .get, scheme: "http", authority: "x", path: "/api/me", headerFields: Self.bearer(editor)),
                    body: .init(buffer: .init()))
                #expect(try await replica.authenticate(request) == .caller(Caller(username: "ed", role: .editor, tokenID: me["token_id"] as! String)))

                try await gateway.api.delete(
                    "/api/tokens/\(me["token_id"] as! String)", #"{"reason": "leaked"}"#, headers: Self.bearer(editor), expect: .ok)
                try await gateway.api.get("/api/training-runs/r1", headers: Self.bearer(editor), expect: .unauthorized)
                let started = ContinuousClock.now
                while case .caller = try await replica.authenticate(request) {
                    #expect(ContinuousClock.now - started < .milliseconds(1100), "the other replica still accepts a revoked token")
                    try await Task.sleep(for: .milliseconds(50))
                }

                let viewer = try await Self.user("vera", role: "viewer", gateway: gateway, admin: admin)
                try await gateway.api.post("/api/users/vera/disable", #"{"reason": "left"}"#, headers: Self.bearer(admin), expect: .ok)
                try await gateway.api.get("/api/training-runs/r1", headers: Self.bearer(viewer), expect: .unauthorized)
            }
        }
    }

    @Test("bad input names the field and changes nothing; the last admin stays an admin; unknown paths 404, a down service 502")
    func badInput() async throws {
        try await Self.withGateway(upstreamPort: nil) { gateway, admin, _ in
            let auth = Self.bearer(admin)
            #expect(
                try await gateway.api.post("/api/users", #"{"username": "x", "role": "root"}"#, headers: auth, expect: .unprocessableContent)
                    .errorField == "role")
            #expect(try await gateway.api.post("/api/users", #"{"role": "viewer"}"#, headers: auth, expect: .badRequest).errorField == "username")
            #expect(
                try await gateway.api.post("/api/users", #"{"username": "Bad Name", "role": "viewer"}"#, headers: auth, expect: .unprocessableContent)
                    .errorField == "username")
            try await gateway.api.post("/api/users", "not json", headers: auth, expect: .badRequest)
            #expect(
                try await gateway.api.post(
                    "/api/tokens", #"{"name": "old", "expires_at": "2020-01-01T00:00:00Z"}"#, headers: auth, expect: .unprocessableContent
                )
                .errorField == "expires_at")
            #expect(
                try await gateway.api.post("/api/tokens", #"{"name": "x", "username": "nobody"}"#, headers: auth, expect: .unprocessableContent)
                    .errorField == "username")
            try await gateway.api.patch("/api/users/admin", #"{"role": "viewer"}"#, headers: auth, expect: .conflict)
            #expect(
                try await gateway.api.patch("/api/users/admin", #"{"role": "root"}"#, headers: auth, expect: .unprocessableContent).errorField
                    == "role")
            try await gateway.api.post("/api/users/admin/disable", "not json", headers: auth, expect: .badRequest)
            try await gateway.api.post("/api/users/admin/disable", headers: auth, expect: .conflict)  // the last admin
            try await gateway.api.delete("/api/tokens/nope", headers: auth, expect: .notFound)
            try await gateway.api.patch("/api/users/nobody", #"{"role": "viewer"}"#, headers: auth, expect: .notFound)
            let users = try await gateway.api.get("/api/users", headers: auth).json()["users"] as? [[String: Any]]
            #expect(users?.count == 1 && users?.first?["role"] as? String == "admin")
            let tokens = try await gateway.api.get("/api/tokens", headers: auth).json()["tokens"] as? [[String: Any]]
            #expect(tokens?.count == 1)
            // A path no service owns is a 404, a service that is down a 502, both in the error shape.
            #expect(try await gateway.api.get("/api/unknown-things/", headers: auth, expect: .notFound).errorCode == "not_found")
            let down = try await gateway.api.get("/api/training-runs/", headers: auth, expect: .badGateway)
            #expect(down.text.contains("training-svc is not reachable"))
        }
    }

    @Test("with anonymous reads on, reads need no token and writes still do")
    func anonymousReads() async throws {
        let upstream = Self.upstream()
        try await upstream.test(.live) { upstreamClient in
            try await Self.withGateway(upstreamPort: upstreamClient.port, anonymousReads: true) { gateway, _, _ in
                let read = try await gateway.api.get("/api/training-runs/r1", expect: .ok).json()
                #expect(read["actor"] as? String == "")
                try await gateway.api.post("/api/training-runs/r1/rerun", "{}", expect: .unauthorized)
                try await gateway.api.get("/api/users", expect: .unauthorized)
            }
        }
    }

    @Test("token usage is recorded: last used and how many requests")
    func usage() async throws {
        let upstream = Self.upstream()
        try await upstream.test(.live) { upstreamClient in
            try await Self.withGateway(upstreamPort: upstreamClient.port, usageReportInterval: .milliseconds(100)) { gateway, admin, _ in
                for _ in 0..<3 { try await gateway.api.get("/api/training-runs/r1", headers: Self.bearer(admin), expect: .ok) }
                try await eventually(timeout: .seconds(10), "the token's use is recorded") {
                    let tokens = try await gateway.api.get("/api/tokens", headers: Self.bearer(admin)).json()["tokens"] as? [[String: Any]]
                    return (tokens?.first?["request_count"] as? Int ?? 0) >= 3 && tokens?.first?["last_used_at"] is String
                }
            }
        }
    }

    @Test("events stream live as Server-Sent Events, filtered by context, with who caused them; bad filters name the field")
    func liveEvents() async throws {
        try await Self.withGateway(upstreamPort: nil) { gateway, admin, _ in
            let auth = Self.bearer(admin)
            #expect(try await gateway.api.get("/api/events/stream?context=deploy,nope", headers: auth, expect: .badRequest).errorField == "context")
            #expect(try await gateway.api.get("/api/events/stream?limit=0", headers: auth, expect: .badRequest).errorField == "limit")
            try await gateway.api.get("/api/events/stream", expect: .unauthorized)

            var training = EnvelopeBuilder(service: "training")
            var deploy = EnvelopeBuilder(service: "deploy")
            deploy.actor = "alice"
            let stream = try await withThrowingTaskGroup(of: APIResponse?.self) { group in
                group.addTask { try await gateway.api.get("/api/events/stream?context=deploy&limit=1", headers: auth) }
                // The stream's consumer starts at the topics' end once it is assigned: publish until it has one.
                let (trainingEvent, deployEvent) = (
                    try training.envelope(DatasetRegistered(), aggregateType: "Dataset", aggregateID: "d1"),
                    try deploy.envelope(EndpointCreated(), aggregateType: "Endpoint", aggregateID: "shop")
                )
                group.addTask {
                    for _ in 0..<100 {
                        try await RequestLogs.publish(envelopes: [trainingEvent], topic: EventContext.training.topic)
                        try await RequestLogs.publish(envelopes: [deployEvent], topic: EventContext.deploy.topic)
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    return nil
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
            let answer = try #require(stream, "the stream sent nothing within 20 s")
            #expect(answer.status == .ok && answer.headers[.contentType] == "text/event-stream")
            let frame = try #require(answer.text.components(separatedBy: "\n\n").first { $0.hasPrefix("event:") })
            #expect(frame.hasPrefix("event: EndpointCreated\nid: "), "\(frame)")
            let data = try #require(frame.split(separator: "\n").first { $0.hasPrefix("data: ") }?.dropFirst(6))
            let event = try #require(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])
            #expect(
                event["actor"] as? String == "alice" && event["aggregate_id"] as? String == "shop" && event["source_service"] as? String == "deploy")
        }
    }
}
