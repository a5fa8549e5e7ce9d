import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RecommenderKit
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayModelBundle
import SlipwayPlatform

/// The spec's endpoint tests: `POST /api/deployed-endpoints/{id}/test/` runs one now and answers with its report;
/// `GET` on the same path is the endpoint's history, newest first; `GET /api/endpoint-tests/{id}` one test and
/// `…/export` the same as a file. `{id}` is Slipway's endpoint name.
struct EndpointTestRoutes: Sendable {
    let environment: ServiceEnvironment
    let tests: EndpointTests

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.post(
            "/api/deployed-endpoints/:id/test",
            RouteDoc(
                "Test an endpoint now",
                details: "The test runs before the answer: `sample_count` rows of the data that trained the served version (1–1000, default "
                    + "10) become requests through the router, in batches of `batch_size` (1–100, default 1), asking for `top_k` (1–100, "
                    + "default 10) within `timeout_seconds` (1–300, default 30); the report says what was found, or why the test could not "
                    + "run. The default `seed` samples the same customers in every test, so versions compare. `triggered_by` is `api` "
                    + "(default) or `manual`. An endpoint serving no version is a 409. The body is optional.",
                body: TestBody.self, required: false, status: .created, answer: .named("TestReport")), use: test)
        routes.get(
            "/api/deployed-endpoints/:id/test",
            RouteDoc(
                "An endpoint's tests, newest first",
                query: [
                    .integer("limit", "How many", in: 1...200, default: 20), .integer("offset", "How many to skip", in: 0...1_000_000, default: 0),
                    .dateTime("before", "Only tests started before this instant (a page further back, as a model's timeline reads)"),
                ]), use: history)
        routes.get(
            "/api/deployed-endpoints/:id/test/schedule",
            RouteDoc(
                "An endpoint's scheduled check",
                details: "Its interval, next slot, last test and the slots skipped; 404 when the endpoint has none."), use: check)
        routes.put(
            "/api/deployed-endpoints/:id/test/schedule",
            RouteDoc(
                "Configure an endpoint's scheduled check",
                details: "What is left out keeps its value; a new check is enabled, every 15 minutes, with 10 samples. `interval_minutes` is "
                    + "1 to 1440, `sample_count` 1 to 1000. The first check comes one interval after it is enabled.", body: CheckBody.self),
            use: configureCheck)
        routes.get(
            "/api/deployed-endpoints/:id/examples",
            RouteDoc(
                "Example requests for an endpoint, from the data that trained the version it serves",
                details: "The version's input schema (its query features, their types and which are required) and `count` instances "
                    + "(1–20, default 3) drawn by `seed` from its training data, each as a client sends it: what an endpoint's API "
                    + "documentation shows and its playground sends. 409 when the endpoint serves no version; 422 when the data "
                    + "cannot be read.",
                query: [
                    .integer("count", "How many instances", in: 1...20, default: 3),
                    .integer("seed", "Which rows (the same seed gives the same rows)", in: 0...Int.max, default: 1),
                ], answer: .json(ExamplesJSON.self)), use: examples)
        routes.get("/api/endpoint-tests/:id", RouteDoc("An endpoint test's report", answer: .named("TestReport")), use: get)
        routes.get(
            "/api/endpoint-tests/:id/export",
            RouteDoc("An endpoint test's report as a file", details: "Sent as an attachment, `<id>.json`.", answer: .named("TestReport")),
            use: export)
        routes.post("/internal/rollout-tests", use: requestRolloutTest)
        routes.get("/internal/rollout-tests/:deployment/:step", use: rolloutTest)
        return routes
    }

    struct TestBody: Decodable {
        var sampleCount: Int?
        var timeoutSeconds: Int?
        var batchSize: Int?
        var topK: Int?
        /// Which training rows become the samples; the default is the same for every test, so versions are tested on
        /// the same customers and can be compared.
        var seed: UInt64?
        /// `manual` (a person, the CLI) or `api` (default).
        var triggeredBy: String?
    }

    @Sendable func test(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<RawJSON> {
        let name = try context.parameters.require("id")
        let body = try await request.decodeIfPresent(as: TestBody.self, context: context) ?? TestBody()
        let trigger: TestTrigger
        switch body.triggeredBy ?? "api" {
        case "api": trigger = .api
        case "manual": trigger = .manual
        default: throw APIError.invalid("triggered_by is manual or api", field: "triggered_by")
        }
        let options = EndpointTests.Options(
            sampleCount: body.sampleCount ?? 10, timeoutSeconds: body.timeoutSeconds ?? 30, batchSize: body.batchSize ?? 1, topK: body.topK ?? 10,
            seed: body.seed ?? EndpointTests.defaultSeed)
        let started = try await tests.start(
            try await tests.servingEndpoint(name), options: options, id: "test-\(UUID.v7().uuidString.lowercased())", trigger: trigger,
            metadata: try request.commandMetadata())
        try await tests.finish(started, metadata: try request.commandMetadata())
        guard let report = try await queries.report(started.test.id) else { throw APIError.notFound("no test '\(started.test.id)'") }
        return EditedResponse(status: .created, response: RawJSON(report))
    }

    struct HistoryJSON: ResponseEncodable {
        let endpoint: String
        let total: Int
        let tests: [EmbeddedJSON]
    }

    /// `?limit=20&offset=0`, newest first.
    @Sendable func history(_ request: Request, context: SlipwayRequestContext) async throws -> HistoryJSON {
        let name = try context.parameters.require("id")
        let parameters = request.uri.queryParameters
        let limit = try parameters.integer("limit", default: 20, in: 1...200)
        let offset = try parameters.integer("offset", default: 0, in: 0...1_000_000)
        if case .missing = try await queries.endpoint(name) { throw APIError.notFound("no endpoint '\(name)'") }
        let before = try parameters.instant("before")
        let (reports, total) = try await queries.history(endpoint: name, before: before, limit: limit, offset: offset)
        return HistoryJSON(endpoint: name, total: total, tests: reports.compactMap { EmbeddedJSON(text: $0) })
    }

    @Sendable func get(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        let id = try context.parameters.require("id")
        guard let report = try await queries.report(id) else { throw APIError.notFound("no endpoint test '\(id)'") }
        return RawJSON(report)
    }

    /// The report as a file to keep (the spec's "Export results as JSON").
    @Sendable func export(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let report = try await queries.report(id) else { throw APIError.notFound("no endpoint test '\(id)'") }
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"\(id).json\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: report)))
    }

    // MARK: Examples

    struct ExamplesJSON: ResponseEncodable, Decodable {
        struct Feature: Codable {
            var name: String
            /// string, int, float or timestamp.
            var type: String
            var required: Bool
        }

        var endpoint: String
        var modelName: String
        var modelVersion: Int
        var inputSchema: [Feature]
        var instances: [[String: SlipwayModelBundle.FeatureValue]]
    }

    @Sendable func examples(_ request: Request, context: SlipwayRequestContext) async throws -> ExamplesJSON {
        let parameters = request.uri.queryParameters
        let count = try parameters.integer("count", default: 3, in: 1...20)
        let seed = try parameters.integer("seed", default: 1, in: 0...Int.max)
        let endpoint = try await tests.servingEndpoint(try context.parameters.require("id"))
        let bundle = URL(fileURLWithPath: endpoint.artifactURI)
        let manifest: Manifest
        let samples: EndpointTestSamples
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: bundle.appendingPathComponent("manifest.json")))
            samples = try tests.samples(bundle: bundle, count: count, seed: UInt64(seed))
        } catch {
            throw APIError.invalid("no examples for '\(endpoint.name)': \(error)", field: "id")
        }
        return ExamplesJSON(
            endpoint: endpoint.name, modelName: endpoint.modelName, modelVersion: endpoint.versionNumber,
            inputSchema: manifest.inputSchema.query.map { .init(name: $0.name, type: $0.type.rawValue, required: $0.required) },
            instances: samples.instances)
    }

    // MARK: Scheduled checks

    /// The endpoint's check: its interval, next slot, last test and how many slots were skipped.
    @Sendable func check(_ request: Request, context: SlipwayRequestContext) async throws -> TestingQueries.CheckJSON {
        let name = try context.parameters.require("id")
        if case .missing = try await queries.endpoint(name) { throw APIError.notFound("no endpoint '\(name)'") }
        guard let check = try await queries.check(name) else { throw APIError.notFound("endpoint '\(name)' has no scheduled check") }
        return check
    }

    struct CheckBody: Decodable {
        var intervalMinutes: Int?
        var sampleCount: Int?
        var enabled: Bool?
    }

    /// `{"interval_minutes": 15, "sample_count": 10, "enabled": true}`; what is left out keeps its value.
    @Sendable func configureCheck(_ request: Request, context: SlipwayRequestContext) async throws -> TestingQueries.CheckJSON {
        let name = try context.parameters.require("id")
        let body = try await request.decode(as: CheckBody.self, context: context)
        if case .missing = try await queries.endpoint(name) { throw APIError.notFound("no endpoint '\(name)'") }
        let current = try await queries.check(name)
        let settings = ScheduledCheckDecider.CheckSettings(
            endpoint: name, enabled: body.enabled ?? current?.enabled ?? true,
            // A product past Int's range (a huge interval_minutes) is out of the decider's range too, not a trap.
            intervalSeconds: body.intervalMinutes.map { $0.multipliedReportingOverflow(by: 60) }.map { $0.overflow ? Int.max : $0.partialValue }
                ?? current?.intervalSeconds ?? ScheduledCheckDecider.defaultIntervalSeconds,
            sampleCount: body.sampleCount ?? current?.sampleCount ?? 10)
        try await environment.execute(
            ScheduledCheckDecider.self, aggregateID: name, command: .configure(settings, actor: request.actor, now: tests.now()),
            metadata: try request.commandMetadata())
        guard let check = try await queries.check(name) else { throw APIError.notFound("endpoint '\(name)' has no scheduled check") }
        return check
    }

    // MARK: Rollout gates (deploy-svc asks)

    struct RolloutTestBody: Decodable {
        var deploymentId: String
        var stepIndex: Int
        /// The new revision's model-server, tested directly before the router sends it traffic.
        var revisionAddress: String
        var sampleCount: Int?
    }

    /// deploy-svc's `endpoint_test` gate asks for the test of a rollout step's new revision: started once (its id is the
    /// deployment and the step), run by the check runner, its verdict read with `GET`. 404 while testing-svc has not
    /// yet learned the deployment from deploy-svc's events (deploy-svc asks again).
    @Sendable func requestRolloutTest(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<TestingQueries.Verdict> {
        let body = try await request.decode(as: RolloutTestBody.self, context: context)
        guard body.revisionAddress.hasPrefix("http://") || body.revisionAddress.hasPrefix("https://") else {
            throw APIError.invalid("revision_address is http://host:port", field: "revision_address")
        }
        let id = EndpointTests.rolloutTestID(deployment: body.deploymentId, step: body.stepIndex)
        if let verdict = try await queries.verdict(id) { return EditedResponse(status: .ok, response: verdict) }
        guard let endpoint = try await queries.deployment(body.deploymentId) else {
            throw APIError.notFound("testing-svc does not know deployment '\(body.deploymentId)' yet")
        }
        let options = EndpointTests.Options(
            sampleCount: body.sampleCount ?? 20, timeoutSeconds: 30, batchSize: 1, topK: 10, seed: EndpointTests.defaultSeed)
        do {
            _ = try await tests.start(
                endpoint, options: options, id: id, trigger: .deployment, revision: (body.revisionAddress, body.stepIndex),
                metadata: try request.commandMetadata())
        } catch let rejected as CommandRejected where rejected.kind == .conflict {}  // asked twice at once: one start
        tests.wake()
        guard let verdict = try await queries.verdict(id) else { throw APIError.notFound("no rollout test '\(id)'") }
        return EditedResponse(status: .accepted, response: verdict)
    }

    @Sendable func rolloutTest(_ request: Request, context: SlipwayRequestContext) async throws -> TestingQueries.Verdict {
        let deployment = try context.parameters.require("deployment")
        let step = try context.parameters.require("step", as: Int.self)
        let id = EndpointTests.rolloutTestID(deployment: deployment, step: step)
        guard let verdict = try await queries.verdict(id) else { throw APIError.notFound("no rollout test '\(id)'") }
        return verdict
    }

    var queries: TestingQueries { TestingQueries(client: environment.postgres, logger: environment.logger) }
}

