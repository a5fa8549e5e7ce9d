import ServiceLifecycle

/// A background loop of the router as a `Service`: its body returns on graceful shutdown or cancellation.
struct LoopService: Service {
    let name: String
    let body: @Sendable () async throws -> Void

    init(_ name: String, _ body: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.body = body
    }

    func run() async throws { try await body() }
}
