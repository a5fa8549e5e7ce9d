import Foundation
import SlipwayPlatform

/// How training-svc runs trainers on this machine.
public struct TrainingSettings: Sendable {
    /// Each run gets `<artifact root>/runs/<run id>/` (spec.json, run.log, statistics.json, schema.json, bundle/).
    public var artifactRoot: URL
    /// argv; `{spec}` and `{artifacts}` are replaced per run. Default: the built-in slipway-trainer.
    public var trainerCommand: [String]
    public var maxConcurrentRuns: Int
    /// How a local trainer reaches this service's webhooks.
    public var webhookBaseURL: String

    public init(artifactRoot: URL, trainerCommand: [String], maxConcurrentRuns: Int, webhookBaseURL: String) {
        self.artifactRoot = artifactRoot
        self.trainerCommand = trainerCommand
        self.maxConcurrentRuns = maxConcurrentRuns
        self.webhookBaseURL = webhookBaseURL
    }

    /// `--artifact-root`, `--trainer-command` (split on spaces), `--max-concurrent-runs`.
    public static func load(reader: ConfigReader, config: ServiceConfig) throws -> TrainingSettings {
        let root = reader.string("artifact-root", default: ".slipway/artifacts")
        let artifactRoot = URL(fileURLWithPath: root).standardizedFileURL
        let command: [String]
        if let text = reader.string("trainer-command") {
            command = text.split(separator: " ").map(String.init)
        } else {
            let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("slipway-trainer")
            command = [sibling.path, "run", "--spec", "{spec}", "--artifacts", "{artifacts}"]
        }
        let limit = try reader.int("max-concurrent-runs", default: 1)
        guard limit >= 1 else { throw ConfigError(key: "max-concurrent-runs", message: "must be at least 1") }
        let host = config.host == "0.0.0.0" ? "127.0.0.1" : config.host
        return TrainingSettings(
            artifactRoot: artifactRoot, trainerCommand: command, maxConcurrentRuns: limit,
            webhookBaseURL: "http://\(host):\(config.port)")
    }

    func artifactDirectory(for runID: String) -> URL {
        artifactRoot.appendingPathComponent("runs").appendingPathComponent(runID)
    }
}
