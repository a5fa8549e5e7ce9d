import Foundation
import GatewayCore
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

@Suite("Users and tokens: deciders")
struct IdentityDeciderTests {
    static let admin = UserDecider.Command.create(username: "root", role: .admin, displayName: "", actor: "bootstrap")

    @Test func createsAUserWithWhoMadeIt() throws {
        let events = try decide(UserDecider.self, given: [], when: .create(username: "vera", role: .viewer, displayName: "Vera", actor: "root"))
        guard case .userCreated(let created) = events.first, events.count == 1 else { Issue.record("\(events)"); return }
        #expect(created.username == "vera" && created.role == .viewer && created.displayName == "Vera" && created.createdBy == "root")
    }

    @Test("usernames are lowercase words", arguments: ["", "Vera", "1abc", "a b", "a/b", String(repeating: "a", count: 65)])
    func badUsernames(name: String) {
        expectRejection(
            UserDecider.self, given: [], when: .create(username: name, role: .viewer, displayName: "", actor: "root"), kind: .invalid,
            field: "username")
    }

    @Test func aUserIsCreatedOnce() throws {
        let created = try history(UserDecider.self, [Self.admin])
        expectRejection(UserDecider.self, given: created, when: Self.admin, kind: .conflict)
        expectRejection(
            UserDecider.self, given: [], when: .create(username: "x", role: .unspecified, displayName: "", actor: "root"), kind: .invalid,
            field: "role")
    }

    @Test("the last admin can be neither demoted nor disabled; with another admin they can")
    func lastAdmin() throws {
        let created = try history(UserDecider.self, [Self.admin])
        expectRejection(UserDecider.self, given: created, when: .changeRole(.editor, actor: "root", otherActiveAdmins: 0), kind: .conflict)
        expectRejection(UserDecider.self, given: created, when: .disable(reason: "", actor: "root", otherActiveAdmins: 0), kind: .conflict)
        let demoted = try decide(UserDecider.self, given: created, when: .changeRole(.editor, actor: "ann", otherActiveAdmins: 1))
        guard case .userRoleChanged(let changed) = demoted.first else { Issue.record("\(demoted)"); return }
        #expect(changed.role == .editor && changed.previousRole == .admin && changed.changedBy == "ann")
        #expect(try decide(UserDecider.self, given: created, when: .changeRole(.admin, actor: "ann", otherActiveAdmins: 0)).isEmpty)
    }

    @Test func aDisabledUserStaysDisabled() throws {
        let disabled = try history(
            UserDecider.self,
            [.create(username: "ed", role: .editor, displayName: "", actor: "root"), .disable(reason: "left", actor: "root", otherActiveAdmins: 1)])
        #expect(UserDecider.fold(disabled).disabled)
        #expect(try decide(UserDecider.self, given: disabled, when: .disable(reason: "", actor: "root", otherActiveAdmins: 1)).isEmpty)
        expectRejection(UserDecider.self, given: disabled, when: .changeRole(.admin, actor: "root", otherActiveAdmins: 1), kind: .conflict)
        expectRejection(UserDecider.self, given: [], when: .disable(reason: "", actor: "root", otherActiveAdmins: 1), kind: .notFound)
    }

    @Test func aPasswordIsSetWithinItsLengthsForAnActiveUser() throws {
        let created = try history(UserDecider.self, [.create(username: "ed", role: .editor, displayName: "", actor: "root")])
        let set = try decide(UserDecider.self, given: created, when: .setPassword(hash: "$scrypt$v", length: 12, actor: "root"))
        guard case .userPasswordSet(let event)? = set.first else { throw CommandRejected(.invalid, "no UserPasswordSet") }
        #expect(event.passwordHash == "$scrypt$v" && event.setBy == "root" && event.username == "ed")
        #expect(UserDecider.fold(created + set).hasPassword)
        for length in [0, 11, 201] {
            expectRejection(
                UserDecider.self, given: created, when: .setPassword(hash: "", length: length, actor: "root"), kind: .invalid, field: "password")
        }
        expectRejection(UserDecider.self, given: [], when: .setPassword(hash: "h", length: 20, actor: "root"), kind: .notFound)
        let disabled = try history(
            UserDecider.self,
            [.create(username: "ed", role: .editor, displayName: "", actor: "root"), .disable(reason: "left", actor: "root", otherActiveAdmins: 1)])
        expectRejection(UserDecider.self, given: disabled, when: .setPassword(hash: "h", length: 20, actor: "root"), kind: .conflict)
    }

    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func token(name: String = "ci", ownerActive: Bool = true, expiresAt: Date? = nil) -> ApiTokenDecider.Command {
        .issue(
            .init(
                id: "t1", username: "ed", ownerActive: ownerActive, name: name, tokenSha256: "ab", tokenPrefix: "slw_abcdefgh", expiresAt: expiresAt,
                issuedBy: "root", now: now))
    }

