import Foundation

/// What the supervisor runs: one child process and how to tell it is ready.
public struct ManagedProcess: Sendable, Equatable {
    /// Unique name: the output prefix, the log file name (`.slipway/logs/<name>.log`), the status row.
    public var name: String
    public var executable: URL
    public var arguments: [String]
    /// Added to (and overriding) the supervisor's own environment.
    public var environment: [String: String]
    public var workingDirectory: URL?
    public var readiness: Readiness
    /// How long to wait for readiness at start before failing `slipway up`.
    public var readinessTimeout: Duration
    public var restartPolicy: RestartPolicy
    /// After SIGTERM, how long to wait before SIGKILL: longer than a Slipway process's own bound on its
    /// shutdown (`ShutdownBudget`, 11 s), so SIGKILL only ever meets a process that is stuck.
    public var stopTimeout: Duration

    public init(
        name: String,
        executable: URL,
        arguments: [String] = [],
        environment: [String: String] = [:],
        workingDirectory: URL? = nil,
        readiness: Readiness = .none,
        readinessTimeout: Duration = .seconds(30),
        restartPolicy: RestartPolicy = .always(),
        stopTimeout: Duration = .seconds(15)
    ) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.readiness = readiness
        self.readinessTimeout = readinessTimeout
        self.restartPolicy = restartPolicy
        self.stopTimeout = stopTimeout
    }
}

/// How the supervisor knows a process is ready.
public enum Readiness: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Ready as soon as it is running.
    case none
    /// Ready when `GET url` answers 200 (e.g. `http://127.0.0.1:8081/health`).
    case http(URL)
    /// Ready when the file exists (e.g. the dev broker's bootstrap-address file). A stale file is
    /// removed before each launch so an old one cannot count.
    case file(URL)

    public var description: String {
        switch self {
        case .none: return "process start"
        case .http(let url): return "GET \(url.absoluteString) → 200"
        case .file(let url): return "file \(url.path)"
        }
    }
}

/// What to do when a process exits on its own (not during shutdown).
public enum RestartPolicy: Sendable, Equatable {
    /// Leave it dead (`slipway status` reports it).
    case never
    /// Restart after any exit.
    case always(Backoff = Backoff())
    /// Restart only after a non-zero exit or a signal.
    case onFailure(Backoff = Backoff())

    func backoff(forExitStatus status: Int32, reason: Process.TerminationReason) -> Backoff? {
        switch self {
        case .never: return nil
        case .always(let backoff): return backoff
        case .onFailure(let backoff): return status == 0 && reason == .exit ? nil : backoff
        }
    }
}

/// Exponential restart delay: `initial`, doubling up to `maximum`; back to `initial` once the
/// process has run `resetAfter` without crashing.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    public var resetAfter: Duration

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30), resetAfter: Duration = .seconds(60)) {
        self.initial = initial
        self.maximum = maximum
        self.resetAfter = resetAfter
    }

    /// The delay after `previous` (nil: first crash).
    func next(after previous: Duration?) -> Duration {
        guard let previous else { return initial }
        return min(previous * 2, maximum)
    }
}
