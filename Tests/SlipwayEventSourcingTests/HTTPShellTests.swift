import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayTestSupport
import Testing

/// The common service shell's HTTP behaviour, with the counter aggregate mounted as a domain.
@Suite("Service shell HTTP", .serialized, .timeLimit(.minutes(2)))
struct HTTPShellTests {
    let environment = TestEnvironment.shared

    struct CreateCounter: Decodable {
        let id: String
        let name: String
    }

    struct Increment: Decodable {
        let by: Int64
    }

    struct Version: ResponseEncodable {
        let version: Int64
    }

    static func definition() -> ServiceDefinition {
        ServiceDefinition(name: "counters", topic: "test.counters.events", defaultPort: 0, readModel: CounterTotals()) { environment in
            let routes = RouteCollection(context: SlipwayRequestContext.self)
            routes.post("/api/counters") { request, context in
                let body = try await request.decode(as: CreateCounter.self, context: context)
                let outcome = try await environment.execute(
                    Counter.self, aggregateID: body.id, command: .create(name: body.name), metadata: try request.commandMetadata())
                return EditedResponse(status: .created, response: Version(version: outcome.version))
            }
            routes.post("/api/counters/:id/increments") { request, context in
                let id = try context.parameters.require("id")
                let body = try await request.decode(as: Increment.self, context: context)
                let outcome = try await environment.execute(
                    Counter.self, aggregateID: id, command: .increment(by: body.by), metadata: try request.commandMetadata())
                return Version(version: outcome.version)
            }
            return ServiceComponents(routes: [routes])
        }
    }

    func withApp(_ test: @Sendable (any TestClientProtocol, PostgresClient) async throws -> Void) async throws {
        let url = try await environment.freshDatabase("shell")
        try await withPostgres(url) { client in
            let definition = Self.definition()
            try await migrateCounterStore(client)
            let config = try ServiceConfig.load(service: "counters", defaultPort: 0, reader: ConfigReader(arguments: [], environment: [:]))
            let environment = ServiceEnvironment(
                config: config,
                store: EventStore(service: "counters", client: client, logger: TestEnvironment.logger, readModel: definition.readModel),
                postgres: client, httpClient: .slipwayInternal, logger: TestEnvironment.logger)
            let readiness = Readiness()
            readiness.markMigrated()
            let router = SlipwayServiceRunner.buildRouter(
                definition, try definition.build(environment), environment: environment, readiness: readiness)
            let app = Application(router: router)
            try await app.test(.live) { http in try await test(http, client) }
        }
    }

    struct ErrorBody: Decodable {
        struct Inner: Decodable {
            let code: String
            let message: String
            let details: [String: String]
        }
        let error: Inner
    }

