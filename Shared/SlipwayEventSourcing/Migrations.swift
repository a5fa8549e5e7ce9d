import Logging
import PostgresNIO

/// One numbered schema change. Statements run in order inside one transaction.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let statements: [String]

    public init(_ version: Int, _ name: String, _ statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// A component's ordered migrations. `component` keys the version table, so the kit, each
/// read model and each projection evolve independently inside one service database.
public struct MigrationSet: Sendable {
    public let component: String
    public let migrations: [Migration]

    public init(component: String, migrations: [Migration]) {
        self.component = component
        self.migrations = migrations.sorted { $0.version < $1.version }
    }
}

/// Applies pending migrations under an advisory lock, so several replicas may start at once.
public enum Migrator {
    /// Arbitrary, fixed: the lock only has to be the same number in every replica.
    static let lockKey: Int64 = 0x5_11B_7A7

    public static func migrate(_ sets: [MigrationSet], client: PostgresClient, logger: Logger) async throws {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(lockKey))", logger: logger)
            do {
                try await connection.query("CREATE SCHEMA IF NOT EXISTS slipway", logger: logger)
                // The version table is the one object that must exist before any numbered migration.
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS slipway.schema_migrations (
                        component text NOT NULL,
                        version integer NOT NULL,
                        name text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now(),
                        PRIMARY KEY (component, version))
                    """, logger: logger)
                for set in sets {
                    let rows = try await connection.query(
                        "SELECT version FROM slipway.schema_migrations WHERE component = \(set.component)", logger: logger)
                    var applied = Set<Int>()
                    for try await version in rows.decode(Int.self) { applied.insert(version) }
                    for migration in set.migrations where !applied.contains(migration.version) {
                        try await connection.withTransaction(logger: logger) { transaction in
                            for statement in migration.statements {
                                try await transaction.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                            }
                            try await transaction.query(
                                """
                                INSERT INTO slipway.schema_migrations (component, version, name)
                                VALUES (\(set.component), \(migration.version), \(migration.name))
                                """, logger: logger)
                        }
                        logger.info(
                            "applied migration",
                            metadata: [
                                LogKey.migrationComponent: "\(set.component)",
                                LogKey.migrationVersion: "\(migration.version)",
                            ])
                    }
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(\(lockKey))", logger: logger)
        }
    }

    /// Runs a read model's DDL into `schema` without recording versions: used to build a
    /// fresh replay schema that is compared with the live one and then dropped.
    public static func createFresh(_ migrations: [Migration], schema: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(quoteIdentifier(schema))"), logger: logger)
        try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(quoteIdentifier(schema))"), logger: logger)
        for migration in migrations.sorted(by: { $0.version < $1.version }) {
            for statement in migration.statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
    }
}

/// Quotes an SQL identifier (schema, table) that came from our own configuration.
public func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
