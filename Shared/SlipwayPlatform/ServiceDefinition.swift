import AsyncHTTPClient
import Hummingbird
import Logging
import PostgresNIO
import SlipwayEventSourcing

/// What a domain service plugs into the common shell: its name, its own read model (updated inline
/// by its commands), the projections it keeps of other services' events, and its API routes.
public struct ServiceDefinition: Sendable {
    public typealias Routes = @Sendable (_ router: Router<BasicRequestContext>, _ environment: ServiceEnvironment) -> Void
    /// A long-running loop (an executor, a reactor) started after migrations; restarted with backoff if it fails.
    public typealias Worker = @Sendable (_ environment: ServiceEnvironment) async throws -> Void

    public var name: String
    public var defaultPort: Int
    /// Updated in the same transaction as every command's events.
    public var readModel: (any Projection)?
    public var projections: [ProjectionSubscription]
    public var routes: Routes
    public var workers: [(name: String, run: Worker)]

    public init(
        name: String, defaultPort: Int, readModel: (any Projection)? = nil,
        projections: [ProjectionSubscription] = [], routes: @escaping Routes = { _, _ in },
        workers: [(name: String, run: Worker)] = []
    ) {
        self.name = name
        self.defaultPort = defaultPort
        self.readModel = readModel
        self.projections = projections
        self.routes = routes
        self.workers = workers
    }

    public var topic: String { ServiceDirectory.topic(for: name) }
}

/// A projection and the services whose events it folds.
public struct ProjectionSubscription: Sendable {
    public var projection: any Projection
    public var sourceServices: [String]

    public init(_ projection: any Projection, from sourceServices: [String]) {
        self.projection = projection
        self.sourceServices = sourceServices
    }
}

/// What route handlers get to work with.
public struct ServiceEnvironment: Sendable {
    public let config: ServiceConfig
    public let store: EventStore
    public let postgres: PostgresClient
    public let httpClient: HTTPClient
    public let logger: Logger

    public init(config: ServiceConfig, store: EventStore, postgres: PostgresClient, httpClient: HTTPClient, logger: Logger) {
        self.config = config
        self.store = store
        self.postgres = postgres
        self.httpClient = httpClient
        self.logger = logger
    }

    /// Runs a command through the event store (which also updates this service's inline read model).
    @discardableResult
    public func execute<D: Decider>(_ decider: D.Type, aggregateID: String, command: D.Command, metadata: CommandMetadata) async throws -> CommandOutcome<D> {
        try await store.execute(decider, aggregateID: aggregateID, command: command, metadata: metadata)
    }
}

extension Request {
    /// Command metadata from the request: correlation id and `If-Match` expected version.
    public func commandMetadata() throws -> CommandMetadata {
        CommandMetadata(correlationID: correlationID, expectedVersion: try expectedVersion())
    }
}
