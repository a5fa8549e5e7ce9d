import Foundation

/// When a schedule fires, in the wall-clock time of its zone.
public struct ScheduleRule: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case once, hourly, daily, weekly, monthly
    }

    /// What a monthly schedule on day 29–31 does in a month without that day.
    public enum MonthEnd: String, Sendable, CaseIterable {
        /// The month has no slot (the spec's behaviour, the default).
        case skip
        /// The month's last day instead.
        case lastDay = "last_day"
    }

    public var kind: Kind
    /// `once`: the instant.
    public var onceAt: Date?
    /// 0–23 (daily, weekly, monthly).
    public var hour: Int
    /// 0–59; for hourly, the minute past each hour.
    public var minute: Int
    /// 0 = Monday … 6 = Sunday (weekly).
    public var dayOfWeek: Int
    /// 1–31 (monthly).
    public var dayOfMonth: Int
    public var timeZone: TimeZone
    public var monthEnd: MonthEnd

    public init(
        kind: Kind, onceAt: Date? = nil, hour: Int = 0, minute: Int = 0, dayOfWeek: Int = 0, dayOfMonth: Int = 1,
        timeZone: TimeZone = TimeZone(identifier: "UTC")!, monthEnd: MonthEnd = .skip
    ) {
        self.kind = kind
        self.onceAt = onceAt
        self.hour = hour
        self.minute = minute
        self.dayOfWeek = dayOfWeek
        self.dayOfMonth = dayOfMonth
        self.timeZone = timeZone
        self.monthEnd = monthEnd
    }
}

/// The one place that turns a schedule's timing into instants. Slots are whole minutes (a `once` slot whole seconds),
/// and each slot is strictly after the one before.
///
/// DST policy (daily, weekly, monthly at a local `hour:minute`):
/// - a local time inside a spring-forward gap fires at the first instant after the gap (the transition);
/// - a local time that occurs twice at fall-back fires once, at its first occurrence (the earlier instant, still
///   on the summer offset).
///
/// Hourly schedules fire once in every real (UTC) hour, at `minute` past the hour of the local clock as it reads
/// when that real hour begins. In zones whose offsets differ by whole hours that is always the local `minute`, and
/// through both transitions nothing fires twice or is missed; where a change is 30 minutes (Australia/Lord_Howe)
/// the hour of the change keeps the spacing of real hours rather than the clock.
public enum ScheduleCalendar {
    /// The first slot strictly after `instant`, or nil when there is none (a `once` in the past).
    public static func nextSlot(after instant: Date, _ timing: ScheduleRule) -> Date? {
        let after = floor(instant.timeIntervalSince1970)
        switch timing.kind {
        case .once:
            // Whole seconds, like every slot: the slot is an identity (a fractional one would be "after" itself).
            guard let at = timing.onceAt.map({ Date(timeIntervalSince1970: floor($0.timeIntervalSince1970)) }), at.timeIntervalSince1970 > after
            else { return nil }
            return at
        case .hourly:
            // The real hour containing `after`, then the following ones: the first whose slot is later.
            var hourStart = floor(after / 3600) * 3600
            while true {
                let offset = offsetSeconds(timing.timeZone, hourStart)
                let minuteOfHour = ((timing.minute * 60 - offset) % 3600 + 3600) % 3600
                let slot = hourStart + Double(minuteOfHour)
                if slot > after { return Date(timeIntervalSince1970: slot) }
                hourStart += 3600
            }
        case .daily, .weekly, .monthly:
            // Local dates from the one before `after` on (a slot of yesterday's date can fall after `after`
            // once offsets are taken into account), the first matching date whose slot is later.
            var day = CivilDate(localSeconds: after + Double(offsetSeconds(timing.timeZone, after))).daysSinceEpoch - 1
            for _ in 0..<(366 * 8) {
                defer { day += 1 }
                let date = CivilDate(daysSinceEpoch: day)
                guard let slotDay = matchingDay(date, timing) else { continue }
                let slot = Self.instant(of: slotDay, hour: timing.hour, minute: timing.minute, in: timing.timeZone)
                if slot.instant > after { return Date(timeIntervalSince1970: slot.instant) }
            }
            return nil
        }
    }

