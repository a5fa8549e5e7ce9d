import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SlipwayPlatform
import Testing

/// Who a request acts for is believed only under a fresh signature of the platform's actor secret.
@Suite("Actor voucher")
struct ActorVoucherTests {
    static let secret = String(repeating: "k", count: 32)
    static let voucher = ActorVoucher(secret: secret)
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("a signature vouches for its name, from its secret, for five minutes either way")
    func signatures() {
        let signature = Self.voucher.signature(for: "alice", at: Self.now)
        #expect(signature.hasPrefix("t=1800000000,v1=") && signature.count == "t=1800000000,v1=".count + 64)
        #expect(Self.voucher.vouches(for: "alice", signature: signature, now: Self.now))
        #expect(Self.voucher.vouches(for: "alice", signature: signature, now: Self.now + 300))
        #expect(Self.voucher.vouches(for: "alice", signature: signature, now: Self.now - 300), "a signer's clock a little ahead")
        #expect(!Self.voucher.vouches(for: "alice", signature: signature, now: Self.now + 301), "too old")
        #expect(!Self.voucher.vouches(for: "alice", signature: signature, now: Self.now - 301), "too far ahead")
        #expect(!Self.voucher.vouches(for: "alicia", signature: signature, now: Self.now), "another name")
        let otherSecret = ActorVoucher(secret: String(repeating: "x", count: 32)).signature(for: "alice", at: Self.now)
        #expect(!Self.voucher.vouches(for: "alice", signature: otherSecret, now: Self.now), "another secret")
        // The time is signed too: moving it breaks the signature.
        let moved = signature.replacingOccurrences(of: "t=1800000000", with: "t=1800000100")
        #expect(!Self.voucher.vouches(for: "alice", signature: moved, now: Self.now))
    }

    @Test(
        "malformed signatures vouch for nobody",
        arguments: [nil, "", "t=1800000000", "v1=00", "t=abc,v1=00", "t=1800000000,v1=", "t=1800000000,v1=zz", ",,,"])
    func malformed(signature: String?) {
        #expect(!Self.voucher.vouches(for: "alice", signature: signature, now: Self.now))
    }

    /// A route that answers `Request.actor` behind the middleware.
    static func whoAsks(_ voucher: ActorVoucher?) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ActorVouchingMiddleware(voucher: voucher))
        router.get("/who") { request, _ in request.actor }
        return router
    }

    @Test("the middleware keeps a vouched-for name and makes any other caller internal; with no secret, everyone is internal")
    func middleware() async throws {
        let signed: HTTPFields = [.actor: "alice", ActorVoucher.signatureField: Self.voucher.signature(for: "alice")]
        try await Application(router: Self.whoAsks(Self.voucher)).test(.router) { client in
            let cases: [(HTTPFields, String)] = [
                (signed, "alice"),
                ([.actor: "alice"], "internal"),
                ([.actor: "mallory", ActorVoucher.signatureField: Self.voucher.signature(for: "alice")], "internal"),
                ([.actor: "alice", ActorVoucher.signatureField: Self.voucher.signature(for: "alice", at: Date() - 600)], "internal"),
                ([:], "internal"),
            ]
            for (headers, expected) in cases {
                let answer = try await client.execute(uri: "/who", method: .get, headers: headers)
                #expect(String(buffer: answer.body) == expected, "\(headers)")
            }
        }
        try await Application(router: Self.whoAsks(nil)).test(.router) { client in
            let answer = try await client.execute(uri: "/who", method: .get, headers: signed)
            #expect(String(buffer: answer.body) == "internal", "no secret: nobody can vouch")
        }
    }
}
