import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayTestSupport
import Testing

@testable import MetricsCore

/// Every feedback path of the spec through metrics-svc's API on a real database, quality alerts on it, and
/// the read model rebuilt from the events alone.
struct FeedbackIntegrationTests {
    static let t0 = ServingRollupIntegrationTests.now

    /// deploy-svc's endpoint `shop` (ep-shop) and training-svc's dataset `demo` (ds-demo), as their projectors apply them.
    static func announce(_ service: TestService) async throws {
        var endpoint = EndpointCreated()
        endpoint.endpointID = "ep-shop"
        endpoint.name = "shop"
        var deploy = EnvelopeBuilder(service: "deploy")
        try await service.project([try deploy.envelope(endpoint, aggregateType: "Endpoint", aggregateID: "ep-shop")], into: "served_endpoints")
        var dataset = DatasetRegistered()
        dataset.datasetID = "ds-demo"
        dataset.name = "demo"
        var training = EnvelopeBuilder(service: "training")
        try await service.project([try training.envelope(dataset, aggregateType: "Dataset", aggregateID: "ds-demo")], into: "training_datasets")
    }

    @Test func recordListFilterPageFlagStatsSendToTrainingAndDelete() async throws {
        try await withTestService(MetricsService.definition(now: { Self.t0 }), runWorkers: false) { service in
            try await Self.announce(service)
            let api = service.api
            let liked = try await api.post(
                "/api/v1/feedback",
                #"{"endpoint_id": "shop", "rating": "positive", "customer_id": "C1", "product_id": "P9", "request_id": "req-1", "feedback_text": "spot on"}"#,
                expect: .created
            ).json()
            let likedID = try #require(liked["id"] as? String)
            #expect(liked["endpoint_id"] as? String == "ep-shop" && liked["flagged"] as? Bool == false)
            // The customer comes from the prediction request pasted as input_text when not given.
            let pasted = try await api.post(
                "/api/v1/feedback",
                #"{"endpoint_id": "ep-shop", "rating": "negative", "input_text": "{\"customer_id\": \"C7\", \"top_k\": 5}", "product_id": "P2"}"#,
                expect: .created
            ).json()
            #expect(pasted["customer_id"] as? String == "C7")
            let pastedID = try #require(pasted["id"] as? String)
            for _ in 0..<3 { try await api.post("/api/v1/feedback", #"{"endpoint_id": "shop", "rating": "positive"}"#, expect: .created) }

            let page = try await api.get("/api/v1/feedback?endpoint_id=shop&page=2&page_size=2", expect: .ok).json()
            #expect(page["total"] as? Int == 5 && page["total_pages"] as? Int == 3 && (page["items"] as? [Any])?.count == 2)
            let negative = try await api.get("/api/v1/feedback?rating=negative", expect: .ok).json()
            #expect((negative["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [pastedID])

            let flagged = try await api.post("/api/v1/feedback/\(pastedID)/flag", expect: .ok).json()
            #expect(flagged["flagged"] as? Bool == true)
            let onlyFlagged = try await api.get("/api/v1/feedback?flagged_only=true", expect: .ok).json()
            #expect(onlyFlagged["total"] as? Int == 1)
            #expect(try await api.delete("/api/v1/feedback/\(pastedID)/flag", expect: .ok).json()["flagged"] as? Bool == false)

            let stats = try await api.get("/api/v1/feedback/stats?endpoint_id=shop&days=7", expect: .ok).json()
            #expect(stats["total"] as? Int == 5 && stats["positive"] as? Int == 4 && stats["negative"] as? Int == 1)
            #expect(stats["positive_rate"] as? Double == 80 && stats["with_comments"] as? Int == 1)
            #expect((stats["daily"] as? [[String: Any]])?.first?["total"] as? Int == 5)

            let row = try await api.post("/api/v1/feedback/\(likedID)/to-training?dataset_id=demo", expect: .created).json()
            #expect(row["dataset_id"] as? String == "ds-demo" && row["customer_id"] as? String == "C1" && row["product_id"] as? String == "P9")
            try await api.post("/api/v1/feedback/\(likedID)/to-training?assembly_id=ds-demo").expectError(.conflict)
            let shown = try await api.get("/api/v1/feedback/\(likedID)", expect: .ok).json()
            #expect(shown["training_datasets"] as? [String] == ["ds-demo"])
            let recent = try await api.get("/api/v1/feedback/endpoint/shop/recent?limit=2", expect: .ok).json()
            #expect((recent["items"] as? [Any])?.count == 2)
            #expect(try await api.get("/api/v1/feedback/stats", expect: .ok).json()["sent_to_training"] as? Int == 1)

            try await api.delete("/api/v1/feedback/\(likedID)", expect: .noContent)
            try await api.get("/api/v1/feedback/\(likedID)").expectError(.notFound)
            try await api.delete("/api/v1/feedback/\(likedID)").expectError(.notFound)
            #expect(try await service.scalar("SELECT count(*) FROM feedback_items") == 4)
            #expect(try await service.scalar("SELECT count(*) FROM feedback_training") == 0)

            // The read model derives from the events alone.
            let report = try await Replayer.replay(MetricsReadModel(), from: service.store, verify: true, logger: TestInfrastructure.logger)
            #expect(report.verified == true, "\(report)")
        }
    }

    @Test func badFeedbackIsRefusedNamingTheFieldAndNothingIsWritten() async throws {
        try await withTestService(MetricsService.definition(now: { Self.t0 }), runWorkers: false) { service in
            try await Self.announce(service)
            let api = service.api
            for (body, status, field) in [
                (#"{"rating": "positive"}"#, 400, "endpoint_id"),
                (#"{"endpoint_id": "shop"}"#, 400, "rating"),
                (#"{"endpoint_id": "shop", "rating": "meh"}"#, 422, "rating"),
                (#"{"endpoint_id": "shop", "rating": 5}"#, 400, "rating"),
                (#"{"endpoint_id": "nowhere", "rating": "positive"}"#, 404, nil),
                (
                    #"{"endpoint_id": "shop", "rating": "positive", "feedback_text": "\#(String(repeating: "x", count: 20_000))"}"#, 422,
                    "feedback_text"
                ),
            ] {
                let answer = try await api.post("/api/v1/feedback", body)
                #expect(answer.status.code == status, "\(body.prefix(80)): \(answer.text)")
                if let field { #expect(answer.errorField == field, "\(body.prefix(80)): \(answer.text)") }
            }
            for (path, field) in [
                ("/api/v1/feedback?page_size=500", "page_size"), ("/api/v1/feedback?page=0", "page"), ("/api/v1/feedback?rating=great", "rating"),
                ("/api/v1/feedback?flagged_only=maybe", "flagged_only"), ("/api/v1/feedback/stats?days=0", "days"),
                ("/api/v1/feedback/stats?days=400", "days"), ("/api/v1/feedback/endpoint/shop/recent?limit=0", "limit"),
            ] {
                try await api.get(path).expectError(.badRequest, field: field)
            }
            try await api.get("/api/v1/feedback/endpoint/nowhere/recent").expectError(.notFound)
            try await api.get("/api/v1/feedback/fb-nope").expectError(.notFound)
            try await api.post("/api/v1/feedback/fb-nope/flag").expectError(.notFound)

            let negative =
                try await api.post("/api/v1/feedback", #"{"endpoint_id": "shop", "rating": "negative", "customer_id": "C1"}"#, expect: .created)
                .json()["id"] as? String ?? ""
            let anonymous =
                try await api.post("/api/v1/feedback", #"{"endpoint_id": "shop", "rating": "positive"}"#, expect: .created)
                .json()["id"] as? String ?? ""
            try await api.post("/api/v1/feedback/\(anonymous)/to-training").expectError(.badRequest, field: "dataset_id")
            try await api.post("/api/v1/feedback/\(anonymous)/to-training?dataset_id=demo&assembly_id=other").expectError(
                .badRequest, field: "assembly_id")
            try await api.post("/api/v1/feedback/\(anonymous)/to-training?dataset_id=nowhere").expectError(.notFound)
            try await api.post("/api/v1/feedback/\(anonymous)/to-training?dataset_id=demo").expectError(.unprocessableContent, field: "customer_id")
            try await api.post("/api/v1/feedback/\(negative)/to-training?dataset_id=demo").expectError(.unprocessableContent, field: "rating")
            #expect(try await service.scalar("SELECT count(*) FROM feedback_items") == 2)
            #expect(try await service.scalar("SELECT count(*) FROM feedback_training") == 0)
        }
    }

    @Test func aQualityAlertFiresOnAFallingPositiveRateOnlyWithEnoughFeedback() async throws {
        try await withTestService(MetricsService.definition(now: { Self.t0 }), runWorkers: false) { service in
            try await Self.announce(service)
            let api = service.api
            let rule = try await api.post(
                "/api/v1/monitoring/alerts",
                #"{"endpoint_id": "shop", "alert_type": "quality", "threshold": 0.5, "for_seconds": 0, "min_samples": 10}"#,
                expect: .created
            ).json()
            let id = try #require(rule["id"] as? String)
            #expect(rule["metric"] as? String == "feedback_positive_rate" && rule["condition"] as? String == "lt")
            #expect(rule["window_seconds"] as? Int == 86_400)
            let evaluator = AlertEvaluator(environment: service.environment, now: { Self.t0 })
            func status() async throws -> String? { try await api.get("/api/v1/monitoring/alerts/\(id)", expect: .ok).json()["status"] as? String }
            for rating in ["negative", "negative", "positive"] {
                try await api.post("/api/v1/feedback", #"{"endpoint_id": "shop", "rating": "\#(rating)"}"#, expect: .created)
            }
            try await evaluator.evaluateAll(at: Self.t0.addingTimeInterval(1))
            #expect(try await status() == "ok", "three items are fewer than min_samples")
            for _ in 0..<7 { try await api.post("/api/v1/feedback", #"{"endpoint_id": "shop", "rating": "negative"}"#, expect: .created) }
            try await evaluator.evaluateAll(at: Self.t0.addingTimeInterval(1))
            let active = try await api.get("/api/v1/monitoring/alerts/\(id)", expect: .ok).json()
            #expect(active["status"] as? String == "active", "\(active)")
            let current = try #require(active["current"] as? [String: Any])
            #expect(current["observed_value"] as? Double == 0.1 && current["samples"] as? Int == 10)
        }
    }

    /// testing-svc's failed scheduled check reaches metrics-svc: a quality alert on `endpoint_test_pass_rate` fires on it,
    /// and health shows the test; a rollout gate's test of a revision that serves nothing is left out.
    @Test func aFailedEndpointTestFiresAQualityAlertAndShowsInHealth() async throws {
        try await withTestService(MetricsService.definition(now: { Self.t0 }), runWorkers: false) { service in
            try await Self.announce(service)
            let api = service.api
            let rule = try await api.post(
                "/api/v1/monitoring/alerts",
                #"{"endpoint_id": "shop", "alert_type": "quality", "metric": "endpoint_test_pass_rate", "threshold": 1, "for_seconds": 0}"#,
                expect: .created
            ).json()
            let id = try #require(rule["id"] as? String)
            #expect(rule["condition"] as? String == "lt" && rule["window_seconds"] as? Int == 3_600 && rule["min_samples"] as? Int == 1, "\(rule)")
            var testing = EnvelopeBuilder(service: "testing")
            testing.clock = Self.t0.addingTimeInterval(-600)
            func test(_ id: String, trigger: TestTrigger, passed: Bool, step: Int32 = -1) throws -> [EventEnvelope] {
                var started = EndpointTestStarted()
                started.testID = id
                started.endpointID = "ep-shop"
                started.endpointName = "shop"
                started.modelVersionID = "recs-v1"
                started.trigger = trigger
                started.rolloutStepIndex = step
                var completed = EndpointTestCompleted()
                completed.testID = id
                completed.endpointID = "ep-shop"
                completed.passed = passed
                if !passed { completed.validationIssues = ["sample 3 [ids_in_training_catalog]: P-NOT-SOLD is not in the catalog"] }
                return [
                    try testing.envelope(started, aggregateType: "EndpointTest", aggregateID: id),
                    try testing.envelope(completed, aggregateType: "EndpointTest", aggregateID: id),
                ]
            }
            let evaluator = AlertEvaluator(environment: service.environment, now: { Self.t0 })
            func status() async throws -> String? { try await api.get("/api/v1/monitoring/alerts/\(id)", expect: .ok).json()["status"] as? String }

            try await service.project(try test("check-1", trigger: .scheduled, passed: true), into: "endpoint_test_outcomes")
            try await service.project(try test("rollout-d2-0", trigger: .deployment, passed: false, step: 0), into: "endpoint_test_outcomes")
            try await evaluator.evaluateAll(at: Self.t0)
            #expect(try await status() == "ok", "a passed check, and a rollout gate's failure that is not the endpoint's")
            var health = try await api.get("/api/v1/monitoring/health/shop", expect: .ok).json()
            #expect((health["last_endpoint_test"] as? [String: Any])?["test_id"] as? String == "check-1", "\(health)")

            try await service.project(try test("check-2", trigger: .scheduled, passed: false), into: "endpoint_test_outcomes")
            try await evaluator.evaluateAll(at: Self.t0)
            let active = try await api.get("/api/v1/monitoring/alerts/\(id)", expect: .ok).json()
            #expect(active["status"] as? String == "active", "\(active)")
            #expect((active["current"] as? [String: Any])?["observed_value"] as? Double == 0.5)
            health = try await api.get("/api/v1/monitoring/health/shop", expect: .ok).json()
            let last = try #require(health["last_endpoint_test"] as? [String: Any])
            #expect(last["test_id"] as? String == "check-2" && last["passed"] as? Bool == false && last["triggered_by"] as? String == "scheduled")
            #expect((last["summary"] as? String)?.contains("ids_in_training_catalog") == true)
            let part = (health["parts"] as? [[String: Any]])?.first { $0["name"] as? String == "endpoint_test" }
            #expect(part?["penalty"] as? Double == 20, "\(health)")
        }
    }
}
