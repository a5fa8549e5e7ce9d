import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One trainer child process: its stdout lines as an async stream (read on dedicated threads, so a
/// blocking read never sits on the cooperative pool), stderr into the same log, and the last lines
/// kept for error messages.
final class TrainerProcess: Sendable {
    let lines: AsyncStream<String>
    private let process: Process
    private let output = Output()

    /// What the reader threads and the termination handler share (kept apart from `self` so the
    /// process's handler does not retain the process).
    final class Output: Sendable {
        struct Exit {
            var status: Int32?
            var waiters: [CheckedContinuation<Int32, Never>] = []
        }

        let tail = Mutex(LogTail())
        let exit = Mutex(Exit())
        /// Pipes still being read; the last reader to finish closes the log and ends `lines`.
        let openReaders = Mutex(2)

        func exited(_ status: Int32) {
            let waiters = exit.withLock { exit -> [CheckedContinuation<Int32, Never>] in
                exit.status = status
                defer { exit.waiters = [] }
                return exit.waiters
            }
            for waiter in waiters { waiter.resume(returning: status) }
        }
    }

    var pid: Int32 { process.processIdentifier }

    init(arguments: [String], environment: [String: String], logFile: URL) throws {
        guard let executable = arguments.first else { throw TrainerLaunchError(message: "the trainer command is empty") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        self.process = process
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        guard let log = try? FileHandle(forWritingTo: logFile) else {
            throw TrainerLaunchError(message: "cannot open the run log \(logFile.path)")
        }
        let (lines, continuation) = AsyncStream.makeStream(of: String.self)
        self.lines = lines
        let output = self.output
        process.terminationHandler = { finished in output.exited(finished.terminationStatus) }
        do {
            try process.run()
        } catch {
            throw TrainerLaunchError(message: "cannot start \(executable): \(error)")
        }
        let logLock = Mutex(())
        for (pipe, isStdout) in [(stdout, true), (stderr, false)] {
            let thread = Thread {
                var buffer: [UInt8] = []
                let handle = pipe.fileHandleForReading
                func deliver(_ line: [UInt8]) {
                    let text = String(decoding: line, as: UTF8.self)
                    logLock.withLock { _ in log.write(Data(line + [10])) }
                    output.tail.withLock { $0.append(text) }
                    if isStdout { continuation.yield(text) }
                }
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    buffer.append(contentsOf: chunk)
                    while let newline = buffer.firstIndex(of: 10) {
                        deliver(Array(buffer[..<newline]))
                        buffer.removeSubrange(...newline)
                    }
                }
                if !buffer.isEmpty { deliver(buffer) }
                if output.openReaders.withLock({
                    $0 -= 1; return $0
                }) == 0 {
                    logLock.withLock { _ in try? log.close() }
                    continuation.finish()
                }
            }
            thread.name = "trainer-output"
            thread.start()
        }
    }

    /// The last lines of output (stdout and stderr interleaved as they arrived).
    var logTail: String { output.tail.withLock { $0.text } }

    /// The exit status once the process has ended (its output is fully read when `lines` finishes).
    /// Not cancellable: a cancelled job kills its process first (`killNow()`), so the wait is short.
    func waitForExit() async -> Int32 {
        await withCheckedContinuation { continuation in
            let status = output.exit.withLock { exit -> Int32? in
                if let status = exit.status { return status }
                exit.waiters.append(continuation)
                return nil
            }
            if let status { continuation.resume(returning: status) }
        }
    }

    var isRunning: Bool { output.exit.withLock { $0.status == nil } }

    /// SIGTERM to the process group (a shell wrapper's children too), SIGKILL if it is still there
    /// after `grace`: a cancel ends the job within `grace` and a moment.
    func terminate(grace: Duration = TrainerProcess.grace) async {
        guard isRunning else { return }
        signalGroup(SIGTERM)
        let deadline = ContinuousClock.now.advanced(by: grace)
        while isRunning, ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(25)) } catch { break }
        }
        if isRunning { killNow() }
    }

    /// SIGKILL to the process group, at once.
    func killNow() {
        guard isRunning else { return }
        signalGroup(SIGKILL)
    }

    /// How long a trainer has to stop on SIGTERM before SIGKILL (README "Executors").
    static let grace: Duration = .milliseconds(1200)

    private func signalGroup(_ signal: Int32) {
        let pid = self.pid
        guard pid > 0 else { return }
        if getpgid(pid) == pid, kill(-pid, signal) == 0 { return }
        _ = kill(pid, signal)
    }
}

struct TrainerLaunchError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// The last lines of a log, for a failed run's `log_tail`.
struct LogTail {
    private var lines: [String] = []
    static let limit = 40

    mutating func append(_ line: String) {
        lines.append(line)
        if lines.count > Self.limit { lines.removeFirst(lines.count - Self.limit) }
    }

    var text: String { lines.joined(separator: "\n") }
}
