/// Another writer appended to the aggregate first (the `UNIQUE(aggregate, version)` constraint fired),
/// or the caller's expected version is stale. Surfaced as HTTP 409.
public struct ConcurrencyConflict: Error, CustomStringConvertible {
    public let aggregateType: String
    public let aggregateID: String
    /// The version the caller expected; nil when the command lost every retry to concurrent writers.
    public let expectedVersion: Int64?
    public let actualVersion: Int64?

    public var description: String {
        if let actualVersion, let expectedVersion {
            return "\(aggregateType) \(aggregateID) is at version \(actualVersion), expected \(expectedVersion)"
        }
        return "\(aggregateType) \(aggregateID) kept changing concurrently; try again"
    }
}

/// A decider rejected a command: a domain rule, not an infrastructure failure. Surfaced as 4xx.
public struct CommandRejected: Error, CustomStringConvertible {
    public enum Kind: Sendable { case invalid, notFound, conflict }
    public let kind: Kind
    public let field: String?
    public let message: String

    public init(_ kind: Kind = .invalid, field: String? = nil, _ message: String) {
        self.kind = kind
        self.field = field
        self.message = message
    }

    public var description: String { message }
}
