/// Allocation-free timestamp parsing shared by the trainer and the scorer.
///
/// Accepted forms: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]` (a space may replace `T`),
/// or a plain integer/decimal number of seconds since the Unix epoch.
public enum Timestamp {
    /// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
    @inlinable
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// (year, month 1...12, day 1...31) for days since 1970-01-01.
    @inlinable
    public static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// Seconds since the epoch, or nil when the text is not a recognised timestamp.
    public static func parse(_ text: Substring) -> Double? {
        var s = text.utf8[...]
        while let f = s.first, f == 32 { s = s.dropFirst() }
        while let l = s.last, l == 32 || l == 13 { s = s.dropLast() }
        if s.isEmpty { return nil }
        let bytes = Array(s)
        // Plain number = epoch seconds.
        if bytes.count < 10 || (bytes[4] != UInt8(ascii: "-")) {
            return Double(String(decoding: bytes, as: UTF8.self))
        }
        var i = 0
        func num(_ n: Int) -> Int? {
            guard i + n <= bytes.count else { return nil }
            var v = 0
            for k in 0..<n {
                let c = bytes[i + k]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < bytes.count, bytes[i] == c else { return false }
            i += 1
            return true
        }
        guard let y = num(4), expect(45), let mo = num(2), expect(45), let d = num(2),
            (1...12).contains(mo), (1...31).contains(d)
        else { return nil }
        var secs = Double(daysFromCivil(year: y, month: mo, day: d)) * 86400
        if i == bytes.count { return secs }
        guard bytes[i] == UInt8(ascii: "T") || bytes[i] == 32 else { return nil }
        i += 1
        guard let hh = num(2), expect(58), let mm = num(2), hh < 24, mm < 60 else { return nil }
        secs += Double(hh * 3600 + mm * 60)
        if expect(58) {
            guard let ss = num(2), ss < 61 else { return nil }
            secs += Double(ss)
            if expect(46) {
                var frac = 0.0, scale = 0.1
                while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 {
                    frac += Double(bytes[i] - 48) * scale; scale /= 10; i += 1
                }
                secs += frac
            }
        }
        if i == bytes.count { return secs }
        if expect(UInt8(ascii: "Z")) { return i == bytes.count ? secs : nil }
        let sign: Double
        if expect(43) { sign = 1 } else if expect(45) { sign = -1 } else { return nil }
        guard let oh = num(2) else { return nil }
        _ = expect(58)
        let om = num(2) ?? 0
        guard i == bytes.count else { return nil }
        return secs - sign * Double(oh * 3600 + om * 60)
    }

    public static func parse(_ text: String) -> Double? { parse(text[...]) }

    /// ISO-8601 UTC text (`YYYY-MM-DDTHH:MM:SSZ`) for epoch seconds.
    public static func format(_ seconds: Double) -> String {
        let t = Int(seconds.rounded(.down))
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let rem = t - days * 86400
        let (y, m, d) = civilFromDays(days)
        func p2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(p2(m))-\(p2(d))T\(p2(rem / 3600)):\(p2(rem / 60 % 60)):\(p2(rem % 60))Z"
    }
}
