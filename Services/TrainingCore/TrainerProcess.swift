import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One trainer child process: its stdout lines as an async stream (read on a dedicated thread, so a
/// blocking read never sits on the cooperative pool), stderr into the same log, and the last lines
/// kept for error messages.
final class TrainerProcess: Sendable {
    let lines: AsyncStream<String>
    private let process: Process
    private let output = Output()
    static let tailLength = 40

    /// What the reader threads and the termination handler share (kept apart from `self` so the
    /// process's handler does not retain the process).
    final class Output: Sendable {
        let tail = Mutex<[String]>([])
        let exitStatus = Mutex<Int32?>(nil)
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
        process.terminationHandler = { finished in
            output.exitStatus.withLock { $0 = finished.terminationStatus }
        }
        do {
            try process.run()
        } catch {
            throw TrainerLaunchError(message: "cannot start \(executable): \(error)")
        }
        let logLock = Mutex(())
        let readers = DispatchGroup()
        for (pipe, isStdout) in [(stdout, true), (stderr, false)] {
            readers.enter()
            let thread = Thread {
                var buffer: [UInt8] = []
                let handle = pipe.fileHandleForReading
                func deliver(_ line: [UInt8]) {
                    let text = String(decoding: line, as: UTF8.self)
                    logLock.withLock { _ in log.write(Data(line + [10])) }
                    output.tail.withLock {
                        $0.append(text)
                        if $0.count > Self.tailLength { $0.removeFirst($0.count - Self.tailLength) }
                    }
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
                readers.leave()
            }
            thread.name = "trainer-output"
            thread.start()
        }
        DispatchQueue.global().async {
            readers.wait()
            try? log.close()
            continuation.finish()
        }
    }

    /// The last lines of output (stdout and stderr interleaved as they arrived).
    var logTail: String { output.tail.withLock { $0.joined(separator: "\n") } }

    /// The exit status once the process has ended (its output is fully read when `lines` finishes).
    func waitForExit() async -> Int32 {
        while true {
            if let status = output.exitStatus.withLock({ $0 }) { return status }
            if !process.isRunning { return process.terminationStatus }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// SIGTERM to the process group (a shell wrapper's children too), SIGKILL if it is still there
    /// after `grace`: a cancel must end the job within 2 s.
    func terminate(grace: Duration = .milliseconds(1200)) async {
        let pid = self.pid
        guard pid > 0, process.isRunning else { return }
        signalGroup(pid, SIGTERM)
        let deadline = ContinuousClock.now.advanced(by: grace)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(25)) }
        if process.isRunning { signalGroup(pid, SIGKILL) }
    }

    private func signalGroup(_ pid: Int32, _ signal: Int32) {
        if getpgid(pid) == pid, kill(-pid, signal) == 0 { return }
        _ = kill(pid, signal)
    }
}

struct TrainerLaunchError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
