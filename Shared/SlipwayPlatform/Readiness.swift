import Foundation
import Hummingbird
import Logging
import PostgresNIO
import Synchronization

/// Ready means: PostgreSQL answers, Kafka's bootstrap broker accepts connections, migrations are applied.
public final class Readiness: Sendable {
    private let migrated = Mutex(false)

    public init() {}

    public func markMigrated() { migrated.withLock { $0 = true } }
    public var isMigrated: Bool { migrated.withLock { $0 } }

    public struct Report: ResponseEncodable, Sendable {
        public var ready: Bool
        public var checks: [String: String]
    }

    public func check(postgres: PostgresClient?, kafkaBrokers: String?, logger: Logger) async -> Report {
        var checks: [String: String] = [:]
        if let postgres {
            do {
                _ = try await withTimeout(.seconds(1)) {
                    try await postgres.query("SELECT 1", logger: logger)
                }
                checks["postgres"] = "ok"
            } catch {
                checks["postgres"] = "unreachable"
            }
            checks["migrations"] = isMigrated ? "ok" : "pending"
        }
        if let kafkaBrokers {
            checks["kafka"] = tcpReachable(kafkaBrokers) ? "ok" : "unreachable"
        }
        return Report(ready: checks.values.allSatisfy { $0 == "ok" }, checks: checks)
    }
}

struct TimedOut: Error {}

func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimedOut()
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// A TCP connect to the first reachable `host:port` of a broker list, with a short timeout.
public func tcpReachable(_ addresses: String, timeoutMilliseconds: Int32 = 500) -> Bool {
    for address in addresses.split(separator: ",") {
        let parts = address.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { continue }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(String(parts[0]), String(port), &hints, &result) == 0, let info = result else { continue }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { continue }
        defer { close(fd) }
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        let status = connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen)
        if status == 0 { return true }
        guard errno == EINPROGRESS else { continue }
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&descriptor, 1, timeoutMilliseconds) == 1 else { continue }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        if error == 0 { return true }
    }
    return false
}
