import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayKafka
import SlipwayModelBundle
import SlipwayPlatform
import SlipwayTestSupport
import SwiftProtobuf
import Synchronization
import Testing

@testable import ServingRouterCore

#if canImport(Glibc)
    import Glibc
#endif

/// The router tests' model and bundle; the broker and the executables are the kit's (`TestInfrastructure`).
enum RouterTestEnvironment {
    static let modelName = "b2b-retrieval"

    /// One small synthetic bundle, written once per test process.
    static let bundleDirectory: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serving-router-bundle-\(UUID().uuidString.prefix(8))")
        try! SyntheticBundle.make(candidates: 300, dim: 16, customers: 200, hidden: 32, modelName: modelName).write(to: directory)
        return directory
    }()

    static var logger: Logger {
        var logger = Logger(label: "serving-router-test")
        logger.logLevel = .warning
        return logger
    }
}

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A real `model-server` process over the synthetic bundle. `version` is what its answers report as
/// `model_version`, which tells the tests which revision served a request.
final class ModelServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    var address: String { "http://127.0.0.1:\(port)" }

    init(version: String) throws {
        port = freePort()
        process.executableURL = URL(fileURLWithPath: TestInfrastructure.shared.binDirectory).appendingPathComponent("model-server")
        process.arguments = [
            "--bundle", RouterTestEnvironment.bundleDirectory.path, "--name", RouterTestEnvironment.modelName,
            "--version", version, "--port", "\(port)", "--log-level", "warning",
        ]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    static func start(version: String) async throws -> ModelServerProcess {
        _ = RouterTestEnvironment.bundleDirectory
        let server = try ModelServerProcess(version: version)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: server.address + "/health"), timeout: .seconds(1)),
                response.status == .ok
            {
                return server
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        server.stop()
        throw TestFailure("model-server on \(server.port) did not become healthy")
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { stop() }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Stands in for deploy-svc's internal routes: `GET /internal/routing` (the snapshot) and
/// `POST /internal/api-keys/usage` (recorded).
final class FakeDeploySvc: Sendable {
    let document = Mutex(RoutingDocument())
    /// What the document becomes once a snapshot has been served: a change made right after the router's first snapshot.
    let documentAfterFetch = Mutex<RoutingDocument?>(nil)
    let routingStatus = Mutex(200)
    let routingFetches = Atomic<Int>(0)
    let usageStatus = Mutex(200)
    let usageReports = Mutex<[KeyUsage.Report]>([])

    struct Failure: Error, HTTPResponseError {
        let status: HTTPResponse.Status
        func response(from request: Request, context: some RequestContext) throws -> Response { Response(status: status) }
    }

    @Sendable func routing(_ request: Request, context: SlipwayRequestContext) async throws -> RawJSON {
        routingFetches.add(1, ordering: .relaxed)
        let status = routingStatus.withLock { $0 }
        guard status == 200 else { throw Failure(status: .init(code: status)) }
        let served = document.withLock { document in
            defer { if let next = documentAfterFetch.withLock({ $0.take() }) { document = next } }
            return document
        }
        return RawJSON(Array(try JSONEncoder().encode(served)))
    }

    @Sendable func usage(_ request: Request, context: SlipwayRequestContext) async throws -> HTTPResponse.Status {
        let status = usageStatus.withLock { $0 }
        guard status == 200 else { throw Failure(status: .init(code: status)) }
        // The report spells its keys out (`api_key_id`), as deploy-svc's snake_case decoding reads them.
        let body = try await request.body.collect(upTo: 1 << 20)
        let report = try JSONDecoder().decode(KeyUsage.Report.self, from: Data(buffer: body))
        usageReports.withLock { $0.append(report) }
        return .noContent
    }

    var router: Router<SlipwayRequestContext> {
        let router = Router(context: SlipwayRequestContext.self)
        router.get("/internal/routing", use: routing)
        router.post("/internal/api-keys/usage", use: usage)
        return router
    }
}

/// Test API keys: the plain key and what deploy-svc would publish about it.
struct TestKey {
    let id: String
    let secret: String
    let model: String
    var sha256: String { PublicAPI.sha256Hex(secret) }
    var bearer: String { "Bearer \(secret)" }

    init(model: String = RouterTestEnvironment.modelName) {
        id = "key-\(UUID().uuidString.prefix(8).lowercased())"
        secret = "sk_test_\(UUID().uuidString.lowercased())"
        self.model = model
    }

    func document(active: Bool = true, version: Int64 = 1) -> RoutingDocument.ApiKey {
        RoutingDocument.ApiKey(apiKeyID: id, modelName: model, keySha256: sha256, active: active, version: version)
    }
}

/// Publishes deploy events to the dev broker as the outbox relay would.
enum DeployEvents {
    static let producer: KafkaProducer = {
        try! KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: TestInfrastructure.shared.kafkaBrokers, clientId: "router-test"),
            logger: RouterTestEnvironment.logger)
    }()

    static func publish<M: SwiftProtobuf.Message>(_ event: M, aggregateType: String, id: String, version: Int64) async throws {
        var envelope = EventEnvelope()
        envelope.eventID = UUID().uuidString.lowercased()
        envelope.aggregateType = aggregateType
        envelope.aggregateID = id
        envelope.aggregateVersion = version
        envelope.sourceService = "deploy-svc"
        envelope.occurredAt = Google_Protobuf_Timestamp(date: Date())
        envelope.schemaVersion = 1
        try envelope.setPayload(event)
        _ = try await producer.send(
            KafkaOutgoingMessage(topic: EventContext.deploy.topic, key: Array(id.utf8), value: try envelope.serializedBytes()))
    }
}