/// Making and running endpoint tests, for the API and for scheduled checks alike: the start is recorded first (a
/// refused setting writes nothing), the samples are drawn, the requests sent, and the end recorded with what was
/// found — or why the test could not run.
struct EndpointTests: Sendable {
    let environment: ServiceEnvironment
    let settings: TestingSettings
    let keys: TestingKeys
    let now: @Sendable () -> Date

    init(environment: ServiceEnvironment, settings: TestingSettings, now: @escaping @Sendable () -> Date) {
        self.environment = environment
        self.settings = settings
        self.keys = TestingKeys(settings: settings, environment: environment)
        self.now = now
    }

    static let defaultSeed: UInt64 = 20_260_129
    /// Ends the check runner's wait: a rollout test was asked for.
    let wakeSignal = WakeSignal()

    func wake() { wakeSignal.signal() }

    static func rolloutTestID(deployment: String, step: Int) -> String { "rollout-\(deployment)-\(step)" }

    /// A started test this process is not running (a rollout's, or one a crash interrupted), to run it.
    func resume(_ id: String) async throws -> Started? {
        let state = try await environment.store.state(EndpointTestDecider.self, aggregateID: id)
        guard let started = state.started, !state.completed, let endpoint = try await queries.deployment(started.deploymentID) else { return nil }
        let bundle = URL(fileURLWithPath: started.artifactUri)
        let spec = try? RunSpec.decoder().decode(
            RunSpec.self, from: Data(contentsOf: bundle.deletingLastPathComponent().appendingPathComponent("spec.json")))
        var test = EndpointTestDecider.NewTest(
            id: id, endpoint: endpoint, trigger: started.trigger, triggeredBy: started.triggeredBy, sampleCount: Int(started.sampleCount),
            timeoutSeconds: Int(started.timeoutSeconds), batchSize: Int(started.batchSize), topK: Int(started.topK), seed: started.seed,
            datasetID: started.datasetID, targetURL: started.targetURL)
        test.rolloutStep = started.rolloutStepIndex >= 0 ? Int(started.rolloutStepIndex) : nil
        return Started(test: test, spec: spec, bundle: bundle)
    }

