import DeployCore
import Foundation
import HTTPTypes
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayTestSupport
import Testing

@Suite("API key decider")
struct ApiKeyDeciderTests {
    typealias D = ApiKeyDecider

    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func create(name: String = "mobile app", expiresAt: Date? = nil) -> D.Command {
        .create(
            D.NewApiKey(
                id: "k1", model: "m", name: name, keyPrefix: "abcdefgh", keySha256: "ab12", expiresAt: expiresAt, createdBy: "alice", now: now))
    }

    @Test("create emits the key's hash and prefix, never the key; the name is trimmed")
    func createEmitsTheKeysHash() throws {
        let events = try decide(D.self, given: [], when: Self.create(name: "  mobile app ", expiresAt: Self.now + 3600))
        guard case .apiKeyCreated(let created)? = events.first, events.count == 1 else { Issue.record("got \(events)"); return }
        #expect(created.apiKeyID == "k1" && created.registeredModelID == "m" && created.name == "mobile app")
        #expect(created.keyPrefix == "abcdefgh" && created.keySha256 == "ab12" && created.createdBy == "alice")
        #expect(created.expiresAt.date == Self.now + 3600)
    }

    typealias Refusal = SlipwayTestSupport.Refusal<D>

    @Test(
        "created once, revoked once; bad input names the field; an unknown key is not found",
        arguments: [
            Refusal(name: "empty name", given: [], when: create(name: "  "), kind: .invalid, field: "name"),
            Refusal(name: "long name", given: [], when: create(name: String(repeating: "n", count: 101)), kind: .invalid, field: "name"),
            Refusal(name: "expired", given: [], when: create(expiresAt: now), kind: .invalid, field: "expires_at"),
            Refusal(name: "exists", given: [create()], when: create(), kind: .conflict, field: nil),
            Refusal(name: "revoke unknown", given: [], when: .revoke(reason: "", actor: "t"), kind: .notFound, field: nil),
            Refusal(
                name: "revoke twice", given: [create(), .revoke(reason: "leaked", actor: "t")], when: .revoke(reason: "", actor: "t"),
                kind: .conflict, field: nil),
            Refusal(
                name: "negative usage", given: [create()], when: .recordUsage(.init(endpointID: "e", lastUsedAt: now, requestCount: -1)),
                kind: .invalid, field: "request_count"),
            Refusal(
                name: "usage of an unknown key", given: [], when: .recordUsage(.init(endpointID: "e", lastUsedAt: now, requestCount: 1)),
                kind: .notFound, field: nil),
        ])
    func refused(_ refusal: Refusal) throws {
        try expectRejection(refusal)
    }

    @Test("revoking records who and why; usage is recorded for an active key only, and only when there was some")
    func revokeAndUsage() throws {
        let created = try history(D.self, [Self.create()])
        let revoked = try decide(D.self, given: created, when: .revoke(reason: "leaked", actor: "t"))
        guard case .apiKeyRevoked(let event)? = revoked.first, revoked.count == 1 else { Issue.record("got \(revoked)"); return }
        #expect(event.apiKeyID == "k1" && event.reason == "leaked" && event.revokedBy == "t" && event.keyPrefix == "abcdefgh")
        #expect(D.fold(created + revoked).revoked)

        let usage = D.ApiKeyUsage(endpointID: "shop", lastUsedAt: Self.now, requestCount: 5)
        let used = try decide(D.self, given: created, when: .recordUsage(usage))
        guard case .apiKeyUsed(let usedEvent)? = used.first, used.count == 1 else { Issue.record("got \(used)"); return }
        #expect(usedEvent.registeredModelID == "m" && usedEvent.endpointID == "shop" && usedEvent.requestCount == 5)
        #expect(try decide(D.self, given: created + revoked, when: .recordUsage(usage)).isEmpty)
        #expect(try decide(D.self, given: created, when: .recordUsage(.init(endpointID: "shop", lastUsedAt: Self.now, requestCount: 0))).isEmpty)
    }

    @Test("keys are 43 url-safe characters; the hash is SHA-256 hex")
    func material() {
        let key = SecretMaterial.newSecret()
        #expect(key.count == 43)
        #expect(key.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(SecretMaterial.newSecret() != key)
        #expect(SecretMaterial.sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SecretMaterial.prefix(key) == String(key.prefix(8)))
    }
}

/// The key routes against the real PostgreSQL that `scripts/test` starts.
@Suite("deploy-svc API keys", .serialized, .timeLimit(.minutes(2)))
struct ApiKeyRouteTests {
    /// deploy-svc on a fresh database that already knows the model `b2b-retrieval` from registry-svc.
    func withService(_ test: @Sendable (TestService) async throws -> Void) async throws {
        try await withTestService(
            try DeployService.definition(),
            prepare: { service in
                var registry = EnvelopeBuilder(service: "registry")
                var created = RegisteredModelCreated()
                created.modelID = "b2b-retrieval"
                created.name = "b2b-retrieval"
                try await service.project(
                    [try registry.envelope(created, aggregateType: "RegisteredModel", aggregateID: "b2b-retrieval")], into: "known_models")
            }, test)
    }

