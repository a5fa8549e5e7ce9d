import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import SlipwayEventSourcing

/// Vouches for `X-Slipway-Actor`, the user a request acts for. The gateway names the caller it authenticated, and a
/// service calling a peer for someone names them (`callPeer(actor:)`); both sign the name with the platform's actor
/// secret (`--actor-secret`, `--actor-secret-file` or `SLIPWAY_ACTOR_SECRET`; shared by the gateway and the services,
/// never by clients) in `X-Slipway-Actor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.name">`.
///
/// A service believes the name only under a signature of its own secret at most five minutes old; any other request
/// that names someone reached its port without the secret, and counts as `internal` like one that names nobody
/// (`ActorVouchingMiddleware`). The signature vouches for the name, not for the request: one seen on the network can
/// be replayed for five minutes, so service ports stay inside the cluster (k8s/base/network-policies.yaml).
public struct ActorVoucher: Sendable {
    public static let signatureField = HTTPField.Name("X-Slipway-Actor-Signature")!
    /// How old a signature may be, and how far a signer's clock may run ahead.
    public static let maxAge: TimeInterval = 300
    /// The shortest secret accepted: 128 bits as hex.
    public static let minimumSecretLength = 32

    let key: SymmetricKey

    public init(secret: String) {
        key = SymmetricKey(data: Data(secret.utf8))
    }

    /// The signature header's value for `actor`, signed at `date`.
    public func signature(for actor: String, at date: Date = Date()) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        return "t=\(seconds),v1=\(SecretMaterial.hex(code(actor: actor, seconds: seconds)))"
    }

    /// Whether `signature` is this secret's for `actor`, made within `maxAge` of `now`.
    public func vouches(for actor: String, signature: String?, now: Date = Date()) -> Bool {
        guard let signature else { return false }
        var seconds: Int64?
        var given: String?
        for part in signature.split(separator: ",") {
            if part.hasPrefix("t=") { seconds = Int64(part.dropFirst(2)) }
            if part.hasPrefix("v1=") { given = String(part.dropFirst(3)) }
        }
        guard let seconds, let given, abs(now.timeIntervalSince1970 - TimeInterval(seconds)) <= Self.maxAge else { return false }
        return SecretMaterial.constantTimeEqual(Array(SecretMaterial.hex(code(actor: actor, seconds: seconds)).utf8), Array(given.utf8))
    }

    /// The name as signed: without the spaces around it, which HTTP does not keep in a field's value.
    private func code(actor: String, seconds: Int64) -> HashedAuthenticationCode<SHA256> {
        HMAC<SHA256>.authenticationCode(for: Data("\(seconds).\(actor.trimmingCharacters(in: .whitespaces))".utf8), using: key)
    }
}

/// Keeps `X-Slipway-Actor` only when the actor secret vouches for it; otherwise removes it, so `Request.actor` is
/// `internal`. In every service's router (the gateway's too: a client's own header never names anyone there).
public struct ActorVouchingMiddleware<Context: RequestContext>: RouterMiddleware {
    let voucher: ActorVoucher?

    public init(voucher: ActorVoucher?) {
        self.voucher = voucher
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let actor = request.headers[.actor] else { return try await next(request, context) }
        if let voucher, voucher.vouches(for: actor, signature: request.headers[ActorVoucher.signatureField]) {
            return try await next(request, context)
        }
        context.logger.warning(
            "X-Slipway-Actor without a valid signature: the request counts as internal",
            metadata: [LogKey.actorSigned: "\(request.headers[ActorVoucher.signatureField] != nil)"])
        var head = request.head
        head.headerFields[.actor] = nil
        head.headerFields[ActorVoucher.signatureField] = nil
        return try await next(Request(head: head, body: request.body), context)
    }
}
