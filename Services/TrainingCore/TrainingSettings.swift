import Foundation
import SlipwayPlatform

/// How training-svc runs trainers on this machine.
public struct TrainingSettings: Sendable {
    /// Each run gets `<artifact root>/runs/<run id>/` (spec.json, run.log, statistics.json, schema.json, bundle/).
    public var artifactRoot: URL
    /// argv; `{spec}` and `{artifacts}` are replaced per run. Default: the built-in slipway-trainer.
    public var trainerCommand: [String]
    public var maxConcurrentRuns: Int
    /// How a trainer reaches this service's webhooks.
    public var webhookBaseURL: String
    /// The executor this service runs trainers with (`local` or `kubernetes`), the one new runs get unless they ask
    /// for `external`.
    public var executor = Executors.local
    /// For the kubernetes executor.
    public var kubernetes: KubernetesExecutor.Settings?

    public init(artifactRoot: URL, trainerCommand: [String], maxConcurrentRuns: Int, webhookBaseURL: String) {
        self.artifactRoot = artifactRoot
        self.trainerCommand = trainerCommand
        self.maxConcurrentRuns = maxConcurrentRuns
        self.webhookBaseURL = webhookBaseURL
    }

    /// `--artifact-root`, `--trainer-command` (split on spaces), `--max-concurrent-runs` (the local executor's),
    /// `--webhook-base-url` (default this service's own address); `--executor` (`local` or `kubernetes`) and for
    /// `kubernetes`: `--trainer-image` (required; its Jobs run `--trainer-command` in it), `--artifacts-claim` (default
    /// `slipway-artifacts`, mounted at the artifact root), `--job-ttl-seconds` (default 86400) and the API's
    /// `--kubernetes-api-url`, `--kubernetes-namespace`, `--kubernetes-token-file`.
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
        var webhookBase = reader.string("webhook-base-url", default: "http://\(host):\(config.port)")
        while webhookBase.hasSuffix("/") { webhookBase.removeLast() }
        guard webhookBase.hasPrefix("http://") || webhookBase.hasPrefix("https://") else {
            throw ConfigError(key: "webhook-base-url", message: "expected http(s)://host:port, got '\(webhookBase)'")
        }
        var settings = TrainingSettings(artifactRoot: artifactRoot, trainerCommand: command, maxConcurrentRuns: limit, webhookBaseURL: webhookBase)
        switch reader.string("executor", default: Executors.local) {
        case Executors.local: break
        case Executors.kubernetes:
            guard let image = reader.string("trainer-image"), !image.isEmpty else {
                throw ConfigError(key: "trainer-image", message: "the kubernetes executor needs the image its Jobs run the trainer in")
            }
            let ttl = try reader.int("job-ttl-seconds", default: 86_400)
            guard ttl >= 0 else { throw ConfigError(key: "job-ttl-seconds", message: "must be 0 or more") }
            settings.executor = Executors.kubernetes
            settings.kubernetes = KubernetesExecutor.Settings(
                connection: try KubernetesAPI.Connection.load(reader: reader), image: image,
                artifactsClaim: reader.string("artifacts-claim", default: "slipway-artifacts"), jobTTLSeconds: ttl)
        case let other:
            throw ConfigError(key: "executor", message: "expected local or kubernetes, got '\(other)'")
        }
        return settings
    }

    func artifactDirectory(for runID: String) -> URL {
        artifactRoot.appendingPathComponent("runs").appendingPathComponent(runID)
    }
}