    /// The next `count` slots after `instant`, each with how DST touched it.
    public static func slots(after instant: Date, count: Int, _ timing: ScheduleRule) -> [Slot] {
        var slots: [Slot] = []
        var cursor = instant
        while slots.count < count, let next = nextSlot(after: cursor, timing) {
            slots.append(Slot(at: next, dst: dstEffect(next, timing)))
            cursor = next
        }
        return slots
    }

    public struct Slot: Sendable, Equatable {
        public let at: Date
        /// nil, or how a DST change moved it: `gap` (the local time did not exist; fired after the gap) or
        /// `repeated` (the local time occurred twice; fired at the first).
        public let dst: String?
    }

    /// How DST affected a slot of a local-time schedule.
    static func dstEffect(_ slot: Date, _ timing: ScheduleRule) -> String? {
        guard [.daily, .weekly, .monthly].contains(timing.kind) else { return nil }
        let seconds = slot.timeIntervalSince1970
        let local = CivilDate(localSeconds: seconds + Double(offsetSeconds(timing.timeZone, seconds)))
        let resolved = instant(of: local, hour: timing.hour, minute: timing.minute, in: timing.timeZone)
        return resolved.inGap ? "gap" : resolved.repeated ? "repeated" : nil
    }

    /// The local date a monthly, weekly or daily schedule fires on, if `date` is one (for monthly with `last_day`,
    /// the day itself may be earlier than `day_of_month`).
    static func matchingDay(_ date: CivilDate, _ timing: ScheduleRule) -> CivilDate? {
        switch timing.kind {
        case .daily: return date
        case .weekly: return date.weekday == timing.dayOfWeek ? date : nil
        case .monthly:
            let length = CivilDate.daysIn(year: date.year, month: date.month)
            if date.day == timing.dayOfMonth { return date }
            if timing.monthEnd == .lastDay, timing.dayOfMonth > length, date.day == length { return date }
            return nil
        case .once, .hourly: return nil
        }
    }

    /// The instant of local `hour:minute` on `date`: the earlier one when it occurs twice, the end of the gap when it
    /// does not occur.
    static func instant(of date: CivilDate, hour: Int, minute: Int, in zone: TimeZone) -> (instant: Double, inGap: Bool, repeated: Bool) {
        let wall = Double(date.daysSinceEpoch) * 86_400 + Double(hour * 3600 + minute * 60)
        // The offsets in force a day either side cover every offset the wall time can have.
        let offsets = Set([offsetSeconds(zone, wall - 86_400), offsetSeconds(zone, wall + 86_400), offsetSeconds(zone, wall)])
        let valid = offsets.map { wall - Double($0) }.filter { Double(offsetSeconds(zone, $0)) == wall - $0 }.sorted()
        if let first = valid.first { return (first, false, valid.count > 1) }
        // A gap: the change lies between the instant the wall time would have under the larger offset and the one
        // under the smaller; the first instant on the new offset is the slot.
        let larger = Double(offsets.max()!), smaller = Double(offsets.min()!)
        var low = wall - larger  // still on the smaller offset
        var high = wall - smaller  // already on the larger one
        while high - low > 1 {
            let middle = floor((low + high) / 2)
            if Double(offsetSeconds(zone, middle)) == larger { high = middle } else { low = middle }
        }
        return (high, true, false)
    }

    static func offsetSeconds(_ zone: TimeZone, _ seconds: Double) -> Int {
        zone.secondsFromGMT(for: Date(timeIntervalSince1970: seconds))
    }
}

/// A proleptic Gregorian date, converted to and from days since 1970-01-01 with integer arithmetic (H. Hinnant's
/// civil-date algorithms), so slot arithmetic never depends on a calendar's locale or time zone.
struct CivilDate: Sendable, Equatable {
    let year: Int
    let month: Int
    let day: Int

    init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    init(daysSinceEpoch days: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// The local date of a wall-clock reading given as seconds since 1970-01-01T00:00 local.
    init(localSeconds: Double) {
        self.init(daysSinceEpoch: Int(floor(localSeconds / 86_400)))
    }

    var daysSinceEpoch: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
    var weekday: Int { ((daysSinceEpoch % 7) + 7 + 3) % 7 }

    static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
