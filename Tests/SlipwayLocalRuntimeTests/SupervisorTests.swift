import Foundation
import Logging
import Testing

@testable import SlipwayLocalRuntime

@Suite(.serialized, .timeLimit(.minutes(2)))
struct SupervisorTests {
    /// alpha: shell, ready via a file; beta: python http.server behind a shell, ready via HTTP.
    /// Both record their SIGTERM in `order`; so does the onShutdown hook.
    private func twoChildren(in directory: URL, port: Int) throws -> [ManagedProcess] {
        let order = directory.appendingPathComponent("order").path
        let ready = directory.appendingPathComponent("alpha.ready")
        let alpha = shell(
            "alpha",
            """
            trap 'echo alpha >> \(order); exit 0' TERM
            echo "alpha started"; echo "to stderr" >&2
            echo ok > \(ready.path)
            while :; do sleep 0.1; done
            """, readiness: .file(ready), restart: .never, directory: directory)
        let beta = shell(
            "beta-web",
            """
            \(try python3.path) -m http.server \(port) --bind 127.0.0.1 &
            child=$!
            trap 'echo beta >> \(order); kill $child; exit 0' TERM
            echo "beta started"
            wait
            """, readiness: .http(URL(string: "http://127.0.0.1:\(port)/")!), restart: .never, directory: directory)
        return [alpha, beta]
    }

