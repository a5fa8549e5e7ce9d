import Foundation

/// What `slipway status` shows: each managed process from `.slipway/up.json`, probed now.
public struct StatusReport: Sendable, Equatable {
    public enum State: String, Sendable, Equatable {
        /// Alive and its readiness check passes (HTTP 200 within 1 s, or the file exists).
        case ready
        /// Alive but its readiness check fails.
        case notReady = "not_ready"
        /// Not running (crashed and not restarted yet, or the supervisor is gone).
        case dead
    }

    public struct Row: Sendable, Equatable {
        public var name: String
        public var pid: Int32?
        public var state: State
        /// The readiness URL, or the readiness file path, or nil.
        public var url: String?
        public var restarts: Int
        public var logPath: String
    }

    public var stateFile: URL
    public var supervisorPID: Int32
    public var supervisorAlive: Bool
    public var status: UpState.Status
    public var startedAt: Date
    public var rows: [Row]

    /// 0 when the supervisor is alive and every process is ready; 1 otherwise.
    public var exitCode: Int32 {
        supervisorAlive && !rows.isEmpty && rows.allSatisfy { $0.state == .ready } ? 0 : 1
    }

    /// Reads `up.json` and probes every process (concurrently, each HTTP probe at most `probeTimeout`).
    /// Throws `LocalRuntimeError.notRunning` when there is no state file.
    public static func load(paths: SlipwayPaths = .default, probeTimeout: Duration = .seconds(1)) async throws -> StatusReport {
        let state = try UpState.read(from: paths.stateFile)
        let supervisorAlive = state.isSupervisorAlive
        let rows = await withTaskGroup(of: (Int, Row).self) { group in
            for (index, entry) in state.processes.enumerated() {
                group.addTask {
                    (index, await probe(entry, supervisorAlive: supervisorAlive, timeout: probeTimeout))
                }
            }
            var rows: [(Int, Row)] = []
            for await row in group { rows.append(row) }
            return rows.sorted { $0.0 < $1.0 }.map(\.1)
        }
        return StatusReport(
            stateFile: paths.stateFile, supervisorPID: state.supervisorPID, supervisorAlive: supervisorAlive,
            status: supervisorAlive ? state.status : .stopped, startedAt: state.startedAt, rows: rows)
    }

    static func probe(_ entry: UpState.ProcessEntry, supervisorAlive: Bool, timeout: Duration) async -> Row {
        var row = Row(
            name: entry.name, pid: entry.pid, state: .dead, url: entry.readinessURL ?? entry.readinessFile,
            restarts: entry.restarts, logPath: entry.logPath)
        guard supervisorAlive, let pid = entry.pid, ProcessInspection.isSameProcess(pid, startTicks: entry.startTicks) else {
            return row
        }
        let ready: Bool
        if let url = entry.readinessURL.flatMap(URL.init(string:)) {
            ready = await HTTPProbe.isOK(url, timeout: timeout)
        } else if let file = entry.readinessFile {
            ready = FileManager.default.fileExists(atPath: file)
        } else {
            ready = true
        }
        row.state = ready ? .ready : .notReady
        return row
    }
}
