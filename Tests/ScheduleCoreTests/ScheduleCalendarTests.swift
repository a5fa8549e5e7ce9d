import Foundation
import SlipwayTestSupport
import Testing

@testable import ScheduleCore

/// Slot arithmetic: the DST policy in zones that move by an hour, by 30 minutes and not at all; month ends;
/// and, for thousands of random schedules and instants, agreement with a minute-by-minute scan of the clock.
struct ScheduleCalendarTests {
    static func zone(_ name: String) -> TimeZone { TimeZone(identifier: name)! }
    static func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    func next(_ timing: ScheduleRule, after text: String) -> String? {
        ScheduleCalendar.nextSlot(after: Self.utc(text), timing).map { ISO8601DateFormatter().string(from: $0) }
    }

    @Test func warsawDailyThroughSpringForwardAndFallBack() {
        // 2026-03-29: 02:00 → 03:00 (UTC+1 → UTC+2). 02:30 does not exist: it fires at 03:00 local = 01:00Z.
        let gap = ScheduleRule(kind: .daily, hour: 2, minute: 30, timeZone: Self.zone("Europe/Warsaw"))
        #expect(next(gap, after: "2026-03-28T12:00:00Z") == "2026-03-29T01:00:00Z")
        #expect(next(gap, after: "2026-03-29T01:00:00Z") == "2026-03-30T00:30:00Z")
        // 2026-10-25: 03:00 → 02:00 (UTC+2 → UTC+1). 02:30 happens twice: it fires at the first, 00:30Z.
        #expect(next(gap, after: "2026-10-24T12:00:00Z") == "2026-10-25T00:30:00Z")
        #expect(next(gap, after: "2026-10-25T00:30:00Z") == "2026-10-26T01:30:00Z", "not again at the second 02:30")
        let slots = ScheduleCalendar.slots(after: Self.utc("2026-03-28T12:00:00Z"), count: 2, gap)
        #expect(slots.map(\.dst) == ["gap", nil])
        #expect(ScheduleCalendar.slots(after: Self.utc("2026-10-24T12:00:00Z"), count: 1, gap).first?.dst == "repeated")
    }

    @Test func newYorkAndLordHoweAndAZoneWithoutDST() {
        // New York 2026-03-08 02:00 → 03:00 (UTC−5 → UTC−4); 2026-11-01 02:00 → 01:00.
        let ny = ScheduleRule(kind: .daily, hour: 2, minute: 15, timeZone: Self.zone("America/New_York"))
        #expect(next(ny, after: "2026-03-07T12:00:00Z") == "2026-03-08T07:00:00Z")
        let nyRepeat = ScheduleRule(kind: .daily, hour: 1, minute: 30, timeZone: Self.zone("America/New_York"))
        #expect(next(nyRepeat, after: "2026-10-31T12:00:00Z") == "2026-11-01T05:30:00Z", "the first 01:30 (EDT)")
        // Lord Howe 2026-10-04 02:00 → 02:30 (UTC+10:30 → UTC+11): 02:10 fires at 02:30 local = 2026-10-03T15:30Z.
        let lordHowe = ScheduleRule(kind: .daily, hour: 2, minute: 10, timeZone: Self.zone("Australia/Lord_Howe"))
        #expect(next(lordHowe, after: "2026-10-03T00:00:00Z") == "2026-10-03T15:30:00Z")
        // 2026-04-05 02:00 → 01:30: 01:45 occurs twice; the first is on UTC+11, 14:45Z the day before.
        let lordHoweRepeat = ScheduleRule(kind: .daily, hour: 1, minute: 45, timeZone: Self.zone("Australia/Lord_Howe"))
        #expect(next(lordHoweRepeat, after: "2026-04-04T00:00:00Z") == "2026-04-04T14:45:00Z")
        // Kolkata (UTC+5:30, no DST): every day the same UTC instant.
        let kolkata = ScheduleRule(kind: .daily, hour: 9, minute: 0, timeZone: Self.zone("Asia/Kolkata"))
        #expect(next(kolkata, after: "2026-03-29T00:00:00Z") == "2026-03-29T03:30:00Z")
    }

