import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a short external command to completion (initdb, pg_ctl, chown, useradd, psql).
///
/// Not Foundation's `Process`: `pg_ctl start` leaves the postmaster running, and `Process`
/// detects a child's exit through a socket the child inherits — which the postmaster would keep
/// open, so the exit would never be reported. Here the command is started with `posix_spawn`
/// (clean signal mask, default signal actions) through `bash`, which first closes every inherited
/// descriptor above 2, and is reaped with a blocking `waitpid` on a Dispatch queue. Its output
/// goes to a temporary file, so a daemon it leaves behind holds no pipe of ours either.
struct CommandRunner: Sendable {
    /// When set, commands run through `runuser -u USER --` (used when we are root).
    var runAsUser: String?

    struct Result: Sendable {
        var status: Int32
        var output: String
    }

    private static let closeInheritedDescriptors = #"""
        for fd in /proc/$$/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null; exec "$@"
        """#

    /// Runs the command and returns its status and combined stdout/stderr.
    func run(_ executable: String, _ arguments: [String]) async throws -> Result {
        var command = [executable] + arguments
        if let user = runAsUser { command = [Self.runuserPath, "-u", user, "--"] + command }
        let argv = ["/bin/bash", "-c", Self.closeInheritedDescriptors, "slipway-run"] + command

        let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-cmd-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: outputURL) }
        let outputFD = open(outputURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard outputFD >= 0 else { throw POSIXError.current("open \(outputURL.path)") }
        let pid: pid_t
        do {
            defer { close(outputFD) }
            pid = try Self.spawn(argv, output: outputFD)
        }
        let status = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: Self.wait(pid)) }
        }
        let output = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
        return Result(status: status, output: output)
    }

    /// Runs the command and throws `LocalRuntimeError.commandFailed` on a non-zero status.
    @discardableResult
    func check(_ executable: String, _ arguments: [String]) async throws -> String {
        let result = try await run(executable, arguments)
        guard result.status == 0 else {
            let prefix = runAsUser.map { "runuser -u \($0) -- " } ?? ""
            throw LocalRuntimeError.commandFailed(
                command: prefix + ([executable] + arguments).joined(separator: " "), status: result.status, output: result.output)
        }
        return result.output
    }

    static var runuserPath: String {
        ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        } ?? "/usr/sbin/runuser"
    }

    private static func spawn(_ argv: [String], output: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &actions, &attributes, &cArguments, environ)
        guard result == 0 else {
            throw LocalRuntimeError.commandFailed(
                command: argv.dropFirst(4).joined(separator: " "), status: -1, output: String(cString: strerror(result)))
        }
        return pid
    }

    private static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { return -1 }
        }
        // WIFEXITED / WEXITSTATUS are macros: decode by hand.
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
