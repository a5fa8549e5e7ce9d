import Foundation
import Testing

@testable import SlipwayLocalRuntime

@Suite(.serialized, .timeLimit(.minutes(2)))
struct DownAndWatchdogTests {
    private func spawn(_ script: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        try process.run()
        return process
    }

    @Test func downSendsSIGTERMToTheSupervisorAndWaits() async throws {
        let temp = try TemporaryDirectory("down")
        defer { temp.cleanup() }
        let paths = SlipwayPaths(root: temp.url)
        // A stand-in supervisor that exits on SIGTERM after a short cleanup.
        let fake = try spawn("trap 'sleep 0.3; exit 0' TERM; while :; do sleep 0.1; done")
        try UpState(
            status: .running, supervisorPID: fake.processIdentifier,
            supervisorStartTicks: ProcessInspection.startTicks(fake.processIdentifier), startedAt: Date(), processes: []
        ).write(to: paths.stateFile)

        let result = try await SupervisorControl.down(paths: paths, timeout: .seconds(10))
        #expect(result == .stopped(pid: fake.processIdentifier))
        #expect(!ProcessInspection.isAlive(fake.processIdentifier))
    }

    @Test func downKillsOrphansOfADeadSupervisor() async throws {
        let temp = try TemporaryDirectory("orphans")
        defer { temp.cleanup() }
        let paths = SlipwayPaths(root: temp.url)
        let dead = try spawn("exit 0")
        dead.waitUntilExit()
        let orphan = try spawn("while :; do sleep 0.1; done")
        let pid = orphan.processIdentifier
        try UpState(
            status: .running, supervisorPID: dead.processIdentifier, supervisorStartTicks: nil, startedAt: Date(),
            processes: [
                .init(
                    name: "orphan", executable: "/bin/sh", pid: pid, startTicks: ProcessInspection.startTicks(pid),
                    readinessURL: nil, readinessFile: nil, logPath: "/dev/null", restarts: 0)
            ]
        ).write(to: paths.stateFile)

        let result = try await SupervisorControl.down(paths: paths)
        #expect(result == .notRunning(orphansKilled: 1))
        #expect(await ProcessInspection.waitForExit(pid, timeout: .seconds(5)))
        #expect(try UpState.read(from: paths.stateFile).status == .stopped)
        await #expect(throws: Never.self) { _ = try await SupervisorControl.down(paths: paths) }
    }

