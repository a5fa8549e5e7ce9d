import Foundation
import Synchronization

/// A clock a test moves by hand, for services whose definition takes `now` (timers, windows, slots).
public final class TestClock: Sendable {
    public let start: Date
    private let instant: Mutex<Date>

    public init(start: Date) {
        self.start = start
        instant = Mutex(start)
    }

    public var now: Date { instant.withLock { $0 } }

    /// `seconds` after the start.
    public func set(_ seconds: Double) { instant.withLock { $0 = start.addingTimeInterval(seconds) } }

    /// `minutes` after the start.
    public func set(minutes: Double) { set(minutes * 60) }
}
