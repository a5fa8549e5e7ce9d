import Foundation
import SlipwayContracts
import Testing

@testable import TrainingCore

@Suite("trainer report lines")
struct TrainerReportTests {
    @Test("the built-in trainer's JSON lines become run commands; statistics go to a file")
    func lines() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-report-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var report = TrainerReport(artifacts: directory)
        func command(_ line: String) -> TrainingRunDecider.Command? { report.command(for: line, elapsedMs: 7, logTail: { "tail" }) }

        #expect(command(#"{"event":"stage_started","stage":"compile"}"#) == .reportStage(.init(stage: "compile", status: "started")))
        _ = command(#"{"event":"stage_completed","stage":"compile","seconds":0.5,"details":{"epochs":4}}"#)
        #expect(command(#"{"event":"statistics","num_examples":10}"#) == nil)
        let statistics = directory.appendingPathComponent("statistics.json").path
        #expect(
            command(#"{"event":"stage_completed","stage":"stats","seconds":1,"details":{"num_examples":10}}"#)
                == .reportStage(.init(stage: "stats", durationMs: 1000, artifacts: ["statistics": statistics], metrics: ["num_examples": 10])))
        #expect(FileManager.default.fileExists(atPath: statistics))
        #expect(
            command(#"{"event":"epoch_completed","epoch":2,"loss":1.25,"val_loss":1.5,"recall_at_100":0.4,"seconds":2}"#)
                == .reportEpoch(.init(epoch: 2, totalEpochs: 4, loss: 1.25, valLoss: 1.5, recallAtK: [100: 0.4], durationMs: 2000)))
        #expect(command(#"{"event":"evaluation","protocol":"p","split":"per_customer_temporal","metrics":{"recall_at_10":0.1}}"#) == nil)
        let evaluation = directory.appendingPathComponent("evaluation.json").path
        #expect(
            command(#"{"event":"stage_completed","stage":"evaluate","seconds":1,"details":{"recall_at_10":0.1,"bundle":"/b"}}"#)
                == .reportStage(
                    .init(
                        stage: "evaluate", durationMs: 1000, artifacts: ["evaluation": evaluation, "model": "/b"], metrics: ["recall_at_10": 0.1])))
        #expect(try String(contentsOfFile: evaluation, encoding: .utf8).contains(#""protocol":"p""#))
        #expect(
            command(#"{"event":"completed","metrics":{"recall_at_100":0.4},"bundle":"/b"}"#)
                == .complete(
                    .init(
                        metrics: ["recall_at_100": 0.4], artifactURI: "/b",
                        artifacts: [
                            "statistics": statistics, "evaluation": evaluation, "log": directory.appendingPathComponent("run.log").path,
                        ], durationMs: 7)))
        #expect(
            command(#"{"event":"failed","stage":"examples","error":"file missing"}"#)
                == .fail(.init(stage: "examples", error: "file missing", logTail: "tail", durationMs: 7)))
        #expect(command(#"{"event":"failed","stage":"bake","error":"x"}"#) == .fail(.init(error: "x", logTail: "tail", durationMs: 7)))
        #expect(command(#"{"event":"stage_started","stage":"bake"}"#) == nil)
        #expect(command("plain log line") == nil)
    }
}
