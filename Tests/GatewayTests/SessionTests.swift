import Foundation
import GatewayCore
import HTTPTypes
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayTestSupport
import Testing

/// Browser logins: passwords kept as scrypt verifiers, a session cookie a script cannot read, and the CSRF token every
/// write by cookie must repeat.
@Suite("Gateway: browser sessions", .serialized, .timeLimit(.minutes(2)))
struct SessionTests {
    @Test("a password verifier checks the right password only, and a malformed or missing one checks nothing")
    func passwordVerifiers() throws {
        let verifier = try PasswordHasher.hash("correct horse battery")
        #expect(verifier.hasPrefix("$scrypt$ln=15,r=8,p=1$") && !verifier.contains("correct"))
        #expect(PasswordHasher.verify("correct horse battery", against: verifier))
        #expect(!PasswordHasher.verify("correct horse batterz", against: verifier))
        #expect(try PasswordHasher.hash("correct horse battery") != verifier, "salted")
        #expect(!PasswordHasher.verify("correct horse battery", against: nil))
        #expect(!PasswordHasher.verify("x", against: "$scrypt$ln=99,r=8,p=1$AAAA$AAAA"))
        #expect(!PasswordHasher.verify("x", against: "plain"))
    }

    @Test("failed logins: the limit within the window, then a wait that ends when the oldest failure leaves it; a success clears")
    func throttle() {
        let throttle = LoginThrottle(limit: 3, window: 60)
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        for second in 0..<3 {
            #expect(throttle.wait(for: "vera", now: t0 + Double(second)) == nil)
            throttle.failed("vera", now: t0 + Double(second))
        }
        #expect(throttle.wait(for: "vera", now: t0 + 10) == 50)
        #expect(throttle.wait(for: "ann", now: t0 + 10) == nil, "per username")
        #expect(throttle.wait(for: "vera", now: t0 + 60) == nil, "the oldest failure left the window")
        // The failures at 1 s and 2 s are still within the window: one more and it waits until 1 s leaves it.
        throttle.failed("vera", now: t0 + 60)
        #expect(throttle.wait(for: "vera", now: t0 + 60) == 1)
        throttle.succeeded("vera")
        #expect(throttle.wait(for: "vera", now: t0 + 60) == nil)
    }

    static func cookie(of response: APIResponse) throws -> String {
        let header = try #require(response.headers[.setCookie])
        let pair = try #require(header.split(separator: ";").first)
        return String(pair)
    }

