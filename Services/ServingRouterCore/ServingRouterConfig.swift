import Foundation
import Logging
import SlipwayEventSourcing
import SlipwayPlatform

/// serving-router's settings, read with the platform's precedence: `--flag value` > `SLIPWAY_FLAG` > default.
public struct ServingRouterConfig: Sendable {
    /// Public prediction traffic.
    public var host = "127.0.0.1"
    public var port = 8081
    /// Admin HTTP (health, metrics, stats, routing table), bound to `adminHost` (`--admin-host`; loopback unless a
    /// container or pod must be probed and reached by testing-svc from outside).
    public var adminHost = "127.0.0.1"
    public var adminPort = 8082
    /// deploy-svc's base URL, or its replicas' (`url|url`): routing snapshot (`GET /internal/routing`), key usage
    /// reports and wakes.
    public var deploy = PeerAddresses(["http://127.0.0.1:8104"])
    public var kafkaBrokers = "127.0.0.1:9092"
    public var logLevel: Logger.Level = .info
    /// Full snapshot reload period, healing anything the event stream missed.
    public var resyncSeconds = 30
    public var usageIntervalSeconds = 60
    /// Request log records held in memory while the producer catches up; beyond this they are dropped and counted.
    public var logBuffer = 10_000
    /// `fetch.wait.max.ms` of the deploy-event consumer (the dev broker needs 10–50).
    public var fetchWaitMaxMs = 20
    /// Instances copied into a request log (`instance_count` keeps the true number).
    public var logSampleInstances = 10
    /// Upstream (model-server) request timeout.
    public var upstreamTimeoutSeconds = 30
    /// How long a request for a revision scaled to zero waits for its first instance before a 503.
    public var coldStartTimeoutSeconds = 60
    /// Idle keep-alive connections kept per revision address and event loop.
    public var upstreamConnectionsPerHost = 64

    /// Event-loop threads of the public server (each with its own upstream connections).
    public var eventLoops = 1

    public init() {}

    public static func load(reader: ConfigReader = ConfigReader()) throws -> ServingRouterConfig {
        var config = ServingRouterConfig()
        config.host = reader.string("host", default: config.host)
        config.port = try reader.int("port", default: config.port)
        config.adminHost = reader.string("admin-host", default: config.adminHost)
        config.adminPort = try reader.int("admin-port", default: config.adminPort)
        if let deploy = reader.string("deploy-url") {
            guard deploy.split(separator: "|", omittingEmptySubsequences: false).allSatisfy({ $0.hasPrefix("http") }) else {
                throw ConfigError(key: "deploy-url", message: "expected http://host:port (several replicas: url|url), got '\(deploy)'")
            }
            config.deploy = PeerAddresses(parsing: deploy)
        }
        config.kafkaBrokers = reader.string("kafka-brokers", default: config.kafkaBrokers)
        let level = reader.string("log-level", default: "info")
        guard let logLevel = Logger.Level(rawValue: level) else {
            throw ConfigError(key: "log-level", message: "expected one of trace, debug, info, notice, warning, error, critical")
        }
        config.logLevel = logLevel
        config.resyncSeconds = try positive(reader, "resync-seconds", config.resyncSeconds)
        config.usageIntervalSeconds = try positive(reader, "usage-interval-seconds", config.usageIntervalSeconds)
        config.logBuffer = try positive(reader, "log-buffer", config.logBuffer)
        config.fetchWaitMaxMs = try positive(reader, "fetch-wait-max-ms", config.fetchWaitMaxMs)
        config.eventLoops = try positive(reader, "event-loops", config.eventLoops)
        config.coldStartTimeoutSeconds = try positive(reader, "cold-start-timeout-seconds", config.coldStartTimeoutSeconds)
        return config
    }

    private static func positive(_ reader: ConfigReader, _ key: String, _ fallback: Int) throws -> Int {
        let value = try reader.int(key, default: fallback)
        guard value > 0 else { throw ConfigError(key: key, message: "must be greater than 0, got \(value)") }
        return value
    }
}