    @Test func downWithoutStateFileSaysNotRunning() async throws {
        let temp = try TemporaryDirectory("nostate")
        defer { temp.cleanup() }
        await #expect(throws: LocalRuntimeError.notRunning(stateFile: temp.url.appendingPathComponent("up.json").path)) {
            try await SupervisorControl.down(paths: SlipwayPaths(root: temp.url))
        }
    }

    @Test func watchdogKillsChildrenWhenTheSupervisorIsKilled() async throws {
        let temp = try TemporaryDirectory("watchdog")
        defer { temp.cleanup() }
        let fakeSupervisor = try spawn("exec sleep 60")
        let child = try spawn("while :; do sleep 0.1; done")
        let pidsFile = temp.url.appendingPathComponent("up.pids")
        let watchdog = try OrphanWatchdog.start(supervisorPID: fakeSupervisor.processIdentifier, pidsFile: pidsFile)
        try OrphanWatchdog.pidsFileContents(supervisorPID: fakeSupervisor.processIdentifier, children: ["\(child.processIdentifier)"])
            .write(to: pidsFile, atomically: true, encoding: .utf8)

        try await Task.sleep(for: .milliseconds(300))
        #expect(ProcessInspection.isAlive(child.processIdentifier))
        kill(fakeSupervisor.processIdentifier, SIGKILL)
        #expect(await ProcessInspection.waitForExit(child.processIdentifier, timeout: .seconds(5)))
        #expect(await ProcessInspection.waitForExit(watchdog.pid, timeout: .seconds(5)))
    }

    @Test func watchdogExitsQuietlyAfterACleanShutdown() async throws {
        let temp = try TemporaryDirectory("watchdog-clean")
        defer { temp.cleanup() }
        let child = try spawn("while :; do sleep 0.1; done")
        defer { child.terminate() }
        let pidsFile = temp.url.appendingPathComponent("up.pids")
        let watchdog = try OrphanWatchdog.start(supervisorPID: getpid(), pidsFile: pidsFile)
        try OrphanWatchdog.pidsFileContents(supervisorPID: getpid(), children: ["\(child.processIdentifier)"])
            .write(to: pidsFile, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: pidsFile)
        #expect(await ProcessInspection.waitForExit(watchdog.pid, timeout: .seconds(5)))
        #expect(ProcessInspection.isAlive(child.processIdentifier))
    }

    /// `slipway down` then `slipway up` at once: the old supervisor is gone and a pids file exists again —
    /// the new supervisor's. The old watchdog, waking up in that state, must leave the new children alone.
    @Test func anEarlierSupervisorsWatchdogLeavesANewerOnesChildrenAlone() async throws {
        let temp = try TemporaryDirectory("watchdog-next")
        defer { temp.cleanup() }
        let oldSupervisor = try spawn("exec sleep 60")
        let newChild = try spawn("while :; do sleep 0.1; done")
        defer { newChild.terminate() }
        let pidsFile = temp.url.appendingPathComponent("up.pids")
        let watchdog = try OrphanWatchdog.start(supervisorPID: oldSupervisor.processIdentifier, pidsFile: pidsFile)
        // The old supervisor shuts down cleanly (its file goes) and the new one writes its own at once.
        try FileManager.default.removeItem(at: pidsFile)
        try OrphanWatchdog.pidsFileContents(supervisorPID: getpid(), children: ["\(newChild.processIdentifier)"])
            .write(to: pidsFile, atomically: true, encoding: .utf8)
        kill(oldSupervisor.processIdentifier, SIGKILL)
        #expect(await ProcessInspection.waitForExit(watchdog.pid, timeout: .seconds(5)))
        #expect(ProcessInspection.isAlive(newChild.processIdentifier), "the old watchdog ended the new platform's child")
        #expect(FileManager.default.fileExists(atPath: pidsFile.path))
    }
}

@Suite struct HelperTests {
    @Test func freePortIsBindable() throws {
        let port = try freeTCPPort()
        #expect(port > 0 && port < 65536)
        #expect(isTCPPortFree(port))
    }

    @Test func findsExecutablesOnThePath() {
        #expect(findExecutable(named: "sh")?.lastPathComponent == "sh")
        #expect(findExecutable(named: "/bin/sh")?.path == "/bin/sh")
        #expect(findExecutable(named: "no-such-binary-slipway") == nil)
    }

    /// A refused connection answers at once instead of waiting out the probe's timeout (30 s here, so
    /// the bound below has room for a loaded machine without hiding a probe that waits for the timeout).
    @Test func probeOfAClosedPortFailsFast() async throws {
        let port = try freeTCPPort()
        let clock = ContinuousClock()
        let start = clock.now
        #expect(await HTTPProbe.status(of: URL(string: "http://127.0.0.1:\(port)/health")!, timeout: .seconds(30)) == nil)
        #expect(clock.now - start < .seconds(10))
    }

    @Test func lineSplitterKeepsPartialLines() {
        var splitter = LineSplitter()
        #expect(splitter.append(ArraySlice("a\r\nb".utf8)).map { String(decoding: $0, as: UTF8.self) } == ["a"])
        #expect(splitter.append(ArraySlice("c\n\nd".utf8)).map { String(decoding: $0, as: UTF8.self) } == ["bc", ""])
        #expect(splitter.flush().map { String(decoding: $0, as: UTF8.self) } == "d")
    }

    @Test func coloursOnlyWhenAsked() {
        let plain = OutputMultiplexer(names: ["a", "long-name"], colors: false, sink: { _ in })
        #expect(plain.prefix(for: "a", index: 0) == "a         | ")
        let coloured = OutputMultiplexer(names: ["a"], colors: true, sink: { _ in })
        #expect(coloured.prefix(for: "a", index: 0).hasPrefix("\u{1B}[36m"))
    }
}
