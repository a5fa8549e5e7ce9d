import Foundation
import Logging
import ServiceLifecycle
import SlipwayPlatform
import SlipwayTestSupport
import Testing

@testable import TrainingCore

/// The local executor is a service of its group: on graceful shutdown it stops its trainers and fails
/// their runs (nobody waits for them), and ends within a bounded time.
@Suite("local executor shutdown", .serialized, .timeLimit(.minutes(2)))
struct ExecutorShutdownTests {
    @Test("graceful shutdown stops the trainer, fails its run and ends the executor", arguments: [false, true])
    func gracefulShutdown(ignoresTerm: Bool) async throws {
        let trap = ignoresTerm ? "trap '' TERM; " : ""
        let trainer = trap + #"echo '{"event":"stage_started","stage":"train"}'; echo $$ > "$SLIPWAY_ARTIFACT_DIR/pid"; exec sleep 60"#
        try await withTraining(trainer: trainer, runWorkers: false) { training in
            let components = try TrainingService.definition(reader: training.reader).build(training.service.environment)
            let executor = try #require(components.workers.first as? LocalExecutor)
            let group = ServiceGroup(configuration: .init(services: [executor], logger: TestInfrastructure.logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let id = try await training.createRun()
                try await training.waitForRun(id, "in train") { $0["current_stage"] as? String == "train" }
                let pidFile = training.scratch.appendingPathComponent("artifacts/runs/\(id)/pid")
                let pid = try #require(Int32(try String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
                let started = ContinuousClock.now
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                // Bounded: the grace before SIGKILL and a few commands, far below the trainer's own 60 s.
                #expect(ContinuousClock.now - started < .seconds(15))
                #expect(!isAlive(pid))
                let run = try await training.run(id)
                #expect(run["status"] as? String == "failed")
                #expect(run["error_message"] as? String == "training-svc stopped while the run was in progress; rerun it")
            }
        }
    }
}