    @Test("log in, read and write with the cookie and its CSRF token, refused without it or from another origin, log out")
    func loginWriteLogout() async throws {
        try await GatewayAuthTests.withGateway(upstreamPort: nil) { gateway, admin, _ in
            let api = gateway.api
            _ = try await GatewayAuthTests.user("vera", role: "editor", gateway: gateway, admin: admin)
            let before = try await gateway.store.events(aggregateType: UserDecider.aggregateType, aggregateID: "vera").count

            // Bad input is refused by field and writes nothing; only an admin sets another's password.
            try await api.put("/api/users/vera/password", #"{"password": "short"}"#, headers: GatewayAuthTests.bearer(admin))
                .expectError(.unprocessableContent, field: "password")
            try await api.put("/api/users/vera/password", #"{"pass": "x"}"#, headers: GatewayAuthTests.bearer(admin)).expectError(.badRequest)
            try await api.put("/api/users/nobody/password", #"{"password": "long enough password"}"#, headers: GatewayAuthTests.bearer(admin))
                .expectError(.notFound)
            #expect(try await gateway.store.events(aggregateType: UserDecider.aggregateType, aggregateID: "vera").count == before)
            // No password yet: refused like a wrong one.
            try await api.post("/api/session", #"{"username": "vera", "password": "long enough password"}"#).expectError(.unauthorized)

            try await api.put(
                "/api/users/vera/password", #"{"password": "long enough password"}"#, headers: GatewayAuthTests.bearer(admin), expect: .noContent)
            let wrong = try await api.post("/api/session", #"{"username": "vera", "password": "long enough passworD"}"#)
            let unknown = try await api.post("/api/session", #"{"username": "nobody", "password": "long enough password"}"#)
            #expect(wrong.status == .unauthorized && unknown.status == .unauthorized && wrong.body == unknown.body, "one answer for both")
            #expect(wrong.headers[.setCookie] == nil)

            let login = try await api.post("/api/session", #"{"username": "vera", "password": "long enough password"}"#, expect: .created)
            let setCookie = try #require(login.headers[.setCookie])
            for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
                #expect(setCookie.contains(attribute), "\(attribute) in \(setCookie)")
            }
            let cookie = try Self.cookie(of: login)
            #expect(cookie.hasPrefix("slipway_session=slw_"))
            let session = try login.json()
            let csrf = try #require(session["csrf_token"] as? String)
            #expect(session["username"] as? String == "vera" && session["role"] as? String == "editor")

            // A token is not a browser session: there is no session to show or end.
            try await api.get("/api/session", headers: GatewayAuthTests.bearer(admin)).expectError(.notFound)
            try await api.delete("/api/session", headers: GatewayAuthTests.bearer(admin)).expectError(.notFound)
            try await api.post("/api/session", #"{"username": "vera"}"#).expectError(.badRequest, field: "password")
            // Reads with the cookie alone; the session's own page gets the same CSRF token back.
            let me = try await api.get("/api/me", headers: [.cookie: cookie], expect: .ok).json()
            #expect(me["username"] as? String == "vera")
            #expect(try await api.get("/api/session", headers: [.cookie: cookie], expect: .ok).json()["csrf_token"] as? String == csrf)

            // Writes need the CSRF token, and from this origin.
            let noToken = try await api.post("/api/tokens", #"{"name": "from a page"}"#, headers: [.cookie: cookie])
            let refusal = try noToken.json()["error"] as? [String: Any]
            #expect(noToken.status == .forbidden && refusal?["code"] as? String == "csrf_failed")
            try await api.post("/api/tokens", #"{"name": "x"}"#, headers: [.cookie: cookie, .csrfToken: String(csrf.reversed())])
                .expectError(.forbidden)
            try await api.post(
                "/api/tokens", #"{"name": "x"}"#, headers: [.cookie: cookie, .csrfToken: csrf, .origin: "http://evil.example"]
            ).expectError(.forbidden)
            let issued = try await api.post(
                "/api/tokens", #"{"name": "from a page"}"#, headers: [.cookie: cookie, .csrfToken: csrf], expect: .created)
            let info = try issued.json()["token_info"] as? [String: Any]
            #expect(info?["username"] as? String == "vera")
            // The session is among vera's tokens, as a session.
            let tokens = try await api.get("/api/tokens", headers: [.cookie: cookie], expect: .ok).json()["tokens"] as? [[String: Any]] ?? []
            #expect(tokens.filter { $0["kind"] as? String == "session" }.count == 1 && tokens.count == 3, "\(tokens)")

            // Logging out needs the CSRF token too, clears the cookie and ends the session at once.
            try await api.delete("/api/session", headers: [.cookie: cookie]).expectError(.forbidden)
            let out = try await api.delete("/api/session", headers: [.cookie: cookie, .csrfToken: csrf], expect: .ok)
            #expect(out.headers[.setCookie]?.contains("Max-Age=0") == true)
            try await api.get("/api/me", headers: [.cookie: cookie]).expectError(.unauthorized)

            // A disabled user's session stops.
            let again = try Self.cookie(
                of: try await api.post("/api/session", #"{"username": "vera", "password": "long enough password"}"#, expect: .created))
            try await api.post("/api/users/vera/disable", "{}", headers: GatewayAuthTests.bearer(admin), expect: .ok)
            try await api.get("/api/me", headers: [.cookie: again]).expectError(.unauthorized)

            // The password is in no event: the verifier and who set it are.
            let events = try await gateway.store.events(aggregateType: UserDecider.aggregateType, aggregateID: "vera")
            let set = try #require(events.first { $0.eventType == UserPasswordSet.protoMessageName })
            let recorded = try UserPasswordSet(serializedBytes: set.payload)
            #expect(recorded.passwordHash.hasPrefix("$scrypt$") && recorded.setBy == "admin")
            for event in try await gateway.store.feed(after: 0, limit: 1000) {
                #expect(!String(decoding: event.payload, as: UTF8.self).contains("long enough password"))
            }
        }
    }

    @Test("a user changes their own password with the current one")
    func ownPassword() async throws {
        try await GatewayAuthTests.withGateway(upstreamPort: nil) { gateway, admin, _ in
            let api = gateway.api
            let vera = try await GatewayAuthTests.user("vera", role: "viewer", gateway: gateway, admin: admin)
            try await api.put("/api/me/password", #"{"password": "first password here"}"#, headers: GatewayAuthTests.bearer(vera), expect: .noContent)
            try await api.put("/api/me/password", #"{"password": "second password here"}"#, headers: GatewayAuthTests.bearer(vera))
                .expectError(.forbidden, field: "current_password")
            try await api.put(
                "/api/me/password", #"{"password": "second password here", "current_password": "wrong"}"#, headers: GatewayAuthTests.bearer(vera)
            ).expectError(.forbidden, field: "current_password")
            try await api.put(
                "/api/me/password", #"{"password": "second password here", "current_password": "first password here"}"#,
                headers: GatewayAuthTests.bearer(vera), expect: .noContent)
            try await api.post("/api/session", #"{"username": "vera", "password": "first password here"}"#).expectError(.unauthorized)
            try await api.post("/api/session", #"{"username": "vera", "password": "second password here"}"#, expect: .created)
            // Ten failed logins and the eleventh attempt waits, even with the right password; other users do not.
            for _ in 0..<10 {
                try await api.post("/api/session", #"{"username": "vera", "password": "a wrong password!"}"#).expectError(.unauthorized)
            }
            let throttled = try await api.post("/api/session", #"{"username": "vera", "password": "second password here"}"#)
            throttled.expectError(.tooManyRequests)
            #expect(throttled.text.contains("too_many_attempts") && throttled.headers[.setCookie] == nil)
            try await api.post("/api/session", #"{"username": "admin", "password": "whatever it is"}"#).expectError(.unauthorized)
            // A viewer may not set another's.
            try await api.put("/api/users/admin/password", #"{"password": "long enough password"}"#, headers: GatewayAuthTests.bearer(vera))
                .expectError(.forbidden)
        }
    }
}

extension HTTPField.Name {
    static let csrfToken = HTTPField.Name("X-CSRF-Token")!
}