/// A running router (in this process) and the kit's clients for its two ports.
struct RouterHandle: Sendable {
    let router: ServingRouter
    let deploy: FakeDeploySvc

    var base: String { "http://127.0.0.1:\(router.publicPort!)" }
    var admin: String { "http://127.0.0.1:\(router.adminPort!)" }
    var publicAPI: APITestClient { APITestClient(baseURL: base) }
    var adminAPI: APITestClient { APITestClient(baseURL: admin) }
    var table: RoutingTable { router.parts.store.current }

    func call(_ path: String, key: TestKey? = nil, authorization: String? = nil, body: String? = nil) async throws -> APIResponse {
        try await call(.post, path, key: key, authorization: authorization, body: body)
    }

    func call(_ method: HTTPRequest.Method, _ path: String, key: TestKey? = nil, authorization: String? = nil, body: String? = nil) async throws
        -> APIResponse
    {
        var headers = HTTPFields()
        if let authorization = authorization ?? key?.bearer { headers[.authorization] = authorization }
        return try await publicAPI.send(method, path, body, headers: headers)
    }

    /// A POST straight to a model-server, bypassing the router.
    static func call(_ url: String, body: String? = nil) async throws -> APIResponse {
        let components = try #require(URLComponents(string: url))
        let base = "\(components.scheme ?? "http")://\(components.host ?? "127.0.0.1"):\(components.port ?? 80)"
        return try await APITestClient(baseURL: base).post(components.path, body)
    }

    func adminGet(_ path: String) async throws -> APIResponse { try await adminAPI.get(path) }