    func error(_ response: TestResponse) throws -> ErrorBody.Inner {
        #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
        return try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: response.body)).error
    }

    static let json: HTTPFields = [.contentType: "application/json"]

    @Test("unknown routes answer 404 in the error shape")
    func unknownRoute() async throws {
        try await withApp { http, _ in
            try await http.execute(uri: "/api/nothing-here", method: .get) { response throws in
                #expect(response.status == .notFound)
                #expect(try error(response).code == "not_found")
            }
        }
    }

    @Test("malformed JSON, a missing field and a mistyped field are 400s that name the problem")
    func malformedJSON() async throws {
        try await withApp { http, client in
            try await http.execute(uri: "/api/counters", method: .post, headers: Self.json, body: ByteBuffer(string: "{not json")) {
                response throws in
                #expect(response.status == .badRequest)
                #expect(try error(response).message.contains("not valid JSON"))
            }
            try await http.execute(uri: "/api/counters", method: .post, headers: Self.json, body: ByteBuffer(string: #"{"id": "a"}"#)) {
                response throws in
                #expect(response.status == .badRequest)
                let body = try error(response)
                #expect(body.details["field"] == "name")
                #expect(body.message.contains("name"))
            }
            try await http.execute(uri: "/api/counters", method: .post, headers: Self.json, body: ByteBuffer(string: #"{"id": "a", "name": 5}"#)) {
                response throws in
                #expect(response.status == .badRequest)
                #expect(try error(response).details["field"] == "name")
            }
            try await http.execute(uri: "/api/counters", method: .post, headers: Self.json, body: ByteBuffer(string: #"{"id": "a", "name": ""}"#)) {
                response throws in
                #expect(response.status == .unprocessableContent)
                #expect(try error(response).details["field"] == "name")
            }
            // Nothing was written by any of them.
            #expect(try await scalar(client, "SELECT count(*) FROM slipway.events") == 0)
        }
    }

    @Test("a stale If-Match version is a 409 with the current version")
    func staleVersion() async throws {
        try await withApp { http, client in
            try await http.execute(uri: "/api/counters", method: .post, headers: Self.json, body: ByteBuffer(string: #"{"id": "a", "name": "a"}"#)) {
                response throws in
                #expect(response.status == .created)
            }
            var headers = Self.json
            headers[.ifMatch] = "1"
            try await http.execute(uri: "/api/counters/a/increments", method: .post, headers: headers, body: ByteBuffer(string: #"{"by": 2}"#)) {
                response throws in
                #expect(response.status == .ok)
            }
            try await http.execute(uri: "/api/counters/a/increments", method: .post, headers: headers, body: ByteBuffer(string: #"{"by": 2}"#)) {
                response throws in
                #expect(response.status == .conflict)
                let body = try error(response)
                #expect(body.code == "conflict")
                #expect(body.details["current_version"] == "2")
            }
            headers[.ifMatch] = "yesterday"
            try await http.execute(uri: "/api/counters/a/increments", method: .post, headers: headers, body: ByteBuffer(string: #"{"by": 2}"#)) {
                response throws in
                #expect(response.status == .badRequest)
                #expect(try error(response).details["field"] == "If-Match")
            }
            #expect(try await counterRows(client, logger: TestEnvironment.logger).first?.total == 2)
        }
    }

    @Test("the event feed serves protobuf batches by position and rejects bad parameters")
    func eventFeed() async throws {
        try await withApp { http, client in
            for id in ["a", "b", "c"] {
                try await http.execute(
                    uri: "/api/counters", method: .post, headers: Self.json, body: ByteBuffer(string: #"{"id": "\#(id)", "name": "\#(id)"}"#)
                ) { _ in }
            }
            try await client.query("UPDATE slipway.events SET source_position = sequence", logger: TestEnvironment.logger)
            try await http.execute(uri: "/internal/events?after=1&limit=10", method: .get) { response throws in
                #expect(response.status == .ok)
                let batch = try EventEnvelopeBatch(serializedBytes: Array(response.body.readableBytesView))
                #expect(batch.events.map(\.sourcePosition) == [2, 3])
                #expect(batch.events.first?.sourceService == "counters")
                #expect(batch.lastPosition == 3)
            }
            try await http.execute(uri: "/internal/events?aggregate_id=b&format=json", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("test.CounterCreated"))
            }
            try await http.execute(uri: "/internal/events?after=abc", method: .get) { response throws in
                #expect(response.status == .badRequest)
                #expect(try error(response).details["field"] == "after")
            }
            try await http.execute(uri: "/internal/events?limit=0", method: .get) { response throws in
                #expect(response.status == .badRequest)
                #expect(try error(response).details["field"] == "limit")
            }
            // The HTTP feed client reads what the route serves.
            let port = try #require(http.port)
            let page = try await HTTPEventFeed(baseURL: "http://127.0.0.1:\(port)").events(after: 0, limit: 2)
            #expect(page.map(\.aggregateID) == ["a", "b"])
        }
    }

    @Test("replay through the internal API verifies the live read model")
    func replayRoute() async throws {
        try await withApp { http, _ in
            try await http.execute(uri: "/api/counters", method: .post, headers: Self.json, body: ByteBuffer(string: #"{"id": "a", "name": "a"}"#)) {
                _ in
            }
            try await http.execute(uri: "/internal/replay?verify=true", method: .post) { response throws in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""verified":true"#))
            }
            try await http.execute(uri: "/internal/replay?projection=nope", method: .post) { response throws in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("health, readiness and metrics endpoints answer")
    func healthAndMetrics() async throws {
        try await withApp { http, _ in
            try await http.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await http.execute(uri: "/readyz", method: .get) { response throws in
                let text = String(buffer: response.body)
                #expect(text.contains(#""postgres":"ok""#))
                #expect(text.contains(#""migrations":"ok""#))
            }
            try await http.execute(uri: "/metrics", method: .get) { #expect($0.status == .ok) }
        }
    }
}
