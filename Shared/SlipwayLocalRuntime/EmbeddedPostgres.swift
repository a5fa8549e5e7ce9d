import Foundation
import Logging
import SlipwayStatistics

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A local PostgreSQL cluster kept in one directory (`.slipway/postgres` by default).
///
/// ```
/// DIR/data           PGDATA (created by initdb on first start)
/// DIR/port           the port last used; a restart reuses it while it is free
/// DIR/postgres.log   the server log (pg_ctl -l)
/// ```
///
/// PostgreSQL refuses to run as root: when `geteuid() == 0` the directory is chowned to the
/// `postgres` user (created with `useradd --system --no-create-home postgres` if missing) and
/// initdb / pg_ctl run through `runuser -u postgres --`.
///
/// A cluster already running for the directory (a live pid in `data/postmaster.pid`) is reused.
public actor EmbeddedPostgres {
    public struct Configuration: Sendable, Equatable {
        /// The cluster directory.
        public var directory: URL
        /// The TCP port; `nil` reuses the remembered port when free, else picks a free one.
        public var port: Int?
        /// `false` (the dev default) runs with `fsync=off`: fast, but a machine crash can lose data.
        public var durable: Bool
        /// Where `initdb` and `pg_ctl` live; `nil` finds the newest `/usr/lib/postgresql/*/bin`.
        public var binDirectory: URL?
        /// How long `pg_ctl start -w` may wait for the server.
        public var startTimeoutSeconds: Int

        public init(directory: URL, port: Int? = nil, durable: Bool = false, binDirectory: URL? = nil, startTimeoutSeconds: Int = 60) {
            self.directory = directory.standardizedFileURL
            self.port = port
            self.durable = durable
            self.binDirectory = binDirectory
            self.startTimeoutSeconds = startTimeoutSeconds
        }
    }

    /// A postmaster found running for the directory.
    public struct RunningCluster: Sendable, Equatable {
        public var pid: Int32
        public var port: Int
    }

    public nonisolated let configuration: Configuration
    private let logger: Logger
    private var port: Int?
    /// Whether a port is free to take; tests replace it to stage a port taken between the check and the bind.
    private let isPortFree: @Sendable (Int) -> Bool

    public init(configuration: Configuration, logger: Logger = Logger(label: "slipway.postgres")) {
        self.init(configuration: configuration, logger: logger, isPortFree: isTCPPortFree)
    }

    init(configuration: Configuration, logger: Logger, isPortFree: @escaping @Sendable (Int) -> Bool) {
        self.configuration = configuration
        self.logger = logger
        self.isPortFree = isPortFree
    }

    public init(directory: URL, port: Int? = nil, durable: Bool = false, logger: Logger = Logger(label: "slipway.postgres")) {
        self.init(configuration: Configuration(directory: directory, port: port, durable: durable), logger: logger)
    }

    public nonisolated var dataDirectory: URL { configuration.directory.appendingPathComponent("data") }
    public nonisolated var logFile: URL { configuration.directory.appendingPathComponent("postgres.log") }
    public nonisolated var portFile: URL { configuration.directory.appendingPathComponent("port") }

    public static func url(port: Int) -> URL {
        URL(string: "postgres://postgres@127.0.0.1:\(port)/")!
    }

    /// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `pg_ctl`.
    public static func findBinaries(root: URL = URL(fileURLWithPath: "/usr/lib/postgresql")) throws -> URL {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        let sorted = versions.sorted { lhs, rhs in
            lhs.split(separator: ".").map { Int($0) ?? 0 }.lexicographicallyPrecedes(rhs.split(separator: ".").map { Int($0) ?? 0 })
        }
        for version in sorted.reversed() {
            let bin = root.appendingPathComponent(version).appendingPathComponent("bin")
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path),
                FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("pg_ctl").path)
            {
                return bin
            }
        }
        throw LocalRuntimeError.postgresNotInstalled(searched: ["\(root.path)/*/bin"])
    }

    /// The postmaster currently running for this directory, if any (from `data/postmaster.pid`).
    public nonisolated func runningCluster() -> RunningCluster? {
        let pidFile = dataDirectory.appendingPathComponent("postmaster.pid")
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, let pid = Int32(lines[0].trimmingCharacters(in: .whitespaces)),
            let port = Int(lines[3].trimmingCharacters(in: .whitespaces)), ProcessInspection.isAlive(pid)
        else { return nil }
        return RunningCluster(pid: pid, port: port)
    }

    /// Initialises the cluster if new, starts it (or reuses a running one) and returns its URL.
    @discardableResult
    public func start() async throws -> URL {
        let bin = try configuration.binDirectory ?? Self.findBinaries()
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: configuration.directory, withIntermediateDirectories: true)

        if let running = runningCluster() {
            if let requested = configuration.port, requested != running.port {
                throw LocalRuntimeError.postgresRunningOnOtherPort(pid: running.pid, port: running.port, requested: requested)
            }
            // fsync=off is a start option: a cluster started without it cannot be made durable by the reuse.
            if configuration.durable, try await psql("SHOW fsync", port: running.port, bin: bin) != "on" {
                throw LocalRuntimeError.postgresRunningWithoutFsync(pid: running.pid)
            }
            logger.info("reusing running PostgreSQL", metadata: [LogKey.postgresPid: "\(running.pid)", LogKey.postgresPort: "\(running.port)"])
            try? String(running.port).write(to: portFile, atomically: true, encoding: .utf8)
            port = running.port
            return Self.url(port: running.port)
        }

        let runner = try await prepareRunner()
        let socketDirectory = try await prepareSocketDirectory(runner: runner)

        if !fileManager.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) {
            logger.info("initialising PostgreSQL cluster", metadata: [LogKey.postgresData: "\(dataDirectory.path)"])
            try await runner.check(
                bin.appendingPathComponent("initdb").path,
                ["-D", dataDirectory.path, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]
            )
        }

        // Chosen only now, after initdb, so that the port stays free for as short a time as possible between our
        // check and PostgreSQL's bind. A port we chose ourselves that another process took in that moment (a test
        // run starts many servers at once) is chosen again; a port the user asked for is theirs to free.
        var chosenPort = try choosePort()
        var attempt = 1
        while true {
            let logOffset = Self.size(of: logFile)
            var options = "-p \(chosenPort) -c listen_addresses=127.0.0.1 -k \(socketDirectory.path)"
            if !configuration.durable { options += " -c fsync=off" }
            let result = try await runner.run(
                bin.appendingPathComponent("pg_ctl").path,
                ["-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", String(configuration.startTimeoutSeconds), "-o", options, "start"]
            )
            if result.status == 0 { break }
            if configuration.port == nil, attempt < 3, Self.text(of: logFile, from: logOffset).contains("Address already in use") {
                logger.info("PostgreSQL's port was taken before it could bind it; choosing another", metadata: [LogKey.postgresPort: "\(chosenPort)"])
                chosenPort = try freeTCPPort(excluding: [chosenPort])
                attempt += 1
                continue
            }
            let tail = Self.tail(of: logFile, lines: 15).joined(separator: "\n")
            throw LocalRuntimeError.commandFailed(
                command: "pg_ctl start (-D \(dataDirectory.path) \(options))", status: result.status,
                output: result.output + (tail.isEmpty ? "" : "\nserver log (\(logFile.path)):\n\(tail)"))
        }
        try String(chosenPort).write(to: portFile, atomically: true, encoding: .utf8)
        port = chosenPort
        logger.info("PostgreSQL started", metadata: [LogKey.postgresPort: "\(chosenPort)", LogKey.postgresDurable: "\(configuration.durable)"])
        return Self.url(port: chosenPort)
    }

    /// Stops the cluster (`pg_ctl stop -m fast`); does nothing when it is not running.
    public func stop() async throws {
        guard let running = runningCluster() else {
            port = nil
            return
        }
        let bin = try configuration.binDirectory ?? Self.findBinaries()
        let runner = CommandRunner(runAsUser: geteuid() == 0 ? "postgres" : nil)
        try await runner.check(bin.appendingPathComponent("pg_ctl").path, ["-D", dataDirectory.path, "-m", "fast", "-w", "stop"])
        logger.info("PostgreSQL stopped", metadata: [LogKey.postgresPid: "\(running.pid)"])
        port = nil
    }

    /// Creates database `name` unless it exists (one database per service). `name`: `[a-z0-9_]+`.
    public func ensureDatabase(_ name: String) async throws {
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
            throw LocalRuntimeError.commandFailed(command: "createdb \(name)", status: 1, output: "invalid database name")
        }
        guard let port else { throw LocalRuntimeError.commandFailed(command: "createdb \(name)", status: 1, output: "PostgreSQL is not started") }
        let bin = try configuration.binDirectory ?? Self.findBinaries()
        let exists = try await psql("SELECT 1 FROM pg_database WHERE datname = '\(name)'", port: port, bin: bin)
        if exists != "1" {
            try await CommandRunner(runAsUser: nil).check(bin.appendingPathComponent("createdb").path, Self.connection(port) + [name])
        }
    }

    /// A server setting of the running cluster (`SHOW fsync`).
    public func setting(_ name: String) async throws -> String {
        guard let port else { throw LocalRuntimeError.commandFailed(command: "SHOW \(name)", status: 1, output: "PostgreSQL is not started") }
        return try await psql("SHOW \(name)", port: port, bin: try configuration.binDirectory ?? Self.findBinaries())
    }

    /// One value from a query, trimmed.
    private func psql(_ query: String, port: Int, bin: URL) async throws -> String {
        let output = try await CommandRunner(runAsUser: nil).check(
            bin.appendingPathComponent("psql").path, Self.connection(port) + ["-d", "postgres", "-tAc", query])
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func connection(_ port: Int) -> [String] { ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres"] }

    // MARK: - Private

    private func choosePort() throws -> Int {
        if let requested = configuration.port {
            guard isPortFree(requested) else { throw LocalRuntimeError.portInUse(requested) }
            return requested
        }
        if let text = try? String(contentsOf: portFile, encoding: .utf8),
            let remembered = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), isPortFree(remembered)
        {
            return remembered
        }
        return try freeTCPPort()
    }

    /// As root: make sure the `postgres` user exists and owns the directory, and run as it.
    private func prepareRunner() async throws -> CommandRunner {
        guard geteuid() == 0 else { return CommandRunner(runAsUser: nil) }
        let root = CommandRunner(runAsUser: nil)
        if getpwnam("postgres") == nil {
            logger.info("creating system user postgres")
            let useradd = ["/usr/sbin/useradd", "/sbin/useradd"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/useradd"
            try await root.check(useradd, ["--system", "--no-create-home", "postgres"])
        }
        let directory = configuration.directory.path
        if Self.owner(of: directory) != getpwnam("postgres")?.pointee.pw_uid
            || Self.owner(of: dataDirectory.path).map({ $0 != getpwnam("postgres")?.pointee.pw_uid }) == true
        {
            try await root.check("/bin/chown", ["-R", "postgres:", directory])
        }
        let asPostgres = CommandRunner(runAsUser: "postgres")
        let reachable = try await asPostgres.run("/usr/bin/test", ["-w", directory, "-a", "-x", directory])
        guard reachable.status == 0 else { throw LocalRuntimeError.directoryNotReachableByPostgresUser(directory) }
        return asPostgres
    }

    /// The Unix socket directory: the cluster directory, unless its path is too long for a socket
    /// path (108 bytes on Linux), then a private directory under /tmp.
    private func prepareSocketDirectory(runner: CommandRunner) async throws -> URL {
        let directory = configuration.directory
        if directory.path.utf8.count + "/.s.PGSQL.65535.lock".utf8.count < 100 { return directory }
        let short = URL(fileURLWithPath: "/tmp/slipway-pg-\(String(StableHash.fnv1a64(directory.path), radix: 36))")
        try FileManager.default.createDirectory(at: short, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if runner.runAsUser != nil {
            try await CommandRunner(runAsUser: nil).check("/bin/chown", ["postgres:", short.path])
        }
        return short
    }

    private static func owner(of path: String) -> uid_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_uid
    }

    static func size(of file: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// What the file holds from byte `offset` on (what a command appended to a log).
    static func text(of file: URL, from offset: Int) -> String {
        guard let data = FileManager.default.contents(atPath: file.path), data.count > offset else { return "" }
        return String(decoding: data.dropFirst(offset), as: UTF8.self)
    }

    static func tail(of file: URL, lines count: Int) -> [String] {
        guard let data = FileManager.default.contents(atPath: file.path) else { return [] }
        let lines = String(decoding: data.suffix(64 * 1024), as: UTF8.self).split(separator: "\n").map(String.init)
        return Array(lines.suffix(count))
    }
}