    @Test func hourlyFiresOncePerRealHourThroughBothTransitions() {
        for (name, around) in [
            ("Europe/Warsaw", ["2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"]),
            ("America/New_York", ["2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"]),
            ("Australia/Lord_Howe", ["2026-10-03T15:30:00Z", "2026-04-04T15:00:00Z"]),
        ] {
            for minute in [0, 15, 45] {
                let hourly = ScheduleRule(kind: .hourly, minute: minute, timeZone: Self.zone(name))
                for center in around {
                    let slots = ScheduleCalendar.slots(after: Self.utc(center).addingTimeInterval(-6 * 3600), count: 12, hourly).map(\.at)
                    let hours = slots.map { Int($0.timeIntervalSince1970 / 3600) }
                    #expect(Set(hours).count == 12 && zip(hours, hours.dropFirst()).allSatisfy { $1 == $0 + 1 }, "\(name) \(minute): \(slots)")
                }
            }
        }
        let warsaw = ScheduleRule(kind: .hourly, minute: 15, timeZone: Self.zone("Europe/Warsaw"))
        #expect(next(warsaw, after: "2026-03-29T00:20:00Z") == "2026-03-29T01:15:00Z")
    }

    @Test func monthEndsSkipOrTakeTheLastDayAndWeeklyKeepsItsDay() {
        let skip = ScheduleRule(kind: .monthly, hour: 6, minute: 0, dayOfMonth: 31, timeZone: Self.zone("UTC"))
        #expect(next(skip, after: "2026-01-31T07:00:00Z") == "2026-03-31T06:00:00Z", "February and its 28 days are skipped")
        var last = skip
        last.monthEnd = .lastDay
        #expect(next(last, after: "2026-01-31T07:00:00Z") == "2026-02-28T06:00:00Z")
        #expect(next(last, after: "2026-03-31T07:00:00Z") == "2026-04-30T06:00:00Z")
        let leap = ScheduleRule(kind: .monthly, hour: 0, minute: 0, dayOfMonth: 29, timeZone: Self.zone("UTC"))
        #expect(next(leap, after: "2027-01-30T00:00:00Z") == "2027-03-29T00:00:00Z")
        #expect(next(leap, after: "2028-01-30T00:00:00Z") == "2028-02-29T00:00:00Z")
        // Sunday (6) at 23:30 in Warsaw is Sunday 21:30Z in summer.
        let weekly = ScheduleRule(kind: .weekly, hour: 23, minute: 30, dayOfWeek: 6, timeZone: Self.zone("Europe/Warsaw"))
        #expect(next(weekly, after: "2026-06-01T00:00:00Z") == "2026-06-07T21:30:00Z")
        let once = ScheduleRule(kind: .once, onceAt: Self.utc("2026-06-01T10:00:00Z"))
        #expect(next(once, after: "2026-05-01T00:00:00Z") == "2026-06-01T10:00:00Z")
        #expect(next(once, after: "2026-06-01T10:00:00Z") == nil)
    }

