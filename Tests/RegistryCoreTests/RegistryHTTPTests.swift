import Foundation
import RegistryCore
import SlipwayTestSupport
import Testing

/// The registry's routes through the shell's router (error middleware included), in process.
@Suite("Registry HTTP API", .serialized, .timeLimit(.minutes(2)))
struct RegistryHTTPTests {
    func withApp(_ test: @Sendable (APITestClient, RegistryHarness) async throws -> Void) async throws {
        try await withRegistry { registry in try await test(registry.api, registry) }
    }

    // MARK: Create and read

    @Test("create answers 201 with the model; trailing slashes reach the same routes")
    func create() async throws {
        try await withApp { client, _ in
            let created = try await client.send(
                .post, "/api/registered-models", #"{"name": "recs", "model_type": "retrieval", "description": "two towers"}"#, expect: .created
            ).json()
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

            try await client.send(.post, "/api/registered-models/", #"{"name": "ranker", "model_type": "ranking"}"#, expect: .created)
            try await client.send(.get, "/api/registered-models/ranker/", expect: .ok)
            let list = try await client.send(.get, "/api/registered-models/", expect: .ok).json()
            #expect((list["registered_models"] as? [Any])?.count == 2)
        }
    }

    @Test("bad input: 422 naming the field, 400 for malformed bodies, 409 for a taken name; nothing is written")
    func badCreate() async throws {
        try await withApp { client, registry in
            #expect(
                try await client.send(
                    .post, "/api/registered-models", #"{"name": "Bad Name", "model_type": "retrieval"}"#, expect: .unprocessableContent
                ).errorField == "name")
            #expect(
                try await client.send(.post, "/api/registered-models", #"{"name": "recs", "model_type": "linear"}"#, expect: .unprocessableContent)
                    .errorField == "model_type")
            #expect(try await client.send(.post, "/api/registered-models", #"{"model_type": "retrieval"}"#, expect: .badRequest).errorField == "name")
            #expect(
                try await client.send(
                    .post, "/api/registered-models", #"{"name": "check-name", "model_type": "retrieval"}"#, expect: .unprocessableContent
                ).errorField == "name")
            // Text with U+0000, which PostgreSQL cannot store: a 400, in a query naming the parameter, and nothing written.
            #expect(try await client.send(.get, "/api/registered-models?search=a%00b", expect: .badRequest).errorField == "search")
            try await client.send(
                .post, "/api/registered-models", #"{"name": "nul", "model_type": "retrieval", "description": "a\u0000b"}"#, expect: .badRequest)
            try await client.send(.get, "/api/registered-models/nul", expect: .notFound)
            #expect(try await registry.count("SELECT count(*) FROM slipway.events") == 0)

            try await client.send(.post, "/api/registered-models", #"{"name": "recs", "model_type": "retrieval"}"#, expect: .created)
            let duplicate = try await client.send(.post, "/api/registered-models", #"{"name": "recs", "model_type": "ranking"}"#, expect: .conflict)
            #expect(duplicate.errorField == "name")
            #expect(try await registry.count("SELECT count(*) FROM slipway.events") == 1)
        }
    }

    @Test("unknown models are 404s")
    func unknownModel() async throws {
        try await withApp { client, _ in
            try await client.send(.get, "/api/registered-models/nope", expect: .notFound)
            try await client.send(.get, "/api/registered-models/nope/versions", expect: .notFound)
            try await client.send(.get, "/api/registered-models/nope/versions/v1", expect: .notFound)
            try await client.send(.patch, "/api/registered-models/nope", #"{"description": "x"}"#, expect: .notFound)
            try await client.send(.put, "/api/registered-models/nope/aliases/champion", #"{"version": 1}"#, expect: .notFound)
            try await client.send(.delete, "/api/registered-models/nope/aliases/champion", expect: .notFound)
        }
    }

    @Test("the list filters and validates its parameters; the KPIs count every model")
    func list() async throws {
        try await withApp { client, registry in
            try await client.send(
                .post, "/api/registered-models", #"{"name": "recs", "model_type": "retrieval", "description": "Product recommendations"}"#,
                expect: .created)
            try await client.send(.post, "/api/registered-models", #"{"name": "ranker", "model_type": "ranking"}"#, expect: .created)
            var feed = EventFeedBuilder(service: "training")
            try await registry.apply(try feed.run("run-1", model: "recs", number: 1, blessed: true), to: registry.training)

            func names(_ query: String) async throws -> [String] {
                let list = try await client.send(.get, "/api/registered-models\(query)", expect: .ok).json()
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

            let filtered = try await client.send(.get, "/api/registered-models?model_type=ranking", expect: .ok).json()
            let kpi = try #require(filtered["kpi"] as? [String: Any])
            #expect(kpi["total"] as? Int == 2)
            #expect(kpi["registered"] as? Int == 1)
            #expect(kpi["blessed"] as? Int == 1)
            #expect(kpi["idle"] as? Int == 1)
            #expect(kpi["deployed"] as? Int == 0)
            #expect(kpi["with_schedule"] as? Int == 0)
            #expect(filtered["total_matching"] as? Int == 1)

            // A page of the matching models, newest first; the count and the KPIs still over all of them.
            func page(_ query: String) async throws -> (names: [String], matching: Int?, total: Int?) {
                let list = try await client.send(.get, "/api/registered-models\(query)", expect: .ok).json()
                let names = ((list["registered_models"] as? [[String: Any]]) ?? []).compactMap { $0["model_name"] as? String }
                return (names, list["total_matching"] as? Int, (list["kpi"] as? [String: Any])?["total"] as? Int)
            }
            let everything = try await page("").names
            #expect(try await page("?limit=1") == ([everything[0]], 2, 2))
            #expect(try await page("?limit=1&offset=1") == ([everything[1]], 2, 2))
            #expect(try await page("?offset=5") == ([], 2, 2))
            #expect(try await page("?model_type=ranking&limit=5&offset=0") == (["ranker"], 1, 2))
            #expect(try await client.send(.get, "/api/registered-models?limit=0", expect: .badRequest).errorField == "limit")
            #expect(try await client.send(.get, "/api/registered-models?offset=-1", expect: .badRequest).errorField == "offset")

            #expect(try await client.send(.get, "/api/registered-models?status=sleeping", expect: .badRequest).errorField == "status")
            #expect(try await client.send(.get, "/api/registered-models?model_type=linear", expect: .badRequest).errorField == "model_type")
            #expect(try await client.send(.get, "/api/registered-models?has_schedule=maybe", expect: .badRequest).errorField == "has_schedule")
        }
    }

    @Test("check-name tells whether a name is taken")
    func checkName() async throws {
        try await withApp { client, _ in
            try await client.send(.post, "/api/registered-models", #"{"name": "recs", "model_type": "retrieval"}"#, expect: .created)
            let taken = try await client.send(.get, "/api/registered-models/check-name?name=recs", expect: .ok).json()
            #expect(taken["exists"] as? Bool == true)
            #expect(taken["registered_model_id"] as? String == "recs")
            #expect(taken["has_schedule"] as? Bool == false)
            #expect(taken["schedule_id"] is NSNull)
            let free = try await client.send(.get, "/api/registered-models/check-name/?name=other", expect: .ok).json()
            #expect(free["exists"] as? Bool == false)
            #expect(free["valid"] as? Bool == true)
            #expect(free["registered_model_id"] is NSNull)
            let malformed = try await client.send(.get, "/api/registered-models/check-name?name=Other", expect: .ok).json()
            #expect(malformed["valid"] as? Bool == false)
            #expect(try await client.send(.get, "/api/registered-models/check-name", expect: .badRequest).errorField == "name")
        }
    }

    @Test("PATCH updates description and tags")
    func update() async throws {
        try await withApp { client, _ in
            try await client.send(.post, "/api/registered-models", #"{"name": "recs", "model_type": "retrieval"}"#, expect: .created)
            let updated = try await client.send(
                .patch, "/api/registered-models/recs", #"{"description": "better", "tags": {"team": "search"}}"#, expect: .ok
            ).json()
            #expect(updated["description"] as? String == "better")
            #expect(updated["tags"] as? [String: String] == ["team": "search"])
            try await client.send(.patch, "/api/registered-models/recs", "{}", expect: .unprocessableContent)
            #expect(
                try await client.send(.patch, "/api/registered-models/recs", #"{"description": 5}"#, expect: .badRequest).errorField == "description")
        }
    }

    // MARK: Push, versions, aliases

    @Test(
        "push registers a completed run: 404 unknown, 409 not completed, not blessed (unless forced), already registered; the run's registered version is asked by run"
    )
    func push() async throws {
        try await withApp { client, registry in
            var feed = EventFeedBuilder(service: "training")
            try await registry.apply(try feed.run("run-1", model: "recs", number: 1, blessed: false), to: registry.training)
            try await registry.apply(
                [
                    try feed.envelope(
                        TrainingEvents.created(runID: "run-2", model: "recs", runNumber: 2), aggregateType: "TrainingRun", aggregateID: "run-2")
                ], to: registry.training)

            try await client.send(.post, "/api/training-runs/nope/push", #"{"force": false}"#, expect: .notFound)
            try await client.send(.post, "/api/training-runs/run-2/push", expect: .conflict)
            let refused = try await client.send(.post, "/api/training-runs/run-1/push", #"{"force": false}"#, expect: .conflict).json()
            #expect(((refused["error"] as? [String: Any])?["message"] as? String)?.contains("not blessed") == true)
            #expect(try await registry.count("SELECT count(*) FROM model_versions") == 0)
            let unregistered = try await client.send(.get, "/api/training-runs/run-1/registered-version", expect: .notFound).json()
            #expect(((unregistered["error"] as? [String: Any])?["message"] as? String)?.contains("run-1") == true, "\(unregistered)")

            let version = try await client.send(.post, "/api/training-runs/run-1/push", #"{"force": true}"#, expect: .created).json()
            let byRun = try await client.send(.get, "/api/training-runs/run-1/registered-version", expect: .ok).json()
            #expect(byRun["model_name"] as? String == "recs" && byRun["version"] as? Int == 1, "\(byRun)")
            #expect(version["version"] as? Int == 1)
            #expect(version["version_label"] as? String == "v1")
            #expect(version["blessed"] as? Bool == false)
            #expect(version["source_run_id"] as? String == "run-1")
            #expect(version["model_name"] as? String == "recs")
            let lineage = try #require(version["lineage"] as? [String: Any])
            #expect(lineage["dataset_id"] as? String == "ds-1")
            #expect(lineage["parent_version_id"] is NSNull)

            let again = try await client.send(.post, "/api/training-runs/run-1/push", #"{"force": true}"#, expect: .conflict)
            let details = try #require((try again.json()["error"] as? [String: Any])?["details"] as? [String: Any])
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

            let list = try await client.send(.get, "/api/registered-models/recs/versions", expect: .ok).json()
            #expect((list["versions"] as? [[String: Any]])?.compactMap { $0["version"] as? Int } == [2, 1])
            #expect(try await client.send(.get, "/api/registered-models/recs/versions/v1", expect: .ok).json()["version"] as? Int == 1)
            #expect(try await client.send(.get, "/api/registered-models/recs/versions/2", expect: .ok).json()["source_run_id"] as? String == "run-2")
            #expect(try await client.send(.get, "/api/registered-models/recs/versions/latest", expect: .badRequest).errorField == "version")
            try await client.send(.get, "/api/registered-models/recs/versions/v9", expect: .notFound)

            let alias = try await client.send(.put, "/api/registered-models/recs/aliases/champion", #"{"version": 1}"#, expect: .ok).json()
            #expect(alias["version"] as? Int == 1)
            var model = try await client.send(.get, "/api/registered-models/recs", expect: .ok).json()
            #expect(model["aliases"] as? [String: Int] == ["champion": 1])
            #expect(model["status"] as? String == "idle")
            #expect((model["latest_version"] as? [String: Any])?["version"] as? Int == 2)
            #expect(try await client.send(.get, "/api/registered-models/recs/versions/1", expect: .ok).json()["aliases"] as? [String] == ["champion"])

            try await client.send(.put, "/api/registered-models/recs/aliases/champion", #"{"version": 2}"#, expect: .ok)
            model = try await client.send(.get, "/api/registered-models/recs", expect: .ok).json()
            #expect(model["aliases"] as? [String: Int] == ["champion": 2])

            #expect(
                try await client.send(.put, "/api/registered-models/recs/aliases/v2", #"{"version": 2}"#, expect: .unprocessableContent).errorField
                    == "alias")
            #expect(
                try await client.send(.put, "/api/registered-models/recs/aliases/champion", #"{"version": 9}"#, expect: .notFound).errorField
                    == "version")
            try await client.send(.put, "/api/registered-models/recs/aliases/champion", #"{"version": "two"}"#, expect: .badRequest)

            try await client.send(.delete, "/api/registered-models/recs/aliases/champion", expect: .noContent)
            try await client.send(.delete, "/api/registered-models/recs/aliases/champion", expect: .notFound)
            model = try await client.send(.get, "/api/registered-models/recs", expect: .ok).json()
            #expect((model["aliases"] as? [String: Any])?.isEmpty == true)
        }
    }
}