    /// Which revision answered a `/recommend` (the model servers report their version).
    func servedVersion(customer: String, key: TestKey, endpoint: String) async throws -> String? {
        let answer = try await call("/\(endpoint)/recommend", key: key, body: #"{"customer_id": "\#(customer)", "top_k": 3}"#)
        return answer.status == 200 ? try answer.json()["model_version"] as? String : "status \(answer.status.code)"
    }

    /// Publishes probe key events until the router shows one: from then on it sees every event published.
    func waitForStream() async throws {
        let probe = "probe-\(UUID().uuidString.prefix(8).lowercased())"
        let deadline = ContinuousClock.now + .seconds(40)
        var version: Int64 = 0
        while ContinuousClock.now < deadline {
            version += 1
            var created = ApiKeyCreated()
            created.apiKeyID = probe
            created.registeredModelID = "probe-model"
            created.keySha256 = String(repeating: "0", count: 63) + "\(version % 10)"
            try await DeployEvents.publish(created, aggregateType: "ApiKey", id: probe, version: version)
            let waitUntil = ContinuousClock.now + .milliseconds(700)
            while ContinuousClock.now < waitUntil {
                if table.document.apiKeys.contains(where: { $0.apiKeyID == probe }) { return }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        throw TestFailure("the router never saw a probe event on the deploy stream")
    }

    /// Polls `condition` every 10 ms; returns the time it took to hold, or throws after `timeout` (generous: the start of
    /// the parallel suite can hold a listener back for seconds on two cores; figures are asserted on what it returns).
    @discardableResult
    static func waitUntil(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws -> Duration {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if try await condition() { return ContinuousClock.now - start }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("condition not met within \(timeout)")
    }
}

/// Runs a router on free ports against a fake deploy-svc holding `document` (and `afterFirstSnapshot` once it served
/// one), until `body` returns.
func withRouter(
    _ document: RoutingDocument, afterFirstSnapshot: RoutingDocument? = nil, kafkaBrokers: String = TestInfrastructure.shared.kafkaBrokers,
    configure: (inout ServingRouterConfig) -> Void = { _ in },
    waitForLoad: Bool = true, initialRoutingStatus: Int = 200,
    _ body: @Sendable (RouterHandle) async throws -> Void
) async throws {
    Observability.bootstrap(level: .warning)  // as the executable does: metrics reach /metrics
    let deploy = FakeDeploySvc()
    deploy.document.withLock { $0 = document }
    deploy.documentAfterFetch.withLock { $0 = afterFirstSnapshot }
    deploy.routingStatus.withLock { $0 = initialRoutingStatus }
    try await withStandInServer(deploy.router, logger: RouterTestEnvironment.logger) { deployURL in
        var config = ServingRouterConfig()
        config.port = 0
        config.adminPort = 0
        config.deploy = PeerAddresses([deployURL])
        config.kafkaBrokers = kafkaBrokers
        config.logLevel = .warning
        configure(&config)
        let router = ServingRouter(config: config, logger: RouterTestEnvironment.logger)
        try await withServices([router], logger: RouterTestEnvironment.logger) {
            let handle = RouterHandle(router: router, deploy: deploy)
            // The default wait: at the parallel run's start, 10 s was once not enough for the listeners and the first snapshot.
            try await RouterHandle.waitUntil { router.publicPort != nil && router.adminPort != nil }
            if waitForLoad { try await RouterHandle.waitUntil { handle.table.loaded } }
            try await body(handle)
        }
    }
}

/// An endpoint document with a split over model servers (revision id → (server, percent)).
func endpointDocument(
    name: String, id: String = "ep-\(UUID().uuidString.prefix(8).lowercased())", version: Int64 = 3,
    model: String = RouterTestEnvironment.modelName, routes: [(String, String, Int)]
) -> RoutingDocument.Endpoint {
    RoutingDocument.Endpoint(
        endpointID: id, name: name, modelName: model, version: version,
        routes: routes.map { revision, address, percent in
            RoutingDocument.Route(
                revisionID: revision, deploymentID: "dep-\(revision)", address: address, percent: percent,
                modelVersionID: "\(model)/\(revision)", versionNumber: 1)
        })
}

/// The serving topic's envelopes of one endpoint, read from the beginning until `count` are in or 20 s pass
/// (closing the consumer ends the sequence).
func servingEnvelopes(endpointID: String, count: Int) async throws -> [EventEnvelope] {
    let consumer = try KafkaConsumer(
        configuration: KafkaConsumerConfiguration(
            bootstrapServers: TestInfrastructure.shared.kafkaBrokers, groupId: "router-test-\(UUID().uuidString)",
            topics: [EventContext.serving.topic], autoOffsetReset: "earliest"), logger: RouterTestEnvironment.logger)
    let found = try await withThrowingTaskGroup(of: [EventEnvelope]?.self) { group in
        group.addTask {
            try? await Task.sleep(for: .seconds(20))
            await consumer.close()
            return nil
        }
        group.addTask {
            var found: [EventEnvelope] = []
            for try await batch in consumer.batches(maxCount: 500) {
                for message in batch {
                    guard let envelope = try? EventEnvelope(serializedBytes: message.value), envelope.aggregateID == endpointID else { continue }
                    #expect(message.key == Array(endpointID.utf8))
                    found.append(envelope)
                }
                if found.count >= count { break }
            }
            return found
        }
        var result: [EventEnvelope] = []
        while let next = try await group.next() {
            if let next {
                result = next
                group.cancelAll()
                break
            }
        }
        return result
    }
    await consumer.close()
    return found
}

func uniqueName(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(6).lowercased())" }
