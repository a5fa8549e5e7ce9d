import Foundation
import Synchronization

/// Slows password guessing: after `limit` failed logins for one username within `window`, further attempts for that
/// username are refused (429, with how long to wait) until the oldest failure leaves the window; a success clears
/// the username's failures. Counted per gateway replica, in memory: with N replicas a guesser gets N times the
/// attempts, and a restart forgets them — the limit bounds guessing speed, it is not an account lock.
public final class LoginThrottle: Sendable {
    public let limit: Int
    public let window: TimeInterval
    private let failures = Mutex<[String: [Date]]>([:])

    public init(limit: Int = 10, window: TimeInterval = 15 * 60) {
        self.limit = limit
        self.window = window
    }

    /// How long `username` must wait before the next attempt; nil when it may try now.
    public func wait(for username: String, now: Date = Date()) -> TimeInterval? {
        failures.withLock { failures in
            let recent = (failures[username] ?? []).filter { now.timeIntervalSince($0) < window }
            failures[username] = recent.isEmpty ? nil : recent
            guard recent.count >= limit, let oldest = recent.first else { return nil }
            return window - now.timeIntervalSince(oldest)
        }
    }

    public func failed(_ username: String, now: Date = Date()) {
        failures.withLock { failures in
            // Bounded: a flood of made-up usernames must not grow this without end.
            if failures.count >= 100_000 { failures = failures.filter { $0.value.contains { now.timeIntervalSince($0) < window } } }
            failures[username, default: []].append(now)
        }
    }

    public func succeeded(_ username: String) {
        _ = failures.withLock { $0.removeValue(forKey: username) }
    }
}
