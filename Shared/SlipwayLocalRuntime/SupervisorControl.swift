import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `slipway down`: stops a supervisor started by `slipway up`, from another process.
public enum SupervisorControl {
    public enum DownResult: Sendable, Equatable {
        /// The supervisor received SIGTERM and exited (after stopping its children).
        case stopped(pid: Int32)
        /// Nothing was running; `orphansKilled` children of a dead supervisor were killed.
        case notRunning(orphansKilled: Int)
    }

    /// What `down` found still running after the supervisor: processes tagged with the data directory
    /// (`ProcessInspection.upRootVariable`) that it ended, by command line. Empty when every service
    /// stopped what it had started, as it should.
    public struct Leftovers: Sendable, Equatable {
        public var commandLines: [String]
    }

    /// `down`, then ends whatever tagged with this data directory is still running (SIGTERM, SIGKILL after
    /// `grace`): a model-server whose deploy-svc did not stop it, a child of a supervisor that was killed.
    public static func downCompletely(paths: SlipwayPaths = .default, grace: Duration = .seconds(3)) async throws -> (DownResult, Leftovers) {
        let result = try await down(paths: paths)
        let pids = ProcessInspection.processes(taggedWith: paths.root.path)
        let commandLines = pids.map(ProcessInspection.commandLine)
        for pid in pids { ProcessInspection.send(SIGTERM, to: pid) }
        for pid in pids where !(await ProcessInspection.waitForExit(pid, timeout: grace)) { ProcessInspection.send(SIGKILL, to: pid) }
        return (result, Leftovers(commandLines: commandLines))
    }

    /// Sends SIGTERM to the supervisor recorded in `up.json` and waits for it to exit.
    ///
    /// The default `timeout` covers the supervisor's own shutdown (10 s per child, then its
    /// `onShutdown` hook). When the supervisor is already dead, kills any recorded children that
    /// are still alive (same pid and start time) and marks the state file stopped.
    public static func down(paths: SlipwayPaths = .default, timeout: Duration = .seconds(120)) async throws -> DownResult {
        var state = try UpState.read(from: paths.stateFile)
        guard state.isSupervisorAlive else {
            var killed = 0
            if state.status != .stopped {
                for entry in state.processes.reversed() {
                    guard let pid = entry.pid, ProcessInspection.isSameProcess(pid, startTicks: entry.startTicks) else { continue }
                    if getpgid(pid) == pid { kill(-pid, SIGKILL) }
                    kill(pid, SIGKILL)
                    killed += 1
                }
                state.status = .stopped
                state.stoppedAt = Date()
                for index in state.processes.indices { state.processes[index].pid = nil }
                try state.write(to: paths.stateFile)
                try? FileManager.default.removeItem(at: paths.pidsFile)
            }
            return .notRunning(orphansKilled: killed)
        }
        let pid = state.supervisorPID
        ProcessInspection.send(SIGTERM, to: pid)
        guard await ProcessInspection.waitForExit(pid, timeout: timeout) else {
            let seconds = Double(timeout.components.seconds)
            throw LocalRuntimeError.supervisorDidNotExit(pid: pid, seconds: seconds)
        }
        return .stopped(pid: pid)
    }
}