    @Test func civilDatesAgreeWithFoundation() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = Self.zone("UTC")
        for days in stride(from: -100_000, through: 200_000, by: 97) {  // 1696–2517: Foundation is Julian before 1582
            let date = CivilDate(daysSinceEpoch: days)
            let components = calendar.dateComponents([.year, .month, .day, .weekday], from: Date(timeIntervalSince1970: Double(days) * 86_400))
            #expect(date.year == components.year && date.month == components.month && date.day == components.day)
            #expect(date.weekday == (components.weekday! + 5) % 7, "0 = Monday")
            #expect(date.daysSinceEpoch == days)
        }
    }

    // MARK: The property: agreement with a scan of the clock

    static let zones = [
        "Europe/Warsaw", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC", "Pacific/Chatham", "America/Sao_Paulo",
        "Europe/London",
    ]

    /// The slot after `after` found by reading the local clock minute by minute: the policy in words, not arithmetic.
    static func scanned(after: Date, _ timing: ScheduleRule, limitDays: Int) -> Date? {
        let zone = timing.timeZone
        func local(_ t: Double) -> (date: CivilDate, minuteOfDay: Int) {
            let wall = t + Double(zone.secondsFromGMT(for: Date(timeIntervalSince1970: t)))
            let date = CivilDate(localSeconds: wall)
            return (date, Int((wall - Double(date.daysSinceEpoch) * 86_400) / 60))
        }
        let afterSeconds = floor(after.timeIntervalSince1970)
        // Start two days early, so a time that occurs twice is known to have fired at its first occurrence.
        var t = floor(afterSeconds / 60) * 60 - 2 * 86_400
        var firedDates = Set<Int>()
        var previous = local(t - 60)
        let target = timing.hour * 60 + timing.minute
        let end = afterSeconds + Double(limitDays) * 86_400
        while t <= end {
            let now = local(t)
            var fires = false
            switch timing.kind {
            case .hourly:
                // Once per UTC hour: at the minute where the clock, read with the hour's starting offset, shows `minute`.
                let hourStart = floor(t / 3600) * 3600
                let offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: hourStart))
                fires = Int((t + Double(offset)) / 60) % 60 == timing.minute
            case .daily, .weekly, .monthly:
                let matches: Bool
                switch timing.kind {
                case .weekly: matches = now.date.weekday == timing.dayOfWeek
                case .monthly:
                    let length = CivilDate.daysIn(year: now.date.year, month: now.date.month)
                    matches =
                        now.date.day == timing.dayOfMonth || (timing.monthEnd == .lastDay && timing.dayOfMonth > length && now.date.day == length)
                default: matches = true
                }
                let reached = now.minuteOfDay == target
                // The clock jumped over the time on this date: the first minute after the jump.
                let jumped = previous.date == now.date && previous.minuteOfDay < target && now.minuteOfDay > target
                fires = matches && (reached || jumped) && !firedDates.contains(now.date.daysSinceEpoch)
                if fires { firedDates.insert(now.date.daysSinceEpoch) }
            case .once:
                fires = false
            }
            if fires && t > afterSeconds { return Date(timeIntervalSince1970: t) }
            previous = now
            t += 60
        }
        return nil
    }

    @Test func randomSchedulesAgreeWithAMinuteByMinuteScan() {
        var random = SeededGenerator(state: 20_261_205)
        var checked = 0
        for _ in 0..<1_200 {
            let kind = [ScheduleRule.Kind.hourly, .daily, .daily, .weekly, .monthly].randomElement(using: &random)!
            let zone = Self.zone(Self.zones.randomElement(using: &random)!)
            var timing = ScheduleRule(
                kind: kind, hour: Int.random(in: 0..<24, using: &random), minute: Int.random(in: 0..<60, using: &random),
                dayOfWeek: Int.random(in: 0..<7, using: &random), dayOfMonth: Int.random(in: 1...31, using: &random), timeZone: zone,
                monthEnd: Bool.random(using: &random) ? .skip : .lastDay)
            if kind != .hourly, Bool.random(using: &random) {
                // Around 01:00–03:00 local, where transitions happen.
                timing.hour = Int.random(in: 0...3, using: &random)
            }
            // 2024–2031, half of the instants within a day of one of the zone's transitions.
            var after = Date(timeIntervalSince1970: Double.random(in: 1_704_067_200..<1_924_992_000, using: &random).rounded())
            if Bool.random(using: &random), let transition = zone.nextDaylightSavingTimeTransition(after: after) {
                after = transition.addingTimeInterval(Double(Int.random(in: -86_400...3_600, using: &random)))
            }
            let limit = kind == .monthly ? 70 : 9
            let expected = Self.scanned(after: after, timing, limitDays: limit)
            let actual = ScheduleCalendar.nextSlot(after: after, timing)
            #expect(actual == expected, "\(timing) after \(after)")
            if let actual {
                #expect(actual > after)
                checked += 1
            }
        }
        #expect(checked > 1_100)
    }
}