    @Test func startsInOrderForwardsOutputReportsStatusAndStopsInReverse() async throws {
        let temp = try TemporaryDirectory("sup")
        defer { temp.cleanup() }
        let paths = SlipwayPaths(root: temp.url.appendingPathComponent(".slipway"))
        let port = try freeTCPPort()
        let collector = OutputCollector()
        let order = temp.url.appendingPathComponent("order")
        let supervisor = try Supervisor(
            processes: try twoChildren(in: temp.url, port: port),
            options: SupervisorOptions(paths: paths, handleSignals: false, colors: false, output: collector.sink),
            onShutdown: { try "hook\n".append(to: order) })
        let running = Task { try await supervisor.run() }

        #expect(await eventually { await supervisor.currentPhase == .running })
        let state = try UpState.read(from: paths.stateFile)
        #expect(state.status == .running)
        #expect(state.supervisorPID == getpid())
        #expect(state.processes.map(\.name) == ["alpha", "beta-web"])
        #expect(state.processes.allSatisfy { $0.pid != nil })
        #expect(state.processes[1].readinessURL == "http://127.0.0.1:\(port)/")

        // Output: padded prefix on our sink, raw lines in the log files.
        #expect(await eventually { collector.all.contains("alpha    | alpha started\n") })
        #expect(collector.all.contains("alpha    | to stderr\n"))
        #expect(await eventually { collector.all.contains("beta-web | beta started\n") })
        let alphaLog = try String(contentsOf: paths.logFile(for: "alpha"), encoding: .utf8)
        #expect(alphaLog.contains("alpha started\n") && alphaLog.contains("to stderr\n"))

        let report = try await StatusReport.load(paths: paths)
        #expect(report.rows.map(\.state) == [.ready, .ready])
        #expect(report.exitCode == 0)
        let table = report.formatted()
        #expect(table.contains("NAME"))
        #expect(table.contains("beta-web  "))

        // alpha loses its readiness file: alive but not ready.
        try FileManager.default.removeItem(at: temp.url.appendingPathComponent("alpha.ready"))
        let notReady = try await StatusReport.load(paths: paths)
        #expect(notReady.rows.map(\.state) == [.notReady, .ready])
        #expect(notReady.exitCode == 1)

        supervisor.requestShutdown()
        try await running.value
        let stopOrder = try String(contentsOf: order, encoding: .utf8).split(separator: "\n")
        #expect(stopOrder == ["beta", "alpha", "hook"])
        let stopped = try UpState.read(from: paths.stateFile)
        #expect(stopped.status == .stopped)
        #expect(stopped.processes.allSatisfy { $0.pid == nil })
        #expect(!FileManager.default.fileExists(atPath: paths.pidsFile.path))
        for pid in state.processes.compactMap(\.pid) { #expect(!ProcessInspection.isAlive(pid)) }
        let after = try await StatusReport.load(paths: paths)
        #expect(!after.supervisorAlive)
        #expect(after.rows.map(\.state) == [.dead, .dead])
        #expect(after.exitCode == 1)
    }

    @Test func restartsACrashedChildWithBackoff() async throws {
        let temp = try TemporaryDirectory("restart")
        defer { temp.cleanup() }
        let paths = SlipwayPaths(root: temp.url.appendingPathComponent(".slipway"))
        // The first run lives 3 s, so the supervisor sees it started even on a busy machine (a child that exits before its
        // start is checked fails `up` as a whole, which is another test's); the restarts live 0.3 s.
        let crasher = shell(
            "crasher", "echo run $$; if [ -e started ]; then sleep 0.3; else touch started; sleep 3; fi; exit 3",
            restart: .always(Backoff(initial: .milliseconds(100), maximum: .milliseconds(400))), directory: temp.url)
        let steady = shell("steady", "while :; do sleep 0.1; done", restart: .never)
        let supervisor = try Supervisor(
            processes: [steady, crasher],
            options: SupervisorOptions(paths: paths, handleSignals: false, colors: false, output: OutputCollector().sink))
        let running = Task { try await supervisor.run() }

        #expect(await eventually { await supervisor.snapshot().first { $0.name == "crasher" }?.restarts ?? 0 >= 3 })
        let log = try String(contentsOf: paths.logFile(for: "crasher"), encoding: .utf8)
        let runs = log.split(separator: "\n").filter { $0.hasPrefix("run ") }
        #expect(runs.count >= 3)
        #expect(Set(runs).count == runs.count, "each run is a new process")
        let state = try UpState.read(from: paths.stateFile)
        #expect(state.processes.first { $0.name == "crasher" }!.restarts >= 2)

        supervisor.requestShutdown()
        try await running.value
        #expect(await supervisor.snapshot().allSatisfy { !$0.isRunning })
    }

    @Test func statusReportsAChildThatDiedAsDead() async throws {
        let temp = try TemporaryDirectory("dead")
        defer { temp.cleanup() }
        let paths = SlipwayPaths(root: temp.url.appendingPathComponent(".slipway"))
        let port = try freeTCPPort()
        let web = ManagedProcess(
            name: "web", executable: try python3, arguments: ["-m", "http.server", String(port), "--bind", "127.0.0.1"],
            workingDirectory: temp.url, readiness: .http(URL(string: "http://127.0.0.1:\(port)/")!), restartPolicy: .never)
        let shortLived = shell("short", "sleep 0.5; exit 1", restart: .never)
        let supervisor = try Supervisor(
            processes: [web, shortLived],
            options: SupervisorOptions(paths: paths, handleSignals: false, colors: false, output: OutputCollector().sink))
        let running = Task { try await supervisor.run() }

        #expect(await eventually { await supervisor.currentPhase == .running })
        // Dead as soon as the process is gone; its pid cleared a moment later, when the supervisor records the exit.
        #expect(
            await eventually {
                let rows = (try? await StatusReport.load(paths: paths))?.rows
                return rows?.map(\.state) == [.ready, .dead] && rows?[1].pid == nil
            })
        let report = try await StatusReport.load(paths: paths)
        #expect(report.exitCode == 1)
        #expect(report.rows[1].pid == nil)
        #expect(report.formatted().contains("dead"))

        supervisor.requestShutdown()
        try await running.value
    }

    @Test func failedStartNamesTheProcessAndShowsItsLogTailAndCleansUp() async throws {
        let temp = try TemporaryDirectory("fail")
        defer { temp.cleanup() }
        let paths = SlipwayPaths(root: temp.url.appendingPathComponent(".slipway"))
        let marker = temp.url.appendingPathComponent("hook-ran")
        let first = shell("first", "while :; do sleep 0.1; done")
        let broken = shell("broken", "echo 'cannot bind port'; exit 2", readiness: .http(URL(string: "http://127.0.0.1:1/")!))
        let supervisor = try Supervisor(
            processes: [first, broken],
            options: SupervisorOptions(paths: paths, handleSignals: false, colors: false, output: OutputCollector().sink),
            onShutdown: { try "".write(to: marker, atomically: true, encoding: .utf8) })

        let error = await #expect(throws: LocalRuntimeError.self) { try await supervisor.run() }
        guard case .exitedBeforeReady(let name, let status, let tail)? = error else {
            Issue.record("unexpected error \(String(describing: error))")
            return
        }
        #expect(name == "broken" && status == 2)
        #expect(tail == ["cannot bind port"])
        #expect(error?.description.contains("broken exited with status 2 before it became ready") == true)
        #expect(FileManager.default.fileExists(atPath: marker.path))
        #expect(try UpState.read(from: paths.stateFile).status == .stopped)
        #expect(await supervisor.snapshot().allSatisfy { !$0.isRunning })
    }

