import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One launch of a `ManagedProcess`: the Foundation `Process`, two reader threads that forward
/// its stdout/stderr line by line (to the multiplexer and to its log file), and its exit status.
///
/// The exit is reported only after both pipes reached EOF (or 2 s after the process exited, in
/// case a grandchild kept them open), so no output is lost at exit.
final class ChildProcess: Sendable {
    struct Exit: Sendable, Equatable {
        var status: Int32
        var reason: Process.TerminationReason
    }

    let spec: ManagedProcess
    let generation: Int
    let startedAt: ContinuousClock.Instant
    private let process: Process
    private let exit = Mutex<Exit?>(nil)

    var pid: Int32 { process.processIdentifier }
    var exitStatus: Exit? { exit.withLock { $0 } }
    var hasExited: Bool { exitStatus != nil }

    private init(spec: ManagedProcess, generation: Int, process: Process) {
        self.spec = spec
        self.generation = generation
        self.process = process
        self.startedAt = ContinuousClock.now
    }

    /// Launches the process and its output readers. `onExit` runs once, on a Dispatch queue.
    static func launch(
        _ spec: ManagedProcess,
        generation: Int,
        logFile: URL,
        output: OutputMultiplexer,
        prefix: String,
        onExit: @escaping @Sendable (ChildProcess, Exit) -> Void
    ) throws -> ChildProcess {
        let process = Process()
        process.executableURL = spec.executable
        process.arguments = spec.arguments
        process.environment = ProcessInfo.processInfo.environment.merging(spec.environment) { _, new in new }
        if let directory = spec.workingDirectory { process.currentDirectoryURL = directory }
        process.standardInput = FileHandle.nullDevice
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr

        let logFD = open(logFile.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard logFD >= 0 else {
            throw LocalRuntimeError.launchFailed(name: spec.name, reason: "cannot open log file \(logFile.path) (errno \(errno))")
        }
        let child = ChildProcess(spec: spec, generation: generation, process: process)
        let readers = DispatchGroup()
        readers.enter()
        readers.enter()
        process.terminationHandler = { finished in
            let status = Exit(status: finished.terminationStatus, reason: finished.terminationReason)
            DispatchQueue.global().async {
                _ = readers.wait(timeout: .now() + 2)
                child.exit.withLock { $0 = status }
                onExit(child, status)
            }
        }
        do {
            try SignalMask.withCleared { try process.run() }
        } catch {
            close(logFD)
            throw LocalRuntimeError.launchFailed(name: spec.name, reason: "\(spec.executable.path): \(error)")
        }
        let logHandle = SharedFileDescriptor(logFD, users: 2)
        for pipe in [stdout, stderr] {
            let thread = Thread {
                pump(pipe: pipe, log: logHandle, output: output, prefix: prefix)
                readers.leave()
            }
            thread.name = "slipway-output-\(spec.name)"
            thread.start()
        }
        return child
    }

    /// Sends `signal` to the child's process group (Foundation makes each child a group leader),
    /// so shell wrappers and their children get it too; falls back to the pid alone.
    func send(_ signal: Int32) {
        let pid = self.pid
        guard pid > 0, !hasExited else { return }
        if getpgid(pid) == pid, kill(-pid, signal) == 0 { return }
        _ = kill(pid, signal)
    }

    /// Polls until the exit was recorded, `timeout` elapsed, or `abort()` says to stop waiting.
    func waitForExit(timeout: Duration, abort: @Sendable () -> Bool = { false }) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        // A zombie counts as exited: Foundation notices an exit when a socket it hands the child is
        // closed, which is late if the child left a background process holding it.
        while !hasExited && ProcessInspection.isAlive(pid) {
            if clock.now >= deadline || abort() { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Reads one pipe to EOF on a dedicated thread (blocking reads never touch the cooperative pool).
    private static func pump(pipe: Pipe, log: SharedFileDescriptor, output: OutputMultiplexer, prefix: String) {
        let fd = pipe.fileHandleForReading.fileDescriptor
        var splitter = LineSplitter()
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        func deliver(_ line: [UInt8]) {
            log.write(line + [UInt8(ascii: "\n")])
            output.emit(prefix: prefix, line: String(decoding: line, as: UTF8.self))
        }
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                for line in splitter.append(buffer[0..<count]) { deliver(line) }
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        if let last = splitter.flush() { deliver(last) }
        log.release()
        withExtendedLifetime(pipe) {}
    }
}

/// A file descriptor written by several threads (`O_APPEND`, one `write` per line) and closed
/// by the last user.
final class SharedFileDescriptor: Sendable {
    private let state: Mutex<(fd: Int32, users: Int)>

    init(_ fd: Int32, users: Int) {
        state = Mutex((fd, users))
    }

    func write(_ bytes: [UInt8]) {
        state.withLock { state in
            guard state.fd >= 0 else { return }
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { Glibc.write(state.fd, $0.baseAddress! + offset, $0.count - offset) }
                if written > 0 { offset += written } else if written < 0 && errno == EINTR { continue } else { return }
            }
        }
    }

    func release() {
        state.withLock { state in
            state.users -= 1
            if state.users == 0, state.fd >= 0 {
                close(state.fd)
                state.fd = -1
            }
        }
    }
}
