import AsyncHTTPClient
import NIOCore
import NIOPosix
import Synchronization

/// A peer service's base URLs, one per replica (`--peer training=http://127.0.0.1:8101|http://127.0.0.1:8111`; on
/// Kubernetes or compose one Service address, which balances by itself). Each call starts at the next replica in turn
/// and moves on to the following one only when no connection could be made to it — the request never reached it, so
/// it cannot have acted — and any answer, an error status too, is the call's answer.
public final class PeerAddresses: Sendable, CustomStringConvertible {
    public let urls: [String]
    private let turn = Atomic<Int>(0)

    /// `urls` without trailing slashes; at least one.
    public init(_ urls: [String]) {
        precondition(!urls.isEmpty, "a peer has at least one address")
        self.urls = urls.map { url in
            var url = url
            while url.hasSuffix("/") { url.removeLast() }
            return url
        }
    }

    /// `http://a|http://b`.
    public convenience init(parsing text: String) { self.init(text.split(separator: "|").map(String.init)) }

    public var description: String { urls.joined(separator: "|") }

    /// `attempt` with each replica's base URL in turn, until one is connected to.
    public func withFailover<T>(_ attempt: (String) async throws -> T) async throws -> T {
        let start = Int(UInt(bitPattern: turn.wrappingAdd(1, ordering: .relaxed).oldValue) % UInt(urls.count))
        for offset in 0..<urls.count {
            do {
                return try await attempt(urls[(start + offset) % urls.count])
            } catch  where offset < urls.count - 1 && Self.neverConnected(error) {
                continue
            }
        }
        fatalError("unreachable: the last attempt returns or throws")
    }

    /// Whether `error` means the request never reached the server: the connection was refused or not made in time.
    /// (`HTTPClient.slipwayInternal` fails such a request at once rather than retrying until its deadline.)
    public static func neverConnected(_ error: any Error) -> Bool {
        switch error {
        case is NIOConnectionError: return true
        case let error as HTTPClientError: return error == .connectTimeout
        case let error as ChannelError: if case .connectTimeout = error { return true } else { return false }
        case let error as IOError: return [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains(error.errnoCode)
        default: return false
        }
    }
}
