import Foundation
import Hummingbird
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// Load tests (the spec's Phase 5): `POST /api/deployed-endpoints/{id}/load-test/` starts one (202; one per endpoint
/// at a time, 409 otherwise), `GET` on the same path lists the endpoint's, newest first; `GET /api/load-tests/{id}`
/// shows one — with live `progress` while it runs — and `POST /api/load-tests/{id}/cancel` stops it within a second.
struct LoadTestRoutes: Sendable {
    let environment: ServiceEnvironment
    let tests: EndpointTests
    let runner: LoadTestRunner

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.post(
            "/api/deployed-endpoints/:id/load-test",
            RouteDoc(
                "Start a load test of an endpoint",
                details: "One load test per endpoint at a time: another still running is a 409. `connections` (1–256, default 16) send "
                    + "requests through the router for `duration_seconds` (1–300, default 30), as fast as they are answered or paced to "
                    + "`target_rps` (1–100000), drawn from `sample_count` (1–1000, default 100) rows of the data that trained the served "
                    + "version; `top_k` 1–100 (default 10), `request_timeout_ms` 100–60000 (default 10000). The body is optional; the test "
                    + "runs after the answer (`GET /api/load-tests/{id}`).",
                body: StartBody.self, required: false, status: .accepted, answer: .json(LoadTestReport.self)), use: start)
        routes.get(
            "/api/deployed-endpoints/:id/load-test",
            RouteDoc(
                "An endpoint's load tests, newest first", query: [.integer("limit", "How many", in: 1...200, default: 20)],
                answer: AnswerDoc(
                    schema: [
                        "type": "object", "title": "LoadTestList",
                        "properties": [
                            "endpoint": ["type": "string"],
                            "load_tests": ["type": "array", "items": (try? SchemaProbe.schema(of: LoadTestReport.self)) ?? ["type": "object"]],
                        ],
                    ])), use: list)
        routes.get(
            "/api/load-tests/:id",
            RouteDoc(
                "A load test", details: "While it runs on the replica answering, with its `progress` and its `per_second` so far.",
                answer: .json(LoadTestReport.self)),
            use: get)
        routes.post(
            "/api/load-tests/:id/cancel",
            RouteDoc(
                "Cancel a running load test", details: "It stops within a second; a test that has ended is a 409.", status: .accepted,
                answer: .json(LoadTestReport.self)), use: cancel)
        return routes
    }

    struct StartBody: Decodable {
        var connections: Int?
        /// Paces the connections to this rate; without it they go as fast as they are answered.
        var targetRps: Int?
        var durationSeconds: Int?
        var sampleCount: Int?
        var topK: Int?
        var seed: UInt64?
        var requestTimeoutMs: Int?
        // No `started_by`: who starts a test is the authenticated caller (`Request.actor`), not what the body says.
    }

    static let requestTimeoutMs = 100...60_000

    @Sendable func start(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        let name = try context.parameters.require("id")
        let body = try await request.decodeIfPresent(as: StartBody.self, context: context) ?? StartBody()
        let timeout = body.requestTimeoutMs ?? 10_000
        guard Self.requestTimeoutMs.contains(timeout) else {
            throw APIError.invalid("request_timeout_ms must be 100 to 60000, got \(timeout)", field: "request_timeout_ms")
        }
        let endpoint = try await tests.servingEndpoint(name)
        let id = "load-\(UUID.v7().uuidString.lowercased())"
        let new = LoadTestDecider.NewLoadTest(
            id: id, endpoint: endpoint, connections: body.connections ?? 16, targetRPS: body.targetRps, durationSeconds: body.durationSeconds ?? 30,
            sampleCount: body.sampleCount ?? 100, seed: body.seed ?? EndpointTests.defaultSeed, topK: body.topK ?? 10, requestTimeoutMs: timeout,
            targetURL: "\(tests.settings.routerURL)/\(endpoint.name)", datasetID: tests.datasetID(bundle: endpoint.artifactURI),
            startedBy: request.actor)
        let outcome = try await environment.execute(
            LoadTestDecider.self, aggregateID: name, command: .start(new, now: tests.now()), metadata: try request.commandMetadata())
        if let started = outcome.state.running, started.loadTestID == id { runner.enqueue(started) }
        return try await report(id, status: .accepted)
    }

    @Sendable func list(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        let name = try context.parameters.require("id")
        let limit = try request.uri.queryParameters.integer("limit", default: 20, in: 1...200)
        if case .missing = try await queries.endpoint(name) { throw APIError.notFound("no endpoint '\(name)'") }
        let reports = try await queries.loadTests(endpoint: name, limit: limit)
        let endpoint = String(decoding: try PlatformJSON.encode(name), as: UTF8.self)
        return RawJSON(Array(#"{"endpoint": \#(endpoint), "load_tests": [\#(reports.joined(separator: ", "))]}"#.utf8))
    }

    @Sendable func get(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        try await report(try context.parameters.require("id"))
    }

    @Sendable func cancel(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        let id = try context.parameters.require("id")
        guard let (_, status, endpoint) = try await queries.loadTest(id) else { throw APIError.notFound("no load test '\(id)'") }
        guard status == "running" else { throw APIError.conflict("load test \(id) has ended (\(status))") }
        try await environment.execute(
            LoadTestDecider.self, aggregateID: endpoint, command: .cancel(id: id, by: request.actor), metadata: try request.commandMetadata())
        runner.stop(id)  // at once when it runs here; another replica reads the cancel from the store within a second
        return try await report(id, status: .accepted)
    }

    /// The stored report; a test running here also shows how far it has got: its `progress`, and its seconds so far
    /// as `per_second`.
    func report(_ id: String, status: HTTPResponse.Status = .ok) async throws -> RawJSON {
        guard let (stored, _, _) = try await queries.loadTest(id) else { throw APIError.notFound("no load test '\(id)'") }
        guard let progress = runner.progress(id) else { return RawJSON(Array(stored.utf8), status: status) }
        var report = try PlatformJSON.decoder.decode(LoadTestReport.self, from: Data(stored.utf8))
        report.perSecond = progress.seconds.map(LoadTestReport.Second.init)
        let text = String(decoding: try PlatformJSON.encode(report), as: UTF8.self)
        let extra = String(decoding: try PlatformJSON.encode(LoadTestReport.Progress(progress)), as: UTF8.self)
        return RawJSON(Array((text.dropLast() + #", "progress": \#(extra)}"#).utf8), status: status)
    }

    var queries: TestingQueries { tests.queries }
}
