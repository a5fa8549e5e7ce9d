import Logging
import NIOSSL
import PostgresNIO
import SlipwayEventSourcing

extension DatabaseURL {
    func tlsSetting() throws -> PostgresClient.Configuration.TLS {
        switch tls {
        case .disable: return .disable
        case .prefer: return .prefer(.makeClientConfiguration())
        case .require: return .require(.makeClientConfiguration())
        }
    }

    public func clientConfiguration(database: String? = nil) throws -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database ?? self.database, tls: try tlsSetting())
        configuration.options.maximumConnections = 24
        configuration.options.additionalStartupParameters = Self.sessionSettings
        return configuration
    }

    /// Set on every connection a service opens. JIT off: Slipway's statements are short, and PostgreSQL
    /// compiles any statement whose estimated cost passes 100,000, which a stale estimate of a churning table
    /// (the outbox) can reach: then a statement of 0.5 ms took 10–12 ms, nearly all of it compiling.
    static let sessionSettings = [("jit", "off")]

    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch self.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.additionalStartupParameters = Self.sessionSettings
        return configuration
    }

    /// Creates the service's database when it does not exist yet (one database per service, on any
    /// server the operator points us at). Connects to the `postgres` maintenance database for that.
    public func ensureDatabaseExists(logger: Logger) async throws {
        var maintenance = try connectionConfiguration()
        maintenance.database = "postgres"
        let connection = try await PostgresConnection.connect(configuration: maintenance, id: 0, logger: logger)
        defer { Task { [connection] in try? await connection.close() } }
        let rows = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(database)", logger: logger)
        for try await _ in rows { return }
        do {
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoteIdentifier(database))"), logger: logger)
            logger.info("created database", metadata: [LogKey.databaseName: "\(database)"])
        } catch  where sqlState(of: error) == "42P04" || sqlState(of: error) == "23505" {
            // Another replica created it at the same moment.
        }
    }
}
