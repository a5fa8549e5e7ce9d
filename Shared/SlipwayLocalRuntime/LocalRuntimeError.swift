import Foundation

/// Errors raised by the local runtime (`slipway up` / `status` / `down` and the embedded PostgreSQL).
///
/// Every case renders a message meant for a person at a terminal: what failed, where to look and,
/// when there is one, what to do next.
public enum LocalRuntimeError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// No PostgreSQL server binaries were found.
    case postgresNotInstalled(searched: [String])
    /// An external command (initdb, pg_ctl, chown, useradd...) failed.
    case commandFailed(command: String, status: Int32, output: String)
    /// A requested TCP port is already taken by another process.
    case portInUse(Int)
    /// The cluster directory is already served by a postmaster on another port than the one requested.
    case postgresRunningOnOtherPort(pid: Int32, port: Int, requested: Int)
    /// A durable start found the cluster already running without fsync.
    case postgresRunningWithoutFsync(pid: Int32)
    /// The `postgres` user cannot reach the cluster directory (a parent directory is not searchable).
    case directoryNotReachableByPostgresUser(String)
    /// A managed process could not be launched.
    case launchFailed(name: String, reason: String)
    /// A managed process exited before it became ready.
    case exitedBeforeReady(name: String, status: Int32, logTail: [String])
    /// A managed process did not become ready in time.
    case readinessTimeout(name: String, seconds: Double, readiness: String, logTail: [String])
    /// Another supervisor is running for the same state directory.
    case supervisorAlreadyRunning(pid: Int32, stateFile: String)
    /// `slipway status` / `down` found no state file.
    case notRunning(stateFile: String)
    /// Two specs share a name.
    case duplicateProcessName(String)
    /// The supervisor did not exit in time after SIGTERM.
    case supervisorDidNotExit(pid: Int32, seconds: Double)

    public var description: String {
        switch self {
        case .postgresNotInstalled(let searched):
            return "PostgreSQL server binaries were not found (looked in \(searched.joined(separator: ", "))). "
                + "Run the project's setup script, `scripts/setup`, to install PostgreSQL, then try again."
        case .commandFailed(let command, let status, let output):
            let trimmed = output.trimmingCharacters(in: .whitespacesAndNewlines)
            return "`\(command)` failed with exit status \(status)" + (trimmed.isEmpty ? "" : ":\n\(trimmed)")
        case .portInUse(let port):
            return "TCP port \(port) on 127.0.0.1 is already in use; choose another port or omit it to pick a free one."
        case .postgresRunningOnOtherPort(let pid, let port, let requested):
            return "PostgreSQL (pid \(pid)) is already running for this directory on port \(port), "
                + "but port \(requested) was requested; stop it first (`slipway down`) or use port \(port)."
        case .postgresRunningWithoutFsync(let pid):
            return "PostgreSQL (pid \(pid)) is already running for this directory with fsync=off, "
                + "so it cannot be made durable in place; stop it first (`slipway down`), then start again."
        case .directoryNotReachableByPostgresUser(let path):
            return "The `postgres` user cannot reach \(path) (PostgreSQL refuses to run as root, so it runs as `postgres`); "
                + "a parent directory is not searchable by other users. Use a directory under /tmp or /work, "
                + "or make the parents searchable (chmod o+x)."
        case .launchFailed(let name, let reason):
            return "could not start \(name): \(reason)"
        case .exitedBeforeReady(let name, let status, let logTail):
            return "\(name) exited with status \(status) before it became ready" + Self.render(logTail)
        case .readinessTimeout(let name, let seconds, let readiness, let logTail):
            return "\(name) did not become ready within \(Self.format(seconds)) s (waiting for \(readiness))"
                + Self.render(logTail)
        case .supervisorAlreadyRunning(let pid, let stateFile):
            return "slipway is already running (supervisor pid \(pid), state in \(stateFile)); run `slipway down` first."
        case .notRunning(let stateFile):
            return "slipway is not running (no state file at \(stateFile)); start it with `slipway up`."
        case .duplicateProcessName(let name):
            return "two managed processes are named \(name); names must be unique."
        case .supervisorDidNotExit(let pid, let seconds):
            return "the supervisor (pid \(pid)) did not exit within \(Self.format(seconds)) s after SIGTERM."
        }
    }

    public var errorDescription: String? { description }

    private static func render(_ tail: [String]) -> String {
        tail.isEmpty ? " (its log is empty)" : "; last lines of its log:\n" + tail.map { "  \($0)" }.joined(separator: "\n")
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.1f", seconds)
    }
}
