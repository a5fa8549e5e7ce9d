import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small, synchronous questions about other processes, by pid.
public enum ProcessInspection {
    /// `true` when a process with this pid exists and is not a zombie.
    public static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0, errno != EPERM { return false }
        #if os(Linux)
            if let state = statFields(pid)?.first, state == "Z" || state == "X" { return false }
        #endif
        return true
    }

    /// The process's start time in clock ticks since boot (Linux `/proc/PID/stat` field 22), used to
    /// tell a recorded pid from a later process that reused it. `nil` elsewhere or when gone.
    public static func startTicks(_ pid: Int32) -> UInt64? {
        #if os(Linux)
            guard let fields = statFields(pid), fields.count > 19 else { return nil }
            return UInt64(fields[19])
        #else
            return nil
        #endif
    }

    /// `true` when `pid` is alive and, if `startTicks` is known, is still the same process.
    public static func isSameProcess(_ pid: Int32, startTicks expected: UInt64?) -> Bool {
        guard isAlive(pid) else { return false }
        guard let expected, let current = startTicks(pid) else { return true }
        return expected == current
    }

    /// Sends `signal` to `pid`; `false` when the process does not exist.
    @discardableResult
    public static func send(_ signal: Int32, to pid: Int32) -> Bool {
        pid > 0 && kill(pid, signal) == 0
    }

    /// Polls until `pid` is gone or `timeout` elapses; returns whether it is gone.
    public static func waitForExit(_ pid: Int32, timeout: Duration, pollInterval: Duration = .milliseconds(50)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while isAlive(pid) {
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: pollInterval)
        }
        return true
    }

    /// The environment variable every process of `slipway up` carries: its data directory.
    public static let upRootVariable = "SLIPWAY_UP_ROOT"

    /// Processes (other than this one) whose environment says they belong to `slipway up` in `root`.
    /// Linux only (`/proc/PID/environ`); empty elsewhere.
    public static func processes(taggedWith root: String) -> [Int32] {
        #if os(Linux)
            let tag = Array("\(upRootVariable)=\(root)".utf8)
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return entries.compactMap { Int32($0) }.filter { pid in
                guard pid != getpid(), isAlive(pid), let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
                return environ.split(separator: 0).contains { $0.elementsEqual(tag) }
            }.sorted()
        #else
            return []
        #endif
    }

    /// The process's command line, for telling people what was still running.
    public static func commandLine(_ pid: Int32) -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "pid \(pid)" }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }

    /// Fields of `/proc/PID/stat` after the command name: index 0 is the state (field 3).
    private static func statFields(_ pid: Int32) -> [Substring]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }
}
