import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SlipwayPlatform
import SlipwayTestSupport
import Testing
@testable import TrainingCore

/// training-svc's HTTP API and local executor against the real PostgreSQL that `scripts/test` starts,
/// with stand-in trainer scripts (the real trainer runs in the `slipway up` end-to-end test).
@Suite("training-svc", .serialized, .timeLimit(.minutes(3)))
struct TrainingServiceTests {
    static let json: HTTPFields = [.contentType: "application/json"]

    /// training-svc on a fresh database and artifact root, its executor running `trainer` (a shell
    /// script given the spec and artifact paths).
    func withService(trainer: String, _ test: @Sendable (any TestClientProtocol, URL) async throws -> Void) async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("training-svc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let script = scratch.appendingPathComponent("trainer.sh")
        try ("#!/bin/sh\n" + trainer + "\n").write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        let reader = ConfigReader(arguments: ["--artifact-root", scratch.appendingPathComponent("artifacts").path,
                                              "--trainer-command", "\(script.path) {spec} {artifacts}"], environment: [:])
        try await withTestService(TrainingService.definition(reader: reader), reader: reader) { service in
            let http = service.testClient
            try await self.createCatalog(http)
            try await test(http, scratch)
        }
    }

    func createCatalog(_ http: any TestClientProtocol) async throws {
        for (path, body) in [
            ("/api/datasets", #"{"name": "ds", "transactions": "/nowhere/transactions.csv"}"#),
            ("/api/feature-configs", #"{"name": "fc", "query": [{"name": "customer_id"}], "candidate": [{"name": "product_id"}]}"#),
            ("/api/model-configs", #"{"name": "mc", "output_dim": 16}"#),
        ] {
            let status = try await http.execute(uri: path, method: .post, headers: Self.json, body: ByteBuffer(string: body)) { $0.status }
            #expect(status == .created, "\(path)")
        }
    }

    static let runBody = #"{"name": "demo-model", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "training_params": {"epochs": 2}}"#

    func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
    }

    func post(_ http: any TestClientProtocol, _ uri: String, _ body: String, headers: HTTPFields = json) async throws -> (HTTPResponse.Status, [String: Any]) {
        try await http.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body)) { ($0.status, try self.object($0)) }
    }

    func get(_ http: any TestClientProtocol, _ uri: String) async throws -> (HTTPResponse.Status, [String: Any]) {
        try await http.execute(uri: uri, method: .get) { ($0.status, try self.object($0)) }
    }

