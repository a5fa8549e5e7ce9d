import Foundation
import SlipwayContracts

/// Turns the built-in trainer's JSON lines (docs/trainer-and-bundle.md) into run commands; statistics,
/// schema and evaluation go to files in the artifact directory, where Data Insights reads them.
struct TrainerReport {
    let artifacts: URL
    var totalEpochs: Int32 = 0
    var stageArtifacts: [String: String] = [:]

    init(artifacts: URL) { self.artifacts = artifacts }

    /// A reported duration in milliseconds; nil for one that is negative, not finite or over a year (a trainer's
    /// bad value must not trap the conversion). The log's lines count such a value as 0.
    static func milliseconds(_ seconds: Double) -> Int64? {
        guard seconds.isFinite, (0...(365 * 86_400)).contains(seconds) else { return nil }
        return Int64(seconds * 1000)
    }

    mutating func command(for line: String, elapsedMs: Int64, logTail: () -> String) -> TrainingRunDecider.Command? {
        guard line.hasPrefix("{"), let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
            let kind = object["event"] as? String
        else { return nil }
        func number(_ key: String) -> Double? { (object[key] as? NSNumber)?.doubleValue }
        /// A stage of the pipeline the line names; lines about other stages are not the run's.
        func stage() -> TrainingStage? { (object["stage"] as? String).flatMap(TrainingStage.init(apiName:)) }
        switch kind {
        case "stage_started":
            guard let stage = stage() else { return nil }
            if stage == .compile, let epochs = (object["epochs"] as? NSNumber)?.int32Value { totalEpochs = epochs }
            return .reportStage(.init(stage: stage.apiName, status: "started"))
        case "stage_completed":
            guard let stage = stage() else { return nil }
            var report = TrainingRunDecider.StageReport(stage: stage.apiName, durationMs: Self.milliseconds(number("seconds") ?? 0) ?? 0)
            if let details = object["details"] as? [String: Any] {
                for (key, value) in details {
                    if let n = value as? NSNumber, !(value is Bool) { report.metrics[key] = n.doubleValue }
                }
                if stage == .compile, let epochs = details["epochs"] as? NSNumber { totalEpochs = epochs.int32Value }
                if stage == .evaluate, let bundle = details["bundle"] as? String { report.artifacts["model"] = bundle }
            }
            if stage == .evaluate, let uri = stageArtifacts["evaluation"] { report.artifacts["evaluation"] = uri }
            if stage == .stats, let uri = stageArtifacts["statistics"] { report.artifacts["statistics"] = uri }
            if stage == .schema, let uri = stageArtifacts["schema"] { report.artifacts["schema"] = uri }
            return .reportStage(report)
        // The evaluation names its protocol, split and algorithm beside the metrics (strings the metrics map cannot carry).
        case "statistics", "schema", "evaluation":
            var body = object
            body.removeValue(forKey: "event")
            let file = artifacts.appendingPathComponent("\(kind).json")
            guard let data = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), (try? data.write(to: file)) != nil else {
                return nil
            }
            stageArtifacts[kind] = file.path
            return nil
        case "epoch_completed":
            var recallAtK: [Int32: Double] = [:]
            for k: Int32 in [5, 10, 50, 100] { if let v = number("recall_at_\(k)") { recallAtK[k] = v } }
            var metrics: [String: Double] = [:]
            if let v = number("examples_per_s") { metrics["examples_per_s"] = v }
            return .reportEpoch(
                .init(
                    epoch: (object["epoch"] as? NSNumber)?.intValue ?? 0, totalEpochs: Int(totalEpochs), loss: number("loss") ?? .nan,
                    valLoss: number("val_loss"), recallAtK: recallAtK, metrics: metrics, durationMs: Self.milliseconds(number("seconds") ?? 0) ?? 0))
        case "completed":
            var metrics: [String: Double] = [:]
            for (key, value) in object["metrics"] as? [String: Any] ?? [:] {
                if let n = value as? NSNumber { metrics[key] = n.doubleValue }
            }
            let bundle = object["bundle"] as? String ?? artifacts.appendingPathComponent("bundle").path
            var files = stageArtifacts
            files["log"] = artifacts.appendingPathComponent("run.log").path
            return .complete(.init(metrics: metrics, artifactURI: bundle, artifacts: files, durationMs: elapsedMs))
        case "failed":
            return .fail(
                .init(
                    stage: stage()?.apiName, error: object["error"] as? String ?? "the trainer reported a failure", logTail: logTail(),
                    durationMs: elapsedMs))
        default:
            return nil
        }
    }
}