    @Test("create shows the key once and stores only its hash; list, revoke; bad input named")
    func keys() async throws {
        try await withService { service in
            let api = service.api
            let created = try await api.post("/api/models/b2b-retrieval/api-keys/", #"{"name": "mobile app"}"#, expect: .created).json()
            let key = try #require(created["key"] as? String)
            let view = try #require(created["api_key"] as? [String: Any])
            let id = try #require(view["id"] as? String)
            #expect(view["key_prefix"] as? String == String(key.prefix(8)))
            #expect(view["is_active"] as? Bool == true)
            #expect(view["key"] == nil)
            #expect(view["expires_at"] == nil, "absent dates are left out")
            #expect(view["purpose"] as? String == "client")

            let rows = try await service.postgres.query("SELECT key_sha256 FROM api_keys WHERE id = \(id)", logger: TestInfrastructure.logger)
            var stored: [String] = []
            for try await hash in rows.decode(String.self) { stored.append(hash) }
            #expect(stored == [SecretMaterial.sha256(key)])

            let list = try await api.get("/api/models/b2b-retrieval/api-keys", expect: .ok)
            let keys = try #require(try list.json()["api_keys"] as? [[String: Any]])
            #expect(keys.count == 1 && keys[0]["key"] == nil)
            #expect(!list.text.contains(key), "the plain key never appears again")

            let revoked = try await api.delete("/api/api-keys/\(id)/", #"{"reason": "rotated"}"#, expect: .ok).json()
            #expect(revoked["is_active"] as? Bool == false && revoked["revoked_at"] is String)
            try await api.delete("/api/api-keys/\(id)", expect: .conflict)

            // Bad input: a malformed body is a 400, a rule a well-formed body breaks a 422 naming the field.
            for (body, status, field) in [
                (#"{"name": ""}"#, HTTPResponse.Status.unprocessableContent, "name"),
                (#"{"name": "x", "expires_at": "2001-01-01T00:00:00Z"}"#, .unprocessableContent, "expires_at"),
                (#"{}"#, .badRequest, "name"),
                (#"{"name": 7}"#, .badRequest, "name"),
                (#"{"name": "x""#, .badRequest, nil),
                (#"{"name": "x", "purpose": "spying"}"#, .unprocessableContent, "purpose"),
            ] as [(String, HTTPResponse.Status, String?)] {
                let answer = try await api.post("/api/models/b2b-retrieval/api-keys", body, expect: status)
                #expect(answer.errorField == field, "\(body) → \(answer.text)")
            }
            try await api.post("/api/models/no-such-model/api-keys", #"{"name": "x"}"#, expect: .notFound)
            try await api.delete("/api/api-keys/no-such-key", expect: .notFound)
            let second = try await api.post("/api/models/b2b-retrieval/api-keys", #"{"name": "second"}"#, expect: .created).json()
            let secondID = try #require((second["api_key"] as? [String: Any])?["id"] as? String)
            try await api.delete("/api/api-keys/\(secondID)", #"{"reason": "#, expect: .badRequest)
            let after = try await api.get("/api/models/b2b-retrieval/api-keys").json()
            #expect((after["api_keys"] as? [Any])?.count == 2, "rejected requests wrote nothing")
            #expect(try await service.scalar("SELECT count(*) FROM slipway.events WHERE aggregate_type = 'ApiKey'") == 3)

            // testing-svc's key: its purpose is shown and reaches the router, which logs its requests as test traffic.
            let testing = try await api.post(
                "/api/models/b2b-retrieval/api-keys", #"{"name": "slipway-testing", "purpose": "testing"}"#, expect: .created
            ).json()
            #expect((testing["api_key"] as? [String: Any])?["purpose"] as? String == "testing")
            let snapshot = try await api.get("/internal/routing", expect: .ok).json()
            let purposes = (snapshot["api_keys"] as? [[String: Any]] ?? []).compactMap { $0["purpose"] as? String }
            #expect(purposes.sorted() == ["client", "client", "testing"], "\(snapshot)")

            // serving-router's usage report: unknown keys are skipped; bad entries are named.
            let usage = try await api.post(
                "/internal/api-keys/usage",
                """
                {"usage": [{"api_key_id": "\(secondID)", "endpoint_id": "shop", "last_used_at": "2026-11-22T10:00:00.250Z", "request_count": 5},
                           {"api_key_id": "unknown", "last_used_at": "2026-11-22T10:00:00Z", "request_count": 1}]}
                """, expect: .ok)
            #expect(usage.text == #"{"recorded":1}"#)
            let negative = try await api.post(
                "/internal/api-keys/usage",
                #"{"usage": [{"api_key_id": "\#(secondID)", "last_used_at": "2026-11-22T10:00:00Z", "request_count": -1}]}"#,
                expect: .unprocessableContent)
            #expect(negative.errorField == "usage[0].request_count")
            try await api.post("/internal/api-keys/usage", #"{"usage": {}}"#, expect: .badRequest)
        }
    }
}