    struct Options: Sendable {
        var sampleCount: Int
        var timeoutSeconds: Int
        var batchSize: Int
        var topK: Int
        var seed: UInt64
    }

    /// A recorded start, with what running it needs.
    struct Started: Sendable {
        var test: EndpointTestDecider.NewTest
        var spec: RunSpec?
        var bundle: URL
    }

    /// `revision`: a rollout's test goes to the new revision's model-server itself (`address`), not through the router.
    func start(
        _ endpoint: TestedEndpoint, options: Options, id: String, trigger: TestTrigger, check: (id: String, slot: Date)? = nil,
        revision: (address: String, step: Int)? = nil, metadata: CommandMetadata
    ) async throws -> Started {
        let bundle = URL(fileURLWithPath: endpoint.artifactURI)
        let spec = try? RunSpec.decoder().decode(
            RunSpec.self, from: Data(contentsOf: bundle.deletingLastPathComponent().appendingPathComponent("spec.json")))
        let triggeredBy = trigger == .manual ? "manual" : trigger == .scheduled ? "scheduled" : trigger == .deployment ? "rollout" : "api"
        var test = EndpointTestDecider.NewTest(
            id: id, endpoint: endpoint, trigger: trigger, triggeredBy: triggeredBy, sampleCount: options.sampleCount,
            timeoutSeconds: options.timeoutSeconds, batchSize: options.batchSize, topK: options.topK, seed: options.seed,
            datasetID: spec?.dataset.id ?? "", targetURL: revision?.address ?? "\(settings.routerURL)/\(endpoint.name)", check: check)
        test.rolloutStep = revision?.step
        try await environment.execute(EndpointTestDecider.self, aggregateID: id, command: .start(test), metadata: metadata)
        return Started(test: test, spec: spec, bundle: bundle)
    }

