import Foundation

/// A window of serving figures and the buckets that answer it. The window ends now and starts on a minute
/// boundary, so it is exactly a set of minute buckets (the newest still filling). Whole hours inside it are
/// read from hour buckets; only the leading partial hour is read minute by minute. Every request in the
/// window is in exactly one of the buckets read.
public struct ServingWindow: Sendable, Equatable {
    /// First minute bucket in the window.
    public let start: Date
    public let end: Date
    /// Minute buckets read: `[start, hoursFrom)`.
    public let minutes: Range<Date>
    /// Hour buckets read: those starting in `[hoursFrom, end]`; none when the window is read minute by minute.
    public let hoursFrom: Date
    /// The series' point size: minutes up to `minuteSeriesHours`, hours beyond (and then hour buckets are read).
    public let step: RollupGranularity
    /// Up to this many hours a series is per minute (360 points at most).
    public static let minuteSeriesHours = 6

    /// The last `minutes` minutes: the current minute and the `minutes - 1` before it.
    public init(lastMinutes minutes: Int, now: Date) {
        let current = RollupGranularity.minute.bucket(of: now)
        self.init(start: current.addingTimeInterval(-Double((minutes - 1) * 60)), end: now, step: .minute)
    }

    /// The last `hours` hours, to the minute.
    public init(lastHours hours: Int, now: Date) {
        let current = RollupGranularity.minute.bucket(of: now)
        let step: RollupGranularity = hours <= Self.minuteSeriesHours ? .minute : .hour
        self.init(start: current.addingTimeInterval(-Double(hours * 3600 - 60)), end: now, step: step)
    }

    /// From `start` (rounded down to its minute; midnight for "today") to now, per hour.
    public init(since start: Date, now: Date) {
        self.init(start: RollupGranularity.minute.bucket(of: start), end: now, step: .hour)
    }

    init(start: Date, end: Date, step: RollupGranularity) {
        self.start = start
        self.end = end
        self.step = step
        let firstWholeHour = RollupGranularity.hour.bucket(of: start.addingTimeInterval(3599))
        let hoursFrom = step == .hour && firstWholeHour <= end ? firstWholeHour : end.addingTimeInterval(1)
        self.hoursFrom = hoursFrom
        self.minutes = start..<max(start, min(hoursFrom, end.addingTimeInterval(1)))
    }

    /// Elapsed length of the window, for per-minute rates.
    public var seconds: Double { max(end.timeIntervalSince(start), 1) }
}
