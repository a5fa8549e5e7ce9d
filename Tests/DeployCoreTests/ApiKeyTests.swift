import DeployCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SwiftProtobuf
import SlipwayTestSupport
import Testing

@Suite("API key decider")
struct ApiKeyDeciderTests {
    @Test("created once, revoked once; an unknown key is not found")
    func lifecycle() throws {
        var created = ApiKeyCreated()
        created.apiKeyID = "k1"
        created.keyPrefix = "abcdefgh"
        let state = try ApiKeyDecider.decide(.create(created), ApiKeyDecider.initial).reduce(ApiKeyDecider.initial, ApiKeyDecider.evolve)
        #expect(throws: CommandRejected.self) { try ApiKeyDecider.decide(.create(created), state) }
        let revoked = try ApiKeyDecider.decide(.revoke(reason: "leaked", by: "t"), state).reduce(state, ApiKeyDecider.evolve)
        #expect(revoked.revoked)
        #expect(throws: CommandRejected.self) { try ApiKeyDecider.decide(.revoke(reason: "", by: "t"), revoked) }
        #expect(throws: CommandRejected.self) { try ApiKeyDecider.decide(.revoke(reason: "", by: "t"), ApiKeyDecider.initial) }
    }

    @Test("keys are 43 url-safe characters; the hash is SHA-256 hex")
    func material() {
        let key = ApiKeyMaterial.newKey()
        #expect(key.count == 43)
        #expect(key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(ApiKeyMaterial.newKey() != key)
        #expect(ApiKeyMaterial.sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(ApiKeyMaterial.prefix(key) == String(key.prefix(8)))
    }
}

/// The key routes against the real PostgreSQL that `scripts/test` starts.
@Suite("deploy-svc API keys", .serialized, .timeLimit(.minutes(2)))
struct ApiKeyRouteTests {
    static let json: HTTPFields = [.contentType: "application/json"]

    /// deploy-svc on a fresh database that already knows the model `b2b-retrieval` from registry-svc.
    func withService(_ test: @Sendable (any TestClientProtocol, PostgresClient) async throws -> Void) async throws {
        let definition = try DeployService.definition()
        try await withTestService(definition, prepare: { service in
            var created = RegisteredModelCreated()
            created.modelID = "b2b-retrieval"
            created.name = "b2b-retrieval"
            var envelope = EventEnvelope()
            try envelope.setPayload(created)
            envelope.aggregateID = "b2b-retrieval"
            envelope.occurredAt = Google_Protobuf_Timestamp(date: Date())
            try await service.project([envelope], into: "known_models")
        }) { service in try await test(service.testClient, service.postgres) }
    }

    func call(_ http: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil) async throws -> (HTTPResponse.Status, [String: Any]) {
        try await http.execute(uri: uri, method: method, headers: Self.json, body: body.map { ByteBuffer(string: $0) }) {
            ($0.status, (try? JSONSerialization.jsonObject(with: Data(buffer: $0.body))) as? [String: Any] ?? [:])
        }
    }

    @Test("create shows the key once and stores only its hash; list, revoke; bad input named")
    func keys() async throws {
        try await withService { http, client in
            let (status, created) = try await call(http, .post, "/api/models/b2b-retrieval/api-keys/", #"{"name": "mobile app"}"#)
            #expect(status == .created)
            let key = try #require(created["key"] as? String)
            let view = try #require(created["api_key"] as? [String: Any])
            let id = try #require(view["id"] as? String)
            #expect(view["key_prefix"] as? String == String(key.prefix(8)))
            #expect(view["is_active"] as? Bool == true)
            #expect(view["key"] == nil)

            let rows = try await client.query("SELECT key_sha256 FROM api_keys WHERE id = \(id)", logger: TestInfrastructure.logger)
            var stored: [String] = []
            for try await hash in rows.decode(String.self) { stored.append(hash) }
            #expect(stored == [ApiKeyMaterial.sha256(key)])

            let (_, list) = try await call(http, .get, "/api/models/b2b-retrieval/api-keys")
            let keys = try #require(list["api_keys"] as? [[String: Any]])
            #expect(keys.count == 1 && keys[0]["key"] == nil)
            #expect(!String(describing: list).contains(key), "the plain key never appears again")

            let (revokeStatus, revoked) = try await call(http, .delete, "/api/api-keys/\(id)/", #"{"reason": "rotated"}"#)
            #expect(revokeStatus == .ok)
            #expect(revoked["is_active"] as? Bool == false && revoked["revoked_at"] is String)
            #expect(try await call(http, .delete, "/api/api-keys/\(id)").0 == .conflict)

            #expect(try await call(http, .post, "/api/models/b2b-retrieval/api-keys", #"{"name": ""}"#).0 == .unprocessableContent)
            #expect(try await call(http, .post, "/api/models/b2b-retrieval/api-keys", #"{"name": "x", "expires_at": "2001-01-01T00:00:00Z"}"#).0 == .unprocessableContent)
            #expect(try await call(http, .post, "/api/models/b2b-retrieval/api-keys", #"{}"#).0 == .badRequest)
            #expect(try await call(http, .post, "/api/models/no-such-model/api-keys", #"{"name": "x"}"#).0 == .notFound)
            #expect(try await call(http, .delete, "/api/api-keys/no-such-key").0 == .notFound)
            let (_, after) = try await call(http, .get, "/api/models/b2b-retrieval/api-keys")
            #expect((after["api_keys"] as? [Any])?.count == 1, "rejected requests wrote nothing")
        }
    }
}