    func finish(_ started: Started, metadata: CommandMetadata) async throws {
        let outcome = await run(started.test, spec: started.spec, bundle: started.bundle)
        try await environment.execute(EndpointTestDecider.self, aggregateID: started.test.id, command: .complete(outcome), metadata: metadata)
    }

    /// What the test found; a test that could not run (no training data, no key) says why rather than failing the request.
    func run(_ test: EndpointTestDecider.NewTest, spec: RunSpec?, bundle: URL) async -> EndpointTestDecider.TestOutcome {
        let clock = ContinuousClock()
        let began = clock.now
        let samples: EndpointTestSamples
        do { samples = try self.samples(bundle: bundle, spec: spec, count: test.sampleCount, seed: test.seed) } catch {
            return .init(result: nil, error: "\(error)")
        }
        // Through the router a test needs testing-svc's key; a revision's model-server takes requests as they are.
        var authorization: String?
        if test.rolloutStep == nil {
            do { authorization = "Bearer \(try await keys.key(model: test.endpoint.modelName))" } catch {
                return .init(result: nil, error: "no API key to test with: \(error)")
            }
        }
        let runner = EndpointTestRunner(
            base: test.targetURL, model: test.endpoint.modelName, authorization: authorization, httpClient: environment.httpClient)
        let sampled = clock.now
        var result = await runner.run(
            instances: samples.instances, topK: test.topK, batchSize: test.batchSize, timeout: .seconds(test.timeoutSeconds),
            validator: PredictionValidator(topK: test.topK, catalog: samples.catalog))
        // The test's whole time, reading the training data included; the extraction is its own check.
        result.durationMs = Int64(EndpointTestRunner.ms(clock.now - began).rounded())
        result.checks.insert(
            TestCheckResult.with {
                $0.kind = .sampleExtraction
                $0.status = .passed
                $0.message = "\(samples.instances.count) samples of \(samples.rowsAvailable) training rows (seed \(test.seed))"
                $0.durationMs = Int64(EndpointTestRunner.ms(sampled - began).rounded())
            }, at: min(1, result.checks.count))
        var comparison: VersionComparison?
        if let previous = try? await queries.previousAnswers(endpoint: test.endpoint.name, otherThan: test.endpoint.modelVersionID) {
            comparison = VersionComparer.compare(result.answers, with: previous, k: min(test.topK, EndpointTestRunner.comparedItems))
        }
        return .init(result: result, comparison: comparison)
    }

