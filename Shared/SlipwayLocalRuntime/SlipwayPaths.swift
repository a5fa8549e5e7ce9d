import Foundation

/// The layout of the local state directory (`.slipway/` by default).
///
/// ```
/// .slipway/
///   up.json            state of the running supervisor (read by `status` and `down`)
///   up.pids            child pids, one per line (read by the orphan watchdog)
///   logs/<name>.log    raw output of each managed process
///   postgres/          the embedded PostgreSQL cluster (data/, port, postgres.log)
///   admin-token        the first admin's API token (owner-only), which the CLI sends
/// ```
public struct SlipwayPaths: Sendable, Equatable {
    public var root: URL

    public init(root: URL) {
        self.root = root.standardizedFileURL
    }

    /// `.slipway` in the current working directory.
    public static var `default`: SlipwayPaths {
        SlipwayPaths(root: URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".slipway"))
    }

    public var stateFile: URL { root.appendingPathComponent("up.json") }
    public var pidsFile: URL { root.appendingPathComponent("up.pids") }
    public var logsDirectory: URL { root.appendingPathComponent("logs") }
    public var postgresDirectory: URL { root.appendingPathComponent("postgres") }
    /// The first admin's API token, written by the gateway's first start (mode 0600); the CLI sends it.
    public var adminTokenFile: URL { root.appendingPathComponent("admin-token") }
    /// The secret the gateway and the services sign and check who requests act for with (owner-only).
    public var actorSecretFile: URL { root.appendingPathComponent("actor.secret") }

    public func logFile(for name: String) -> URL {
        logsDirectory.appendingPathComponent("\(name).log")
    }
}
