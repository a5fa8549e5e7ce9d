import Logging
import PostgresNIO
import SlipwayContracts

/// A read model folded from events. `apply` runs inside the transaction that also advances the
/// checkpoint (or, for a service's own inline read model, inside the command's transaction), with
/// `search_path` set to the schema being written: the live one, or a fresh one during a replay.
/// So table names in `migrations` and `apply` are unqualified, and rows must derive from events only
/// (no `now()`), or a replay could never equal the live model.
public protocol Projection: Sendable {
    /// Names the checkpoint rows and the migration component.
    var name: String { get }
    var migrations: [Migration] { get }
    /// Events arrive in source order; types the projection does not care about are skipped by it.
    func apply(_ events: [EventEnvelope], on connection: PostgresConnection, logger: Logger) async throws
}

extension Projection {
    public var migrationSet: MigrationSet { MigrationSet(component: "read-model.\(name)", migrations: migrations) }
}