    @Test func readinessTimeoutIsReported() async throws {
        let temp = try TemporaryDirectory("timeout")
        defer { temp.cleanup() }
        var slow = shell("slow", "echo waiting; while :; do sleep 0.1; done", readiness: .file(temp.url.appendingPathComponent("never")))
        slow.readinessTimeout = .milliseconds(500)
        let supervisor = try Supervisor(
            processes: [slow],
            options: SupervisorOptions(paths: SlipwayPaths(root: temp.url), handleSignals: false, colors: false, output: OutputCollector().sink))
        let error = await #expect(throws: LocalRuntimeError.self) { try await supervisor.run() }
        #expect(error?.description.contains("slow did not become ready within 0.5 s") == true)
        #expect(error?.description.contains("waiting") == true)
    }

    @Test func refusesToStartOverALiveSupervisor() async throws {
        let temp = try TemporaryDirectory("twice")
        defer { temp.cleanup() }
        let paths = SlipwayPaths(root: temp.url)
        let me = getpid()
        try UpState(status: .running, supervisorPID: me, supervisorStartTicks: ProcessInspection.startTicks(me), startedAt: Date(), processes: [])
            .write(to: paths.stateFile)
        let supervisor = try Supervisor(
            processes: [shell("x", "sleep 5")],
            options: SupervisorOptions(paths: paths, handleSignals: false, colors: false, output: OutputCollector().sink))
        await #expect(throws: LocalRuntimeError.supervisorAlreadyRunning(pid: me, stateFile: paths.stateFile.path)) {
            try await supervisor.run()
        }
    }

    /// The first shutdown request (what the SIGTERM/SIGINT handler calls) starts the graceful stop, the
    /// second stops waiting for a child that ignores SIGTERM and kills it. Real signals to a real
    /// `slipway up` process are covered by `UpCommandTests` (`slipway down` sends SIGTERM): sending them
    /// to this shared test process made the test depend on which other suites were running.
    @Test func shutdownRequestStopsAndASecondOneKills() async throws {
        let temp = try TemporaryDirectory("signals")
        defer { temp.cleanup() }
        let paths = SlipwayPaths(root: temp.url)
        let stubborn = shell("stubborn", "trap '' TERM; echo started; while :; do sleep 0.1; done", stopTimeout: .seconds(60))
        let supervisor = try Supervisor(
            processes: [stubborn],
            options: SupervisorOptions(paths: paths, handleSignals: false, colors: false, output: OutputCollector().sink))
        let running = Task { try await supervisor.run() }
        #expect(await eventually { await supervisor.currentPhase == .running })
        let pid = try #require(await supervisor.snapshot().first?.pid)

        let clock = ContinuousClock()
        let start = clock.now
        supervisor.requestShutdown()
        #expect(await eventually(timeout: .seconds(5)) { await supervisor.currentPhase == .stopping })
        try await Task.sleep(for: .milliseconds(300))
        #expect(ProcessInspection.isAlive(pid), "the child ignores SIGTERM")
        supervisor.requestShutdown()
        try await running.value
        #expect(clock.now - start < .seconds(10))
        #expect(!ProcessInspection.isAlive(pid))
        #expect(try UpState.read(from: paths.stateFile).status == .stopped)
    }

    @Test func duplicateNamesAreRejected() throws {
        #expect(throws: LocalRuntimeError.duplicateProcessName("a")) {
            try Supervisor(processes: [shell("a", "true"), shell("a", "true")])
        }
    }
}

extension String {
    func append(to url: URL) throws {
        if let handle = try? FileHandle(forWritingTo: url) {
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(utf8))
        } else {
            try write(to: url, atomically: false, encoding: .utf8)
        }
    }
}
