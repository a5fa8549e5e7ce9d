import AsyncHTTPClient
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import SlipwayContracts
import SlipwayEventSourcing

/// What a domain service plugs into the common shell: its context (which names the service, its
/// database and its topic), its own read model (updated inline by its commands), and the parts built
/// once the shell has made the environment — projections, routes and long-running workers.
public struct ServiceDefinition: Sendable {
    public typealias Build = @Sendable (_ environment: ServiceEnvironment) throws -> ServiceComponents

    /// The context's name (`deploy`): names the database, the event store's source and the peers' URLs.
    public var name: String
    /// Where the relay publishes: the context's topic.
    public var topic: String
    public var defaultPort: Int
    /// Updated in the same transaction as every command's events.
    public var readModel: (any Projection)?
    /// `--fetch-wait-max-ms` when not given: how long its consumers' fetches wait at the broker. The dev broker does
    /// not answer a waiting fetch when data arrives, so this is also how late the service may learn an event, and
    /// each fetch costs an idle service CPU; a service whose input is not urgent waits longer.
    public var defaultFetchWaitMs = 20
    public var build: Build

    /// A service of one of Slipway's contexts.
    public init(context: EventContext, readModel: (any Projection)? = nil, build: @escaping Build = { _ in ServiceComponents() }) {
        self.init(
            name: context.rawValue, topic: context.topic, defaultPort: ServiceDirectory.defaultPort(of: context),
            readModel: readModel, build: build)
    }

    /// A service outside the catalogue (the event benchmark's, the kit's tests').
    public init(
        name: String, topic: String, defaultPort: Int, readModel: (any Projection)? = nil, build: @escaping Build = { _ in ServiceComponents() }
    ) {
        self.name = name
        self.topic = topic
        self.defaultPort = defaultPort
        self.readModel = readModel
        self.build = build
    }
}

/// The parts of a service that need its environment.
public struct ServiceComponents {
    /// Read models of other services' events (or of this one's, for reactions).
    public var projections: [ProjectionSubscription]
    /// The service's API: one collection per area, each registering its own routes.
    public var routes: [RouteCollection<SlipwayRequestContext>]
    /// Read models of a stream without an event store behind it (metrics-svc's rollups of the request
    /// log), each kept by a `StreamIngestor` with its offsets in the same transaction.
    public var ingestions: [any StreamIngestion]
    /// Long-running loops (an executor, a controller), in dependency order: they start after the
    /// migrations, stop before the projectors and the relay, and each ends on graceful shutdown.
    public var workers: [any Service]
    /// Runs before every route, the shared health and internal ones included: the gateway's authentication.
    public var middleware: [ServiceMiddleware]
    /// Run once the migrations are applied and before the service is ready or listens (retried with backoff):
    /// the gateway's first admin.
    public var startupTasks: [StartupTask]

    public init(
        projections: [ProjectionSubscription] = [], ingestions: [any StreamIngestion] = [], routes: [RouteCollection<SlipwayRequestContext>] = [],
        workers: [any Service] = [], middleware: [ServiceMiddleware] = [], startupTasks: [StartupTask] = []
    ) {
        self.projections = projections
        self.ingestions = ingestions
        self.routes = routes
        self.workers = workers
        self.middleware = middleware
        self.startupTasks = startupTasks
    }
}

/// A service's own middleware, whatever its type (the router takes concrete middleware only).
public struct ServiceMiddleware: RouterMiddleware {
    public typealias Context = SlipwayRequestContext
    let body: @Sendable (Request, Context, (Request, Context) async throws -> Response) async throws -> Response

    public init<M: RouterMiddleware>(_ middleware: M) where M.Context == SlipwayRequestContext {
        body = { request, context, next in try await middleware.handle(request, context: context, next: next) }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await body(request, context, next)
    }
}

/// Work a service does once at start, after its migrations and before it is ready.
public struct StartupTask: Sendable {
    public var name: String
    public var run: @Sendable () async throws -> Void

    public init(_ name: String, run: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.run = run
    }
}

/// A projection and the contexts whose events it folds.
public struct ProjectionSubscription: Sendable {
    public var projection: any Projection
    public var sources: [EventContext]

    public init(_ projection: any Projection, from sources: [EventContext]) {
        self.projection = projection
        self.sources = sources
    }
}

/// What route handlers and workers get to work with.
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
    public func execute<D: Decider>(_ decider: D.Type, aggregateID: String, command: D.Command, metadata: CommandMetadata) async throws
        -> CommandOutcome<D>
    {
        try await store.execute(decider, aggregateID: aggregateID, command: command, metadata: metadata)
    }
}
