import Foundation
import Logging
import SlipwayContracts
import SlipwayEventSourcing

/// The domain services and where they listen by default; `slipway up` and the gateway use the same table.
/// A service is named by its context (`deploy`); its topic is the context's (`EventContext.topic`).
public enum ServiceDirectory {
    public static let gatewayPort = 8080
    /// Every context that runs as a service (serving's request log is serving-router's, not a service's).
    public static let domainServices: [EventContext] = [.training, .registry, .schedule, .deploy, .testing, .metrics]

    public static func defaultPort(of context: EventContext) -> Int {
        8101 + (domainServices.firstIndex(of: context) ?? 0)
    }

    /// Service name → default port.
    public static let defaultPorts: [String: Int] = Dictionary(uniqueKeysWithValues: domainServices.map { ($0.rawValue, defaultPort(of: $0)) })
}

/// A service process's settings (see `ConfigReader` for precedence).
public struct ServiceConfig: Sendable {
    public var service: String
    public var host: String
    public var port: Int
    public var database: DatabaseURL
    public var kafkaBrokers: String
    /// Base URLs of the other services, by service name (`--peer registry=http://127.0.0.1:8102`).
    public var peers: [String: PeerAddresses]
    public var logLevel: Logger.Level
    public var fetchWaitMaxMs: Int
    /// Signs and checks who requests act for (`ActorVoucher`); nil when no secret is set, and then nobody is believed.
    public var actorVoucher: ActorVoucher?

    public static func load(
        service: String, defaultPort: Int, defaultFetchWaitMs: Int = 20, reader: ConfigReader = ConfigReader()
    ) throws -> ServiceConfig {
        let level = reader.string("log-level", default: "info")
        guard let logLevel = Logger.Level(rawValue: level) else {
            throw ConfigError(key: "log-level", message: "expected one of trace, debug, info, notice, warning, error, critical")
        }
        return ServiceConfig(
            service: service,
            host: reader.string("host", default: "127.0.0.1"),
            port: try reader.int("port", default: defaultPort),
            database: try DatabaseURL(
                reader.string("database-url", default: "postgres://postgres@127.0.0.1:5432/"), defaultDatabase: "slipway_\(service)"),
            kafkaBrokers: reader.string("kafka-brokers", default: "127.0.0.1:9092"),
            peers: try peers(reader),
            logLevel: logLevel,
            fetchWaitMaxMs: try reader.int("fetch-wait-max-ms", default: defaultFetchWaitMs),
            actorVoucher: try actorSecret(reader).map(ActorVoucher.init(secret:))
        )
    }

    /// `--actor-secret` (or `SLIPWAY_ACTOR_SECRET`), else the file `--actor-secret-file` names (`slipway up` makes one
    /// under its data directory); at least 32 characters.
    static func actorSecret(_ reader: ConfigReader) throws -> String? {
        let key: String
        let secret: String
        if let value = reader.string("actor-secret") {
            (key, secret) = ("actor-secret", value)
        } else if let path = reader.string("actor-secret-file") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigError(key: "actor-secret-file", message: "cannot read \(path)")
            }
            (key, secret) = ("actor-secret-file", text.trimmingCharacters(in: .whitespacesAndNewlines))
        } else {
            return nil
        }
        guard secret.count >= ActorVoucher.minimumSecretLength else {
            throw ConfigError(key: key, message: "the actor secret must be at least \(ActorVoucher.minimumSecretLength) characters")
        }
        return secret
    }

    /// A peer service's addresses: configured, or its default port on this machine.
    public func peer(_ service: String) -> PeerAddresses {
        peers[service] ?? PeerAddresses(["http://127.0.0.1:\(ServiceDirectory.defaultPorts[service] ?? 80)"])
    }

    /// Peers from `--peer name=url` (repeatable) or `SLIPWAY_PEER=name=url,name=url`, a peer with several replicas
    /// as `name=url|url`; unnamed services default to 127.0.0.1 on their default port.
    static func peers(_ reader: ConfigReader) throws -> [String: PeerAddresses] {
        var peers = Dictionary(uniqueKeysWithValues: ServiceDirectory.defaultPorts.map { ($0.key, PeerAddresses(["http://127.0.0.1:\($0.value)"])) })
        for entry in reader.strings("peer").flatMap({ $0.split(separator: ",") }) {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty,
                parts[1].split(separator: "|", omittingEmptySubsequences: false).allSatisfy({ $0.hasPrefix("http") })
            else {
                throw ConfigError(key: "peer", message: "expected name=http://host:port (several replicas: name=url|url), got '\(entry)'")
            }
            peers[parts[0]] = PeerAddresses(parsing: parts[1])
        }
        return peers
    }
}

/// `postgres://user[:password]@host[:port][/database][?sslmode=disable|prefer|require]`.
/// An empty database path means "this service's own database" (`slipway_<service>`), which is how one
/// `SLIPWAY_DATABASE_URL` serves every service of an installation.
public struct DatabaseURL: Sendable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require }
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(_ text: String, defaultDatabase: String) throws {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty
        else {
            throw ConfigError(key: "database-url", message: "expected postgres://user@host:port/database")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = components.user ?? "postgres"
        self.password = components.password
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        self.database = path.isEmpty ? defaultDatabase : path
        let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        guard let tls = TLSMode(rawValue: mode) else {
            throw ConfigError(key: "database-url", message: "sslmode must be disable, prefer or require")
        }
        self.tls = tls
    }

    /// The password never appears in logs.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }
}