    @Test func issuesATokenKeepingOnlyItsHash() throws {
        let events = try decide(ApiTokenDecider.self, given: [], when: Self.token(name: "  ci  ", expiresAt: Self.now.addingTimeInterval(60)))
        guard case .apiTokenIssued(let issued) = events.first else { Issue.record("\(events)"); return }
        #expect(issued.name == "ci" && issued.tokenSha256 == "ab" && issued.username == "ed" && issued.issuedBy == "root")
        #expect(issued.expiresAt.date == Self.now.addingTimeInterval(60))
    }

    @Test func refusesBadTokens() throws {
        expectRejection(ApiTokenDecider.self, given: [], when: Self.token(name: " "), kind: .invalid, field: "name")
        expectRejection(ApiTokenDecider.self, given: [], when: Self.token(expiresAt: Self.now), kind: .invalid, field: "expires_at")
        expectRejection(ApiTokenDecider.self, given: [], when: Self.token(ownerActive: false), kind: .invalid, field: "username")
        let issued = try history(ApiTokenDecider.self, [Self.token()])
        expectRejection(ApiTokenDecider.self, given: issued, when: Self.token(), kind: .conflict)
        expectRejection(ApiTokenDecider.self, given: [], when: .revoke(reason: "", actor: "root"), kind: .notFound)
    }

    @Test("revoking twice records one revocation; a revoked token's usage is not recorded")
    func revocation() throws {
        let revoked = try history(ApiTokenDecider.self, [Self.token(), .revoke(reason: "leaked", actor: "ed")])
        #expect(revoked.count == 2)
        #expect(try decide(ApiTokenDecider.self, given: revoked, when: .revoke(reason: "", actor: "ed")).isEmpty)
        #expect(try decide(ApiTokenDecider.self, given: revoked, when: .recordUsage(lastUsedAt: Self.now, requestCount: 3)).isEmpty)
        let live = try history(ApiTokenDecider.self, [Self.token()])
        let used = try decide(ApiTokenDecider.self, given: live, when: .recordUsage(lastUsedAt: Self.now, requestCount: 3))
        guard case .apiTokenUsed(let usage) = used.first else { Issue.record("\(used)"); return }
        #expect(usage.requestCount == 3 && usage.tokenID == "t1")
        #expect(try decide(ApiTokenDecider.self, given: live, when: .recordUsage(lastUsedAt: Self.now, requestCount: 0)).isEmpty)
    }
}

@Suite("Access policy")
struct AccessPolicyTests {
    @Test(
        "who may call what",
        arguments: [
            ("GET", "/api/registered-models", AccessPolicy.Requirement.role(.viewer)),
            ("HEAD", "/api/registered-models", .role(.viewer)),
            ("POST", "/api/training-runs", .role(.editor)),
            ("PATCH", "/api/endpoints/shop", .role(.editor)),
            ("DELETE", "/api/api-keys/k", .role(.editor)),
            ("POST", "/api/deployments/4/rollback", .role(.editor)),
            ("GET", "/api/users", .role(.admin)),
            ("POST", "/api/users/ed/disable", .role(.admin)),
            ("POST", "/api/tokens", .role(.viewer)),
            ("DELETE", "/api/tokens/t1", .role(.viewer)),
            ("GET", "/api/me", .role(.viewer)),
            ("POST", "/api/training-runs/r1/webhook/completed", .open),
            ("POST", "/api/training-runs/r1/schedule-webhook", .open),
            ("POST", "/api/training/schedules/s1/webhook", .open),
            ("GET", "/api/training/schedules/s1/webhook", .role(.editor)),
            ("POST", "/api/training/schedules/s1/webhook/rotate", .role(.editor)),
            ("POST", "/api/training-runs/r1/webhook/completed/extra", .role(.editor)),
            ("GET", "/internal/events", .hidden),
            ("POST", "/internal/replay", .hidden),
            ("GET", "/healthz", .open),
            ("GET", "/readyz", .open),
        ])
    func requirement(method: String, path: String, expected: AccessPolicy.Requirement) {
        #expect(AccessPolicy().requirement(method: .init(method)!, path: path) == expected)
    }
}
