import Foundation

extension StatusReport {
    /// An aligned table for `slipway status`:
    ///
    /// ```
    /// slipway running (supervisor pid 4242, up since 2026-11-22T04:05:00Z)
    /// NAME        PID    STATE      RESTARTS  URL
    /// devbroker   4250   ready      0         /work/.slipway/devbroker.addr
    /// gateway     4263   not_ready  2         http://127.0.0.1:8080/health
    /// ```
    public func formatted(colors: Bool = false) -> String {
        let header = ["NAME", "PID", "STATE", "RESTARTS", "URL"]
        let cells = rows.map { row in
            [row.name, row.pid.map(String.init) ?? "-", row.state.rawValue, String(row.restarts), row.url ?? "-"]
        }
        let widths = header.indices.map { column in
            ([header] + cells).map { $0[column].count }.max() ?? 0
        }
        func line(_ values: [String], state: State? = nil) -> String {
            values.enumerated().map { column, value in
                let padded = column == values.count - 1 ? value : value.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                guard colors, column == 2, let state else { return padded }
                let code = state == .ready ? "32" : state == .notReady ? "33" : "31"
                return "\u{1B}[\(code)m\(padded)\u{1B}[0m"
            }.joined(separator: "  ")
        }
        let since = ISO8601DateFormatter().string(from: startedAt)
        let title =
            supervisorAlive
            ? "slipway \(status.rawValue) (supervisor pid \(supervisorPID), up since \(since))"
            : "slipway is not running (last supervisor pid \(supervisorPID), started \(since))"
        return ([title, line(header)] + zip(rows, cells).map { line($1, state: $0.state) }).joined(separator: "\n") + "\n"
    }
}
