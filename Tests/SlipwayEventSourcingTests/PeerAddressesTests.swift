import Foundation
import NIOCore
import SlipwayEventSourcing
import Synchronization
import Testing

/// Calls to a peer's replicas: in turn, and to another only when no connection was made to the one tried.
@Suite("peer addresses")
struct PeerAddressesTests {
    struct Refused: Error {}

    @Test("each call starts at the next replica; a refused connection moves on, an answer or another error does not")
    func failover() async throws {
        let peer = PeerAddresses(parsing: "http://a:1/|http://b:2")
        #expect(peer.urls == ["http://a:1", "http://b:2"] && peer.description == "http://a:1|http://b:2")
        var firsts: [String] = []
        for _ in 0..<4 { firsts.append(try await peer.withFailover { $0 }) }
        #expect(Set(firsts) == ["http://a:1", "http://b:2"] && firsts[0] != firsts[1], "in turn: \(firsts)")

        // a refuses connections: every call ends at b, whichever it starts at.
        let tried = Mutex<[String]>([])
        for _ in 0..<4 {
            let answer = try await peer.withFailover { base -> String in
                tried.withLock { $0.append(base) }
                if base == "http://a:1" { throw IOError(errnoCode: ECONNREFUSED, reason: "connect") }
                return base
            }
            #expect(answer == "http://b:2")
        }
        #expect(tried.withLock { $0 }.count == 6, "a is tried in two calls of four, then b: \(tried.withLock { $0 })")

        // Any other failure (the request may have reached the replica) is the call's: nothing is sent twice.
        let attempts = Atomic<Int>(0)
        await #expect(throws: Refused.self) {
            try await peer.withFailover { _ -> String in
                attempts.add(1, ordering: .relaxed)
                throw Refused()
            }
        }
        #expect(attempts.load(ordering: .relaxed) == 1)
        // With every replica refusing, the last one's error is the call's.
        await #expect(throws: IOError.self) {
            try await peer.withFailover { _ -> String in throw IOError(errnoCode: ECONNREFUSED, reason: "connect") }
        }
        #expect(PeerAddresses.neverConnected(IOError(errnoCode: ECONNREFUSED, reason: "connect")))
        #expect(!PeerAddresses.neverConnected(IOError(errnoCode: ECONNRESET, reason: "read")))
    }
}
