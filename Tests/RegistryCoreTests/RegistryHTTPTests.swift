import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import RegistryCore
import SlipwayEventSourcing
import SlipwayPlatform
import Testing
import SlipwayTestSupport

/// The registry's routes through the shell's router (error middleware included), in process.
@Suite("Registry HTTP API", .serialized, .timeLimit(.minutes(2)))
struct RegistryHTTPTests {
    static let json: HTTPFields = [.contentType: "application/json"]

    func withApp(_ test: @Sendable (any TestClientProtocol, RegistryHarness) async throws -> Void) async throws {
        try await withRegistry { registry in
            let config = try ServiceConfig.load(service: "registry", defaultPort: 0, reader: ConfigReader(arguments: [], environment: [:]))
            let environment = ServiceEnvironment(
                config: config, store: registry.store, postgres: registry.client, httpClient: .slipwayInternal, logger: TestDatabase.logger)
            let readiness = Readiness()
            readiness.markMigrated()
            let router = SlipwayServiceRunner.buildRouter(registry.definition, environment: environment, readiness: readiness)
            try await Application(router: router).test(.router) { client in try await test(client, registry) }
        }
    }

    /// The response body as a JSON object.
    func body(_ response: TestResponse) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body))
        return try #require(object as? [String: Any], "not a JSON object: \(String(buffer: response.body))")
    }

    func errorField(_ response: TestResponse) throws -> String? {
        let error = try #require(try body(response)["error"] as? [String: Any])
        return (error["details"] as? [String: Any])?["field"] as? String
    }

    @discardableResult
    func send(
        _ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ json: String? = nil,
        expect status: HTTPResponse.Status, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> TestResponse {
        let response = try await client.executeRequest(uri: uri, method: method, headers: json == nil ? [:] : Self.json, body: json.map { ByteBuffer(string: $0) })
        #expect(response.status == status, "\(method) \(uri): \(String(buffer: response.body))", sourceLocation: sourceLocation)
        return response
    }

    // MARK: Create and read

    @Test("create answers 201 with the model; trailing slashes reach the same routes")
    func create() async throws {
        try await withApp { client, _ in
            let created = try body(try await send(client, .post, "/api/registered-models", #"{"name": "recs", "model_type": "retrieval", "description": "two towers"}"#, expect: .created))
            #expect(created["id"] as? String == "recs")
            #expect(created["model_name"] as? String == "recs")
            #expect(created["model_type"] as? String == "retrieval")
            #expect(created["description"] as? String == "two towers")
            #expect(created["status"] as? String == "pending")
            #expect(created["is_registered"] as? Bool == false)
            #expect(created["total_versions"] as? Int == 0)
            #expect(created["latest_version"] is NSNull)
            #expect(created["deployed_version"] is NSNull)
            #expect(created["is_deployed"] as? Bool == false)
            #expect(created["has_schedule"] as? Bool == false)
            #expect((created["aliases"] as? [String: Any])?.isEmpty == true)
            let createdAt = try #require(created["created_at"] as? String)
            #expect(ISO8601DateFormatter().date(from: createdAt) != nil)

            try await send(client, .post, "/api/registered-models/", #"{"name": "ranker", "model_type": "ranking"}"#, expect: .created)
            try await send(client, .get, "/api/registered-models/ranker/", expect: .ok)
            let list = try body(try await send(client, .get, "/api/registered-models/", expect: .ok))
            #expect((list["registered_models"] as? [Any])?.count == 2)
        }
    }

    @Test("bad input: 422 naming the field, 400 for malformed bodies, 409 for a taken name; nothing is written")
    func badCreate() async throws {
        try await withApp { client, registry in
            #expect(try errorField(try await send(client, .post, "/api/registered-models", #"{"name": "Bad Name", "model_type": "retrieval"}"#, expect: .unprocessableContent)) == "name")
            #expect(try errorField(try await send(client, .post, "/api/registered-models", #"{"name": "recs", "model_type": "linear"}"#, expect: .unprocessableContent)) == "model_type")
            #expect(try errorField(try await send(client, .post, "/api/registered-models", #"{"model_type": "retrieval"}"#, expect: .badRequest)) == "name")
            #expect(try errorField(try await send(client, .post, "/api/registered-models", #"{"name": "check-name", "model_type": "retrieval"}"#, expect: .unprocessableContent)) == "name")
            #expect(try await registry.count("SELECT count(*) FROM slipway.events") == 0)

            try await send(client, .post, "/api/registered-models", #"{"name": "recs", "model_type": "retrieval"}"#, expect: .created)
            let duplicate = try await send(client, .post, "/api/registered-models", #"{"name": "recs", "model_type": "ranking"}"#, expect: .conflict)
            #expect(try errorField(duplicate) == "name")
            #expect(try await registry.count("SELECT count(*) FROM slipway.events") == 1)
        }
    }

    @Test("unknown models are 404s")
    func unknownModel() async throws {
        try await withApp { client, _ in
            try await send(client, .get, "/api/registered-models/nope", expect: .notFound)
            try await send(client, .get, "/api/registered-models/nope/versions", expect: .notFound)
            try await send(client, .get, "/api/registered-models/nope/versions/v1", expect: .notFound)
            try await send(client, .patch, "/api/registered-models/nope", #"{"description": "x"}"#, expect: .notFound)
            try await send(client, .put, "/api/registered-models/nope/aliases/champion", #"{"version": 1}"#, expect: .notFound)
            try await send(client, .delete, "/api/registered-models/nope/aliases/champion", expect: .notFound)
        }
    }

    @Test("the list filters and validates its parameters; the KPIs count every model")
    func list() async throws {
        try await withApp { client, registry in
            try await send(client, .post, "/api/registered-models", #"{"name": "recs", "model_type": "retrieval", "description": "Product recommendations"}"#, expect: .created)
            try await send(client, .post, "/api/registered-models", #"{"name": "ranker", "model_type": "ranking"}"#, expect: .created)
            var feed = EventFeedBuilder(service: "training")
            try await registry.apply(try feed.run("run-1", model: "recs", number: 1, blessed: true), to: registry.training)

            func names(_ query: String) async throws -> [String] {
                let list = try body(try await send(client, .get, "/api/registered-models\(query)", expect: .ok))
                return ((list["registered_models"] as? [[String: Any]]) ?? []).compactMap { $0["model_name"] as? String }.sorted()
            }
            #expect(try await names("") == ["ranker", "recs"])
            #expect(try await names("?model_type=ranking") == ["ranker"])
            #expect(try await names("?model_type=") == ["ranker", "recs"])
            #expect(try await names("?status=idle") == ["recs"])
            #expect(try await names("?status=pending") == ["ranker"])
            #expect(try await names("?status=blessed") == ["recs"])
            #expect(try await names("?has_schedule=false") == ["ranker", "recs"])
            #expect(try await names("?has_schedule=true") == [])
            #expect(try await names("?search=PRODUCT") == ["recs"])

            let filtered = try body(try await send(client, .get, "/api/registered-models?model_type=ranking", expect: .ok))
            let kpi = try #require(filtered["kpi"] as? [String: Any])
            #expect(kpi["total"] as? Int == 2)
            #expect(kpi["registered"] as? Int == 1)
            #expect(kpi["blessed"] as? Int == 1)
            #expect(kpi["idle"] as? Int == 1)
            #expect(kpi["deployed"] as? Int == 0)
            #expect(kpi["with_schedule"] as? Int == 0)

            #expect(try errorField(try await send(client, .get, "/api/registered-models?status=sleeping", expect: .badRequest)) == "status")
            #expect(try errorField(try await send(client, .get, "/api/registered-models?model_type=linear", expect: .badRequest)) == "model_type")
            #expect(try errorField(try await send(client, .get, "/api/registered-models?has_schedule=maybe", expect: .badRequest)) == "has_schedule")
        }
    }

    @Test("check-name tells whether a name is taken")
    func checkName() async throws {
        try await withApp { client, _ in
            try await send(client, .post, "/api/registered-models", #"{"name": "recs", "model_type": "retrieval"}"#, expect: .created)
            let taken = try body(try await send(client, .get, "/api/registered-models/check-name?name=recs", expect: .ok))
            #expect(taken["exists"] as? Bool == true)
            #expect(taken["registered_model_id"] as? String == "recs")
            #expect(taken["has_schedule"] as? Bool == false)
            #expect(taken["schedule_id"] is NSNull)
            let free = try body(try await send(client, .get, "/api/registered-models/check-name/?name=other", expect: .ok))
            #expect(free["exists"] as? Bool == false)
            #expect(free["valid"] as? Bool == true)
            #expect(free["registered_model_id"] is NSNull)
            let malformed = try body(try await send(client, .get, "/api/registered-models/check-name?name=Other", expect: .ok))
            #expect(malformed["valid"] as? Bool == false)
            #expect(try errorField(try await send(client, .get, "/api/registered-models/check-name", expect: .badRequest)) == "name")
        }
    }

    @Test("PATCH updates description and tags")
    func update() async throws {
        try await withApp { client, _ in
            try await send(client, .post, "/api/registered-models", #"{"name": "recs", "model_type": "retrieval"}"#, expect: .created)
            let updated = try body(try await send(client, .patch, "/api/registered-models/recs", #"{"description": "better", "tags": {"team": "search"}}"#, expect: .ok))
            #expect(updated["description"] as? String == "better")
            #expect(updated["tags"] as? [String: String] == ["team": "search"])
            try await send(client, .patch, "/api/registered-models/recs", "{}", expect: .unprocessableContent)
            #expect(try errorField(try await send(client, .patch, "/api/registered-models/recs", #"{"description": 5}"#, expect: .badRequest)) == "description")
        }
    }

    // MARK: Push, versions, aliases

    @Test("push registers a completed run: 404 unknown, 409 not completed, not blessed (unless forced), already registered")
    func push() async throws {
        try await withApp { client, registry in
            var feed = EventFeedBuilder(service: "training")
            try await registry.apply(try feed.run("run-1", model: "recs", number: 1, blessed: false), to: registry.training)
            try await registry.apply([
                try feed.envelope(TrainingEvents.created(runID: "run-2", model: "recs", runNumber: 2), aggregateType: "TrainingRun", aggregateID: "run-2"),
            ], to: registry.training)

            try await send(client, .post, "/api/training-runs/nope/push", #"{"force": false}"#, expect: .notFound)
            try await send(client, .post, "/api/training-runs/run-2/push", expect: .conflict)
            let refused = try body(try await send(client, .post, "/api/training-runs/run-1/push", #"{"force": false}"#, expect: .conflict))
            #expect(((refused["error"] as? [String: Any])?["message"] as? String)?.contains("not blessed") == true)
            #expect(try await registry.count("SELECT count(*) FROM model_versions") == 0)

            let version = try body(try await send(client, .post, "/api/training-runs/run-1/push", #"{"force": true}"#, expect: .created))
            #expect(version["version"] as? Int == 1)
            #expect(version["version_label"] as? String == "v1")
            #expect(version["blessed"] as? Bool == false)
            #expect(version["source_run_id"] as? String == "run-1")
            #expect(version["model_name"] as? String == "recs")
            let lineage = try #require(version["lineage"] as? [String: Any])
            #expect(lineage["dataset_id"] as? String == "ds-1")
            #expect(lineage["parent_version_id"] is NSNull)

            let again = try await send(client, .post, "/api/training-runs/run-1/push", #"{"force": true}"#, expect: .conflict)
            let details = try #require((try body(again)["error"] as? [String: Any])?["details"] as? [String: Any])
            #expect(details["version"] as? String == "1")
            #expect(details["model_name"] as? String == "recs")
        }
    }

    @Test("versions newest first, by number or label; aliases set, shown, moved and deleted")
    func versionsAndAliases() async throws {
        try await withApp { client, registry in
            var feed = EventFeedBuilder(service: "training")
            try await registry.apply(try feed.run("run-1", model: "recs", number: 1, blessed: true), to: registry.training)
            try await registry.apply(try feed.run("run-2", model: "recs", number: 2, blessed: true), to: registry.training)

            let list = try body(try await send(client, .get, "/api/registered-models/recs/versions", expect: .ok))
            #expect((list["versions"] as? [[String: Any]])?.compactMap { $0["version"] as? Int } == [2, 1])
            #expect(try body(try await send(client, .get, "/api/registered-models/recs/versions/v1", expect: .ok))["version"] as? Int == 1)
            #expect(try body(try await send(client, .get, "/api/registered-models/recs/versions/2", expect: .ok))["source_run_id"] as? String == "run-2")
            #expect(try errorField(try await send(client, .get, "/api/registered-models/recs/versions/latest", expect: .badRequest)) == "version")
            try await send(client, .get, "/api/registered-models/recs/versions/v9", expect: .notFound)

            let alias = try body(try await send(client, .put, "/api/registered-models/recs/aliases/champion", #"{"version": 1}"#, expect: .ok))
            #expect(alias["version"] as? Int == 1)
            var model = try body(try await send(client, .get, "/api/registered-models/recs", expect: .ok))
            #expect(model["aliases"] as? [String: Int] == ["champion": 1])
            #expect(model["status"] as? String == "idle")
            #expect((model["latest_version"] as? [String: Any])?["version"] as? Int == 2)
            #expect(try body(try await send(client, .get, "/api/registered-models/recs/versions/1", expect: .ok))["aliases"] as? [String] == ["champion"])

            try await send(client, .put, "/api/registered-models/recs/aliases/champion", #"{"version": 2}"#, expect: .ok)
            model = try body(try await send(client, .get, "/api/registered-models/recs", expect: .ok))
            #expect(model["aliases"] as? [String: Int] == ["champion": 2])

            #expect(try errorField(try await send(client, .put, "/api/registered-models/recs/aliases/v2", #"{"version": 2}"#, expect: .unprocessableContent)) == "alias")
            #expect(try errorField(try await send(client, .put, "/api/registered-models/recs/aliases/champion", #"{"version": 9}"#, expect: .notFound)) == "version")
            try await send(client, .put, "/api/registered-models/recs/aliases/champion", #"{"version": "two"}"#, expect: .badRequest)

            try await send(client, .delete, "/api/registered-models/recs/aliases/champion", expect: .noContent)
            try await send(client, .delete, "/api/registered-models/recs/aliases/champion", expect: .notFound)
            model = try body(try await send(client, .get, "/api/registered-models/recs", expect: .ok))
            #expect((model["aliases"] as? [String: Any])?.isEmpty == true)
        }
    }
}