    /// Why a test cannot run (no training data, no key), said in its report.
    struct Unrunnable: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The dataset that trained `bundle`, as its run's spec.json says ("" when it is not there).
    func datasetID(bundle: String) -> String {
        let specFile = URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("spec.json")
        return (try? RunSpec.decoder().decode(RunSpec.self, from: Data(contentsOf: specFile)))?.dataset.id ?? ""
    }

    /// Raw query instances drawn from the data that trained `bundle` (its run's spec.json lies beside it).
    func samples(bundle: URL, spec: RunSpec? = nil, count: Int, seed: UInt64) throws -> EndpointTestSamples {
        let specFile = bundle.deletingLastPathComponent().appendingPathComponent("spec.json")
        guard let spec = spec ?? (try? RunSpec.decoder().decode(RunSpec.self, from: Data(contentsOf: specFile))) else {
            throw Unrunnable("the training run's spec.json is not beside the bundle \(bundle.path): the samples cannot be made")
        }
        do {
            let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: bundle.appendingPathComponent("manifest.json")))
            return try EndpointTestSamples.make(spec: spec, query: manifest.inputSchema.query, count: count, seed: seed)
        } catch {
            throw Unrunnable("the samples cannot be made from the training data: \(error)")
        }
    }

    var queries: TestingQueries { TestingQueries(client: environment.postgres, logger: environment.logger) }

    func servingEndpoint(_ name: String) async throws -> TestedEndpoint {
        switch try await queries.endpoint(name) {
        case .missing: throw APIError.notFound("no endpoint '\(name)'")
        case .deleted: throw APIError.notFound("endpoint '\(name)' was deleted")
        case .notServing(let model):
            throw APIError.conflict("endpoint '\(name)' serves no version of '\(model)': deploy one first", details: ["field": "id"])
        case .serving(let endpoint): return endpoint
        }
    }
}

/// How much a version's answers differ from the previous version's, on the customers both tests asked about.
enum VersionComparer {
    static func compare(_ current: [SampleAnswer], with previous: TestingQueries.PreviousAnswers, k: Int) -> VersionComparison? {
        var before: [String: [String]] = [:]
        for answer in previous.answers where !answer.customerID.isEmpty && before[answer.customerID] == nil {
            before[answer.customerID] = Array(answer.productIds.prefix(k))
        }
        var overlaps: [Double] = []
        var identical = 0
        var seen: Set<String> = []
        for answer in current where !answer.customerID.isEmpty && seen.insert(answer.customerID).inserted {
            guard let old = before[answer.customerID] else { continue }
            let new = Array(answer.productIds.prefix(k))
            let size = max(new.count, old.count)
            guard size > 0 else { continue }
            overlaps.append(Double(Set(new).intersection(old).count) / Double(size))
            if new == old { identical += 1 }
        }
        guard !overlaps.isEmpty else { return nil }
        return VersionComparison.with {
            $0.previousTestID = previous.testID
            $0.previousModelVersionID = previous.modelVersionID
            $0.previousVersionNumber = Int32(previous.versionNumber)
            $0.samplesCompared = Int32(overlaps.count)
            $0.k = Int32(k)
            $0.meanOverlap = overlaps.reduce(0, +) / Double(overlaps.count)
            $0.identicalFraction = Double(identical) / Double(overlaps.count)
        }
    }
}
