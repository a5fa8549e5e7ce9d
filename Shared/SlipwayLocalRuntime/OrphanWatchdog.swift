import Foundation

/// Kills the supervisor's children when the supervisor dies without shutting down.
///
/// Linux's `prctl(PR_SET_PDEATHSIG)` must be called in the child between fork and exec, which
/// Foundation's `Process` (posix_spawn) offers no hook for. Instead a tiny `/bin/sh` loop runs
/// beside the supervisor: once a second it checks that the supervisor pid is alive (and not a zombie: an unreaped
/// supervisor would still answer `kill -0`) and that
/// `.slipway/up.pids` still exists. A clean shutdown deletes the pids file, and the watchdog
/// exits. If the supervisor disappears while the file exists (SIGKILL, crash), the watchdog
/// sends SIGTERM to each listed child's process group (last-started first), waits up to 10 s,
/// then SIGKILLs survivors. Children are killed within about a second.
///
/// The file's first line names the supervisor it belongs to. `slipway down` followed at once by
/// `slipway up` writes a new file while the old watchdog may still be in its last second of sleep; the
/// old one must not find its supervisor gone, see a pids file, and end the new platform's children.
///
/// Backstop: the next `slipway up` (and `slipway down`) reads `up.json` of a dead supervisor and
/// kills recorded children whose pid and start time still match.
struct OrphanWatchdog: Sendable {
    let pid: Int32

    static let script = #"""
        sup=$1; pids=$2
        alive() { s=$(cat /proc/"$1"/stat 2>/dev/null) || return 1; s=${s##*) }; [ "${s%% *}" != Z ]; }
        while [ -f "$pids" ] && alive "$sup"; do sleep 1; done
        content=$(cat "$pids" 2>/dev/null) || exit 0
        [ "$(printf '%s\n' "$content" | head -n 1)" = "supervisor $sup" ] || exit 0
        rm -f "$pids"
        list=$(printf '%s\n' "$content" | tail -n +2)
        [ -n "$list" ] || exit 0
        for p in $list; do kill -TERM -"$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; done
        i=0
        while [ $i -lt 10 ]; do
          alive=
          for p in $list; do alive "$p" && alive=1; done
          [ -z "$alive" ] && exit 0
          sleep 1; i=$((i+1))
        done
        for p in $list; do kill -KILL -"$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; done
        """#

    /// The pids file: `supervisor <pid>`, then one child pid per line.
    static func pidsFileContents(supervisorPID: Int32, children: [String]) -> String {
        (["supervisor \(supervisorPID)"] + children).joined(separator: "\n") + "\n"
    }

    static func start(supervisorPID: Int32, pidsFile: URL) throws -> OrphanWatchdog {
        try pidsFileContents(supervisorPID: supervisorPID, children: []).write(to: pidsFile, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, "slipway-watchdog", String(supervisorPID), pidsFile.path]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try SignalMask.withCleared { try process.run() }
        return OrphanWatchdog(pid: process.processIdentifier)
    }
}