    /// Polls the run until `condition` holds (the executor works in the background).
    func waitForRun(_ http: any TestClientProtocol, _ id: String, timeout: Duration = .seconds(20),
                    until condition: ([String: Any]) -> Bool) async throws -> [String: Any] {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let (_, run) = try await get(http, "/api/training-runs/\(id)")
            if condition(run) { return run }
            guard ContinuousClock.now < deadline else {
                Issue.record("run \(id) never reached the expected state: \(run["status"] ?? "?")")
                return run
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test("a trainer that crashes fails the run with its log tail")
    func crashingTrainer() async throws {
        try await withService(trainer: #"echo '{"event":"stage_started","stage":"compile"}'; echo "loading weights" ; echo "Segmentation fault (core dumped)" >&2; exit 139"#) { http, _ in
            let (status, created) = try await post(http, "/api/training-runs", Self.runBody)
            #expect(status == .created)
            let id = try #require((created["training_run"] as? [String: Any])?["id"] as? String)
            #expect(id == "demo-model-1")
            let run = try await waitForRun(http, id) { $0["status"] as? String == "failed" }
            #expect((run["error_message"] as? String)?.contains("exited with status 139") == true)
            #expect((run["log_tail"] as? String)?.contains("Segmentation fault") == true)
            #expect(run["failed_stage"] as? String == "compile")
            let (_, logs) = try await get(http, "/api/training-runs/\(id)/logs?lines=10")
            #expect((logs["lines"] as? [String])?.contains("loading weights") == true)
        }
    }

    @Test("cancel ends the trainer process within 2 s; rerun gets the next number")
    func cancelAndRerun() async throws {
        try await withService(trainer: #"echo '{"event":"stage_started","stage":"train"}'; echo $$ > "$SLIPWAY_ARTIFACT_DIR/pid"; exec sleep 60"#) { http, scratch in
            let (_, created) = try await post(http, "/api/training-runs", Self.runBody)
            let id = try #require((created["training_run"] as? [String: Any])?["id"] as? String)
            _ = try await waitForRun(http, id) { $0["current_stage"] as? String == "train" }
            let pidFile = scratch.appendingPathComponent("artifacts/runs/\(id)/pid")
            let pid = try #require(Int32(try String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            let started = ContinuousClock.now
            let (status, cancelled) = try await post(http, "/api/training-runs/\(id)/cancel", #"{"reason": "wrong data"}"#)
            #expect(status == .ok)
            #expect(cancelled["status"] as? String == "cancelled")
            while isAlive(pid) && ContinuousClock.now - started < .seconds(3) { try await Task.sleep(for: .milliseconds(20)) }
            #expect(!isAlive(pid))
            #expect(ContinuousClock.now - started < .seconds(2))
            // A terminal run can be rerun: same config, next run number.
            let (rerunStatus, rerun) = try await post(http, "/api/training-runs/\(id)/rerun", "{}")
            #expect(rerunStatus == .created)
            #expect((rerun["training_run"] as? [String: Any])?["id"] as? String == "demo-model-2")
            #expect((rerun["training_run"] as? [String: Any])?["rerun_of"] as? String == id)
            _ = try await post(http, "/api/training-runs/demo-model-2/cancel", "{}")
        }
    }

    @Test("an external trainer reports through the webhooks with its token")
    func externalWebhooks() async throws {
        try await withService(trainer: "exit 1") { http, _ in
            let body = #"{"name": "ext-model", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "executor": "external"}"#
            let (_, created) = try await post(http, "/api/training-runs", body)
            let webhook = try #require(created["webhook"] as? [String: Any])
            let token = try #require(webhook["token"] as? String)
            let id = "ext-model-1"
            let auth: HTTPFields = [.contentType: "application/json", .authorization: "Bearer \(token)"]
            let wrong: HTTPFields = [.contentType: "application/json", .authorization: "Bearer nope"]
            let (denied, error) = try await post(http, "/api/training-runs/\(id)/webhook/stage-complete", #"{"stage": "examples"}"#, headers: wrong)
            #expect(denied == .unauthorized)
            #expect((error["error"] as? [String: Any])?["code"] as? String == "unauthorized")

            #expect(try await post(http, "/api/training-runs/\(id)/webhook/stage-complete", #"{"stage": "examples", "duration_seconds": 1.5}"#, headers: auth).0 == .ok)
            let epoch = #"{"epoch": 1, "loss": 2.5, "val_loss": 2.7, "recall_at_100": 0.3}"#
            #expect(try await post(http, "/api/training-runs/\(id)/webhook/epoch-complete", epoch, headers: auth).0 == .ok)
            #expect(try await post(http, "/api/training-runs/\(id)/webhook/epoch-complete", epoch, headers: auth).0 == .ok)  // retried: no duplicate
            let (badStage, stageError) = try await post(http, "/api/training-runs/\(id)/webhook/stage-complete", #"{"stage": "bake"}"#, headers: auth)
            #expect(badStage == .unprocessableContent)
            #expect(((stageError["error"] as? [String: Any])?["details"] as? [String: Any])?["field"] as? String == "stage")
            let (badBundle, _) = try await post(http, "/api/training-runs/\(id)/webhook/completed",
                                                #"{"metrics": {"recall_at_100": 0.5}, "artifact_uri": "/no/such/bundle"}"#, headers: auth)
            #expect(badBundle == .unprocessableContent)
            #expect(try await post(http, "/api/training-runs/\(id)/webhook/failed", #"{"stage": "train", "error": "CUDA out of memory"}"#, headers: auth).0 == .ok)

            let (_, run) = try await get(http, "/api/training-runs/\(id)")
            #expect(run["status"] as? String == "failed")
            #expect(run["error_message"] as? String == "CUDA out of memory")
            #expect(run["epochs_completed"] as? Int == 1)
            let stages = try #require(run["stages"] as? [[String: Any]])
            #expect(stages.first { $0["name"] as? String == "examples" }?["status"] as? String == "completed")
            #expect(stages.first { $0["name"] as? String == "train" }?["status"] as? String == "failed")
            let (_, metrics) = try await get(http, "/api/training-runs/\(id)/metrics")
            #expect((metrics["epochs"] as? [Any])?.count == 1)
            // A terminal run takes no more reports.
            #expect(try await post(http, "/api/training-runs/\(id)/webhook/stage-complete", #"{"stage": "train"}"#, headers: auth).0 == .conflict)
        }
    }

    @Test("bad input: 4xx naming the field, nothing written")
    func badInput() async throws {
        try await withService(trainer: "exit 1") { http, _ in
            func expectError(_ status: HTTPResponse.Status, field: String?, _ result: (HTTPResponse.Status, [String: Any])) {
                #expect(result.0 == status)
                let error = result.1["error"] as? [String: Any]
                #expect(error?["message"] is String)
                if let field { #expect((error?["details"] as? [String: Any])?["field"] as? String == field) }
            }
            expectError(.unprocessableContent, field: "training_params.epochs", try await post(http, "/api/training-runs",
                #"{"name": "m", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "training_params": {"epochs": 0}}"#))
            expectError(.unprocessableContent, field: "dataset_id", try await post(http, "/api/training-runs",
                #"{"name": "m", "dataset_id": "nope", "feature_config_id": "fc", "model_config_id": "mc"}"#))
            expectError(.unprocessableContent, field: "name", try await post(http, "/api/training-runs",
                #"{"name": "Not A Name", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc"}"#))
            expectError(.badRequest, field: "training_params.epochs", try await post(http, "/api/training-runs",
                #"{"name": "m", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "training_params": {"epochs": "many"}}"#))
            expectError(.badRequest, field: nil, try await post(http, "/api/training-runs", "{not json"))
            expectError(.unprocessableContent, field: "split.strategy", try await post(http, "/api/datasets",
                #"{"name": "ds2", "transactions": "/x.csv", "split": {"strategy": "kfold"}}"#))
            expectError(.unprocessableContent, field: "candidate", try await post(http, "/api/feature-configs",
                #"{"name": "fc2", "query": [{"name": "customer_id"}], "candidate": [{"name": "category"}]}"#))
            expectError(.unprocessableContent, field: "query[0].type", try await post(http, "/api/feature-configs",
                #"{"name": "fc3", "query": [{"name": "customer_id", "type": "blob"}], "candidate": [{"name": "product_id"}]}"#))
            expectError(.conflict, field: "name", try await post(http, "/api/datasets", #"{"name": "ds", "transactions": "/x.csv"}"#))
            expectError(.notFound, field: nil, try await get(http, "/api/training-runs/no-such-run-1"))
            expectError(.notFound, field: nil, try await get(http, "/api/datasets/no-such-dataset"))
            expectError(.badRequest, field: "status", try await get(http, "/api/training-runs?status=happy"))
            for path in ["submit", "cancel", "rerun"] {
                expectError(.notFound, field: nil, try await post(http, "/api/training-runs/no-such-run-1/\(path)", "{}"))
            }
            for path in ["metrics", "logs", "statistics", "schema", "config"] {
                expectError(.notFound, field: nil, try await get(http, "/api/training-runs/no-such-run-1/\(path)"))
            }
            // A run that exists but is not in a state for the verb, or asked for a silly page.
            let (_, pending) = try await post(http, "/api/training-runs",
                #"{"name": "p", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "submit": false}"#)
            #expect((pending["training_run"] as? [String: Any])?["status"] as? String == "pending")
            expectError(.conflict, field: nil, try await post(http, "/api/training-runs/p-1/rerun", "{}"))
            expectError(.badRequest, field: "lines", try await get(http, "/api/training-runs/p-1/logs?lines=0"))
            expectError(.notFound, field: nil, try await get(http, "/api/training-runs/p-1/statistics"))
            expectError(.unauthorized, field: nil, try await post(http, "/api/training-runs/p-1/webhook/failed", #"{"error": "x"}"#))
            _ = try await post(http, "/api/training-runs/p-1/cancel", "{}")
            expectError(.conflict, field: nil, try await post(http, "/api/training-runs/p-1/submit", "{}"))
            // Nothing was written by the rejected requests (the one pending run above was created on purpose).
            let (_, list) = try await get(http, "/api/training-runs")
            #expect((list["training_runs"] as? [[String: Any]])?.map { $0["id"] as? String } == ["p-1"])
            let (_, datasets) = try await get(http, "/api/datasets")
            #expect((datasets["datasets"] as? [Any])?.count == 1)
        }
    }

    @Test("config edits: GET and PATCH, refused while the run is active")
    func editConfig() async throws {
        try await withService(trainer: "exit 1") { http, _ in
            let body = #"{"name": "m", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "submit": false}"#
            let (_, created) = try await post(http, "/api/training-runs", body)
            #expect((created["training_run"] as? [String: Any])?["status"] as? String == "pending")
            let (status, edited) = try await http.execute(uri: "/api/training-runs/m-1/config", method: .patch, headers: Self.json,
                                                          body: ByteBuffer(string: #"{"training_params": {"epochs": 5}, "gpu_config": {"gpu_count": 0}}"#)) {
                ($0.status, try self.object($0))
            }
            #expect(status == .ok)
            #expect(edited["updated_fields"] as? [String] == ["training_params", "gpu_config"])
            let (_, config) = try await get(http, "/api/training-runs/m-1/config")
            #expect(((config["config"] as? [String: Any])?["training_params"] as? [String: Any])?["epochs"] as? Int == 5)
            let (badStatus, _) = try await http.execute(uri: "/api/training-runs/m-1/config", method: .patch, headers: Self.json,
                                                        body: ByteBuffer(string: #"{"model_config_id": "missing"}"#)) { ($0.status, 0) }
            #expect(badStatus == .unprocessableContent)
        }
    }

    func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        // A zombie has exited; only its parent's reaping is left.
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !stat.contains(") Z ")
    }
}
