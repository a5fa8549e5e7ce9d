import Foundation
import Logging
import Testing

@testable import SlipwayLocalRuntime

@Suite(.serialized, .timeLimit(.minutes(2)))
struct EmbeddedPostgresTests {
    @Test func initStartQueryStopAndRestartOnTheSamePort() async throws {
        let temp = try TemporaryDirectory("pg")
        defer { temp.cleanup() }
        let directory = temp.url.appendingPathComponent("postgres")
        let postgres = EmbeddedPostgres(directory: directory)

        let url = try await postgres.start()
        #expect(url.absoluteString.hasPrefix("postgres://postgres@127.0.0.1:"))
        let bin = try EmbeddedPostgres.findBinaries()
        let (status, output) = try runCommand(bin.appendingPathComponent("psql").path, ["-d", url.absoluteString, "-tAc", "select 1"])
        #expect(status == 0, "psql: \(output)")
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let running = try #require(postgres.runningCluster())
        #expect(url.port == running.port)

        // A second manager for the same directory reuses the running cluster.
        let again = try await EmbeddedPostgres(directory: directory).start()
        #expect(again == url)

        try await postgres.ensureDatabase("registry_svc")
        try await postgres.ensureDatabase("registry_svc")
        let (listed, names) = try runCommand(
            bin.appendingPathComponent("psql").path, ["-d", url.absoluteString, "-tAc", "select datname from pg_database"])
        #expect(listed == 0 && names.contains("registry_svc"))

        try await postgres.stop()
        #expect(postgres.runningCluster() == nil)
        try await postgres.stop()  // idempotent

        // Restart: the data survives and the remembered port is reused.
        let restarted = try await postgres.start()
        #expect(restarted == url)
        let (_, afterRestart) = try runCommand(
            bin.appendingPathComponent("psql").path,
            ["-d", url.absoluteString, "-tAc", "select count(*) from pg_database where datname = 'registry_svc'"])
        #expect(afterRestart.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        try await postgres.stop()
    }

    @Test("the dev default runs without fsync, a durable start with it; a durable start will not reuse a cluster running without")
    func durability() async throws {
        let temp = try TemporaryDirectory("pgdurable")
        defer { temp.cleanup() }
        let directory = temp.url.appendingPathComponent("postgres")
        let fast = EmbeddedPostgres(directory: directory)
        try await fast.start()
        #expect(try await fast.setting("fsync") == "off")
        let durable = EmbeddedPostgres(directory: directory, durable: true)
        let running = try #require(fast.runningCluster())
        await #expect(throws: LocalRuntimeError.postgresRunningWithoutFsync(pid: running.pid)) { try await durable.start() }
        try await fast.stop()

        try await durable.start()
        #expect(try await durable.setting("fsync") == "on")
        try await durable.start()  // reusing a durable cluster is fine
        try await durable.stop()
    }

    @Test func missingBinariesTellTheUserToRunSetup() throws {
        let error = #expect(throws: LocalRuntimeError.self) {
            try EmbeddedPostgres.findBinaries(root: URL(fileURLWithPath: "/nonexistent/postgresql"))
        }
        #expect(error?.description.contains("scripts/setup") == true)
    }

    @Test("a port it chose that another process takes before PostgreSQL binds it is chosen again")
    func aPortTakenMeanwhileIsChosenAgain() async throws {
        let temp = try TemporaryDirectory("pgrace")
        defer { temp.cleanup() }
        let (port, holder) = try await holdAPort()
        defer { holder.terminate() }
        // The remembered port looks free to the check, as it did a moment before another process bound it.
        let directory = temp.url.appendingPathComponent("pg")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try String(port).write(to: directory.appendingPathComponent("port"), atomically: true, encoding: .utf8)
        let postgres = EmbeddedPostgres(configuration: .init(directory: directory), logger: Logger(label: "test"), isPortFree: { _ in true })
        let url = try await postgres.start()
        #expect(url.port != nil && url.port != port)
        #expect(postgres.runningCluster()?.port == url.port)
        try await postgres.stop()
    }

    /// A free port, then held by a listening Python socket (terminate the process to free it).
    func holdAPort() async throws -> (Int, Process) {
        let port = try freeTCPPort()
        let holder = Process()
        holder.executableURL = try python3
        holder.arguments = ["-c", "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', \(port))); s.listen(); time.sleep(60)"]
        try holder.run()
        #expect(await eventually { !isTCPPortFree(port) })
        return (port, holder)
    }

    @Test func requestedBusyPortIsReportedClearly() async throws {
        let temp = try TemporaryDirectory("pgport")
        defer { temp.cleanup() }
        let (port, holder) = try await holdAPort()
        defer { holder.terminate() }
        let postgres = EmbeddedPostgres(directory: temp.url.appendingPathComponent("pg"), port: port)
        await #expect(throws: LocalRuntimeError.portInUse(port)) { try await postgres.start() }
    }
}
