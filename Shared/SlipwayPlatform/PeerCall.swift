import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1

/// Another Slipway service's answer to one call: its status and body as they came.
public struct PeerAnswer: Sendable {
    public var status: UInt
    public var body: [UInt8]

    public var isSuccess: Bool { (200..<300).contains(status) }

    /// The body as a JSON object; empty when it is not one.
    public var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]) ?? [:] }
}

/// A peer that could not be reached (refused, timed out): the caller says what that means for its own answer.
public struct PeerUnreachable: Error, CustomStringConvertible {
    public var peer: String
    public var url: String
    public var underlying: any Error

    public var description: String { "\(peer) is not reachable at \(url) (\(underlying))" }

    /// The 503 a route answers with when the peer it needs cannot be reached; `consequence` says what that meant.
    public func unavailable(_ consequence: String = "") -> APIError {
        APIError(.serviceUnavailable, code: "unavailable", message: consequence.isEmpty ? description : "\(description); \(consequence)")
    }
}

extension ServiceEnvironment {
    /// One call to another service's API, by its name (`--peer`): the one way services ask each other synchronously
    /// (see docs/architecture.md). With several replicas, the next one in turn (`PeerAddresses`). JSON bodies; `headers` are passed as given. `actor` is whom the call acts for
    /// (`X-Slipway-Actor`: the caller a route passes on, or the worker's own name), signed with the actor secret
    /// (`ActorVoucher`); the peer records it as who caused what it does, and `internal` when nobody is named or no secret is set.
    public func callPeer(
        _ peer: String, _ method: HTTPMethod, _ path: String, json body: [UInt8]? = nil, headers: [(String, String)] = [],
        actor: String? = nil, timeout: TimeAmount = .seconds(10)
    ) async throws -> PeerAnswer {
        let addresses = config.peer(peer)
        do {
            return try await addresses.withFailover { base in
                var request = HTTPClientRequest(url: base + path)
                request.method = method
                for (name, value) in headers { request.headers.add(name: name, value: value) }
                if let actor, let voucher = config.actorVoucher {
                    request.headers.replaceOrAdd(name: HTTPField.Name.actor.rawName, value: actor)
                    request.headers.replaceOrAdd(name: ActorVoucher.signatureField.rawName, value: voucher.signature(for: actor))
                }
                if let body {
                    request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(bytes: body))
                }
                let response = try await httpClient.execute(request, timeout: timeout)
                return PeerAnswer(status: response.status.code, body: Array(try await response.body.collect(upTo: 16 << 20).readableBytesView))
            }
        } catch {
            throw PeerUnreachable(peer: peer, url: "\(addresses)\(path)", underlying: error)
        }
    }

    /// `callPeer` with a JSON object as the body.
    public func callPeer(
        _ peer: String, _ method: HTTPMethod, _ path: String, object: [String: Any], actor: String? = nil, timeout: TimeAmount = .seconds(10)
    ) async throws -> PeerAnswer {
        try await callPeer(peer, method, path, json: Array(try JSONSerialization.data(withJSONObject: object)), actor: actor, timeout: timeout)
    }
}
