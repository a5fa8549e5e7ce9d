import Foundation
import HTTPTypes
import SlipwayContracts
import SlipwayPlatform
import SlipwayTestSupport
import Testing

@testable import TrainingCore

/// training-svc's HTTP API and local executor against the real PostgreSQL that `scripts/test` starts,
/// with stand-in trainer scripts (the real trainer runs in the `slipway up` end-to-end test).
@Suite("training-svc", .serialized, .timeLimit(.minutes(3)))
struct TrainingServiceTests {
    @Test("a trainer that crashes fails the run with its log tail")
    func crashingTrainer() async throws {
        let trainer =
            #"echo '{"event":"stage_started","stage":"compile"}'; echo "loading weights" ; echo "Segmentation fault (core dumped)" >&2; exit 139"#
        try await withTraining(trainer: trainer) { training in
            let id = try await training.createRun()
            #expect(id == "demo-model-1")
            try await training.waitForRun(id, "failed") { $0["status"] as? String == "failed" }
            let run = try await training.run(id)
            #expect((run["error_message"] as? String)?.contains("exited with status 139") == true)
            #expect((run["log_tail"] as? String)?.contains("Segmentation fault") == true)
            #expect(run["failed_stage"] as? String == "compile")
            let logs = try await training.api.get("/api/training-runs/\(id)/logs?lines=10", expect: .ok).json()
            #expect((logs["lines"] as? [String])?.contains("loading weights") == true)
        }
    }

    /// Cancel signals the trainer's process group and answers once it is gone: SIGTERM, and SIGKILL after
    /// the grace (1.2 s) for a trainer that ignores SIGTERM. What is timed is the process ending soon
    /// after the answer — well before its own end (60 s) — not the request, which a loaded machine slows.
    @Test("cancel ends the trainer process (SIGKILL when it ignores SIGTERM); rerun gets the next number", arguments: [false, true])
    func cancelAndRerun(ignoresTerm: Bool) async throws {
        let trap = ignoresTerm ? "trap '' TERM; " : ""
        let trainer = trap + #"echo '{"event":"stage_started","stage":"train"}'; echo $$ > "$SLIPWAY_ARTIFACT_DIR/pid"; exec sleep 60"#
        try await withTraining(trainer: trainer) { training in
            let id = try await training.createRun()
            try await training.waitForRun(id, "in train") { $0["current_stage"] as? String == "train" }
            let pidFile = training.scratch.appendingPathComponent("artifacts/runs/\(id)/pid")
            let pid = try #require(Int32(try String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(isAlive(pid))
            let started = ContinuousClock.now
            let cancelled = try await training.api.post("/api/training-runs/\(id)/cancel", #"{"reason": "wrong data"}"#, expect: .ok).json()
            #expect(cancelled["status"] as? String == "cancelled")
            #expect(cancelled["error_message"] as? String == "cancelled: wrong data")
            try await eventually(timeout: .seconds(2), "the trainer ends after the cancel's answer") { !isAlive(pid) }
            #expect(ContinuousClock.now - started < .seconds(30), "the cancel, not the trainer's own end, stopped it")
            // The trainer's exit does not turn the cancelled run into a failed one.
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await training.run(id)["status"] as? String == "cancelled")
            // A terminal run can be rerun: same config, next run number.
            let rerun = try await training.api.post("/api/training-runs/\(id)/rerun", "{}", expect: .created).json()
            let run = try #require(rerun["training_run"] as? [String: Any])
            #expect(run["id"] as? String == "demo-model-2")
            #expect(run["rerun_of"] as? String == id)
            #expect(run["description"] as? String == "Re-run of demo-model #1")
            #expect(rerun["message"] as? String == "Re-run created as demo-model #2")
            try await training.api.post("/api/training-runs/demo-model-2/cancel", expect: .ok)
        }
    }

    @Test("an external trainer reports through the webhooks with its token")
    func externalWebhooks() async throws {
        try await withTraining { training in
            let api = training.api
            let body = #"{"name": "ext-model", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "executor": "external"}"#
            let created = try await api.post("/api/training-runs", body, expect: .created).json()
            let webhook = try #require(created["webhook"] as? [String: Any])
            #expect(webhook["url"] as? String == "/api/training-runs/ext-model-1/webhook/")
            #expect(webhook["kinds"] as? [String] == ["stage-complete", "epoch-complete", "completed", "failed"])
            let token = try #require(webhook["token"] as? String)
            let id = "ext-model-1"
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]
            let hook = "/api/training-runs/\(id)/webhook"
            try await api.post("\(hook)/stage-complete", #"{"stage": "examples"}"#, headers: [.authorization: "Bearer nope"]).expectError(
                .unauthorized)
            #expect(
                try await api.post("\(hook)/stage-complete", #"{"stage": "examples"}"#, headers: [.authorization: "Bearer nope"]).errorCode
                    == "unauthorized")

            let accepted = try await api.post(
                "\(hook)/stage-complete", #"{"stage": "examples", "duration_seconds": 1.5}"#, headers: auth, expect: .ok
            ).json()
            #expect(accepted["accepted"] as? Bool == true && accepted["status"] as? String == "running" && accepted["run_id"] as? String == id)
            let epoch = #"{"epoch": 1, "loss": 2.5, "val_loss": 2.7, "recall_at_100": 0.3}"#
            try await api.post("\(hook)/epoch-complete", epoch, headers: auth, expect: .ok)
            try await api.post("\(hook)/epoch-complete", epoch, headers: auth, expect: .ok)  // retried: no duplicate
            try await api.post("\(hook)/stage-complete", #"{"stage": "bake"}"#, headers: auth).expectError(.unprocessableContent, field: "stage")
            try await api.post("\(hook)/epoch-complete", #"{"epoch": 0, "loss": 1}"#, headers: auth).expectError(
                .unprocessableContent, field: "epoch")
            try await api.post("\(hook)/completed", #"{"metrics": {"recall_at_100": 0.5}, "artifact_uri": "/no/such/bundle"}"#, headers: auth)
                .expectError(.unprocessableContent, field: "artifact_uri")
            try await api.post("\(hook)/failed", #"{"stage": "train", "error": "CUDA out of memory"}"#, headers: auth, expect: .ok)

            let run = try await training.run(id)
            #expect(run["status"] as? String == "failed")
            #expect(run["error_message"] as? String == "CUDA out of memory")
            #expect(run["epochs_completed"] as? Int == 1)
            let stages = try #require(run["stages"] as? [[String: Any]])
            #expect(stages.first { $0["name"] as? String == "examples" }?["status"] as? String == "completed")
            #expect(stages.first { $0["name"] as? String == "train" }?["status"] as? String == "failed")
            let metrics = try await api.get("/api/training-runs/\(id)/metrics", expect: .ok).json()
            #expect((metrics["epochs"] as? [Any])?.count == 1)
            // A terminal run takes no more reports.
            try await api.post("\(hook)/stage-complete", #"{"stage": "train"}"#, headers: auth).expectError(.conflict)
        }
    }

    @Test("Data Insights serves the statistics file a stage reported, as it is")
    func statistics() async throws {
        try await withTraining { training in
            let api = training.api
            let file = training.scratch.appendingPathComponent("statistics.json")
            let document = #"{"num_examples": 10, "features": {"a": {"min": 1.5}}}"#
            try document.write(to: file, atomically: true, encoding: .utf8)
            let created = try await api.post(
                "/api/training-runs",
                #"{"name": "ins", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "executor": "external"}"#, expect: .created
            ).json()
            let token = try #require((created["webhook"] as? [String: Any])?["token"] as? String)
            try await api.get("/api/training-runs/ins-1/statistics").expectError(.notFound)
            // A duration no clock measures is refused by name, not converted (1e300 s would trap), and changes nothing.
            for duration in ["1e300", "-1"] {
                try await api.post(
                    "/api/training-runs/ins-1/webhook/stage-complete", #"{"stage": "stats", "duration_seconds": \#(duration)}"#,
                    headers: [.authorization: "Bearer \(token)"]
                ).expectError(.unprocessableContent, field: "duration_seconds")
            }
            try await api.post(
                "/api/training-runs/ins-1/webhook/stage-complete", #"{"stage": "stats", "artifacts": {"statistics": "\#(file.path)"}}"#,
                headers: [.authorization: "Bearer \(token)"], expect: .ok)
            let answer = try await api.get("/api/training-runs/ins-1/statistics", expect: .ok)
            #expect(answer.text == document)
            #expect(answer.headers[.contentType] == "application/json; charset=utf-8")
            try await api.get("/api/training-runs/ins-1/schema").expectError(.notFound)
            // The evaluation: none before the evaluate stage reports it, then the file as it is; an unknown run is 404.
            try await api.get("/api/training-runs/ins-1/evaluation").expectError(.notFound)
            let evaluation = training.scratch.appendingPathComponent("evaluation.json")
            try #"{"protocol": "p", "metrics": {"recall_at_10": 0.1}}"#.write(to: evaluation, atomically: true, encoding: .utf8)
            try await api.post(
                "/api/training-runs/ins-1/webhook/stage-complete", #"{"stage": "evaluate", "artifacts": {"evaluation": "\#(evaluation.path)"}}"#,
                headers: [.authorization: "Bearer \(token)"], expect: .ok)
            #expect(try await api.get("/api/training-runs/ins-1/evaluation", expect: .ok).text.contains(#""protocol": "p""#))
            try await api.get("/api/training-runs/nobody-1/evaluation").expectError(.notFound)
        }
    }

    @Test("feedback metrics-svc sent to a dataset is written beside the next run's spec; deleted feedback leaves it")
    func feedbackRowsReachTheTrainer() async throws {
        let seen = FileManager.default.temporaryDirectory.appendingPathComponent("seen-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: seen) }
        let trainer = #"mkdir -p "# + seen.path + #" && cp "$1" "# + seen.path + #"/spec.json && cp "$2/feedback.csv" "# + seen.path + "; exit 1"
        try await withTraining(trainer: trainer) { training in
            var metrics = EnvelopeBuilder(service: "metrics")
            func sent(_ feedback: String, dataset: String, customer: String, product: String, at seconds: Double) throws -> EventEnvelope {
                var event = FeedbackSentToTraining()
                event.feedbackID = feedback
                event.datasetID = dataset
                event.endpointID = "ep-shop"
                event.customerID = customer
                event.productID = product
                event.rating = .positive
                event.submittedAt = .init(date: Date(timeIntervalSince1970: 1_800_000_000 + seconds))
                return try metrics.envelope(event, aggregateType: "Feedback", aggregateID: feedback)
            }
            var deleted = FeedbackDeleted()
            deleted.feedbackID = "fb-2"
            try await training.service.project(
                [
                    try sent("fb-1", dataset: "ds", customer: "C1", product: "P9", at: 0),
                    try sent("fb-2", dataset: "ds", customer: "C2", product: "P3", at: 1),
                    try sent("fb-3", dataset: "elsewhere", customer: "C3", product: "P4", at: 2),
                ], into: "dataset_feedback")
            let listed = try await training.api.get("/api/datasets/ds/feedback", expect: .ok).json()
            #expect((listed["feedback_rows"] as? [[String: Any]])?.compactMap { $0["feedback_id"] as? String } == ["fb-1", "fb-2"])
            try await training.service.project(
                [try metrics.envelope(deleted, aggregateType: "Feedback", aggregateID: "fb-2")], into: "dataset_feedback")
            try await training.api.get("/api/datasets/nowhere/feedback").expectError(.notFound)

            let id = try await training.createRun()
            try await training.waitForRun(id, "failed") { $0["status"] as? String == "failed" }
            let spec = try JSONSerialization.jsonObject(with: Data(contentsOf: seen.appendingPathComponent("spec.json"))) as? [String: Any]
            let feedbackPath = (spec?["dataset"] as? [String: Any])?["feedback"] as? String
            #expect(feedbackPath?.hasSuffix("/feedback.csv") == true, "\(String(describing: spec))")
            // The model config and the evaluator reach the trainer whole (the blessing metric was once dropped unless recall_at_100).
            let model = spec?["model_config"] as? [String: Any], evaluator = spec?["evaluator"] as? [String: Any]
            #expect(model?["algorithm"] as? String == "auto" && model?["factors"] as? Int == 64 && model?["output_dim"] as? Int == 16)
            #expect(evaluator?["blessing_metric"] as? String == "recall_at_100" && evaluator?["require_beating_popularity"] as? Bool == true)
            let csv = try String(contentsOf: seen.appendingPathComponent("feedback.csv"), encoding: .utf8)
            #expect(csv == "customer_id,product_id,timestamp\nC1,P9,2027-01-15T08:00:00.000Z\n")
        }
    }

    @Test("a schedule's trigger starts one run with the frozen configuration, however often it is delivered")
    func scheduledRunOncePerSlot() async throws {
        try await withTraining { training in
            var schedules = EnvelopeBuilder(service: "schedule")
            var trigger = ScheduleTriggered()
            trigger.scheduleID = "sch-1"
            trigger.slotTime = .init(date: Date(timeIntervalSince1970: 1_800_000_000))
            trigger.runID = "demo-model-sch-1-1800000000"
            trigger.trigger = .timer
            trigger.modelName = "demo-model"
            var config = TrainingRunConfig()
            config.datasetID = "ds"
            config.featureConfigID = "fc"
            config.modelConfigID = "mc"
            config.trainingParams.epochs = 3
            trigger.trainingConfig = try config.serializedBytes()
            let envelope = try schedules.envelope(trigger, aggregateType: "TrainingSchedule", aggregateID: "sch-1")
            try await training.service.project([envelope], into: "schedule_triggers")
            try await training.service.project([envelope], into: "schedule_triggers")  // redelivered
            var orphan = trigger
            orphan.slotTime = .init(date: Date(timeIntervalSince1970: 1_800_003_600))
            config.datasetID = "gone"
            orphan.trainingConfig = try config.serializedBytes()
            try await training.service.project(
                [try schedules.envelope(orphan, aggregateType: "TrainingSchedule", aggregateID: "sch-1")], into: "schedule_triggers")

            let runs = try await training.api.get("/api/training-runs?name=demo-model", expect: .ok).json()
            let list = try #require(runs["training_runs"] as? [[String: Any]])
            #expect(list.count == 1, "one run for the slot; none for a configuration naming a dataset that does not exist: \(list)")
            let run = try #require(list.first)
            #expect(run["trigger"] as? String == "scheduled" && run["schedule_id"] as? String == "sch-1")
            #expect(run["schedule_slot"] as? String == "2027-01-15T08:00:00Z")
            #expect((run["config"] as? [String: Any])?["dataset_id"] as? String == "ds")
            let events = try await training.service.store.events(aggregateType: "TrainingRun", aggregateID: run["id"] as? String ?? "")
            #expect(events.map(\.eventType).prefix(2) == [TrainingRunCreated.protoMessageName, TrainingRunSubmitted.protoMessageName])
        }
    }

    @Test("bad input: 4xx naming the field, nothing written")
    func badInput() async throws {
        try await withTraining { training in
            let api = training.api
            let ids = #""dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc""#
            try await api.post("/api/training-runs", #"{"name": "m", \#(ids), "training_params": {"epochs": 0}}"#)
                .expectError(.unprocessableContent, field: "training_params.epochs")
            try await api.post("/api/training-runs", #"{"name": "m", "dataset_id": "nope", "feature_config_id": "fc", "model_config_id": "mc"}"#)
                .expectError(.unprocessableContent, field: "dataset_id")
            try await api.post("/api/training-runs", #"{"name": "Not A Name", \#(ids)}"#).expectError(.unprocessableContent, field: "name")
            // The wizard's schedule_config: checked here, then by schedule-svc (not running in this test: a 503), and a
            // refusal starts no run.
            try await api.post("/api/training-runs", #"{"name": "m", \#(ids), "schedule_config": "daily"}"#)
                .expectError(.unprocessableContent, field: "schedule_config")
            try await api.post("/api/training-runs", #"{"name": "m", \#(ids), "schedule_config": {"schedule_time": "09:00"}}"#)
                .expectError(.badRequest, field: "schedule_config.schedule_type")
            try await api.post("/api/training-runs", #"{"name": "m", \#(ids), "schedule_config": {"schedule_type": "daily", "cron": "* * *"}}"#)
                .expectError(.unprocessableContent, field: "schedule_config.cron")
            try await api.post("/api/training-runs", #"{"name": "m", \#(ids), "schedule_config": {"schedule_type": "daily", "run_now": "yes"}}"#)
                .expectError(.unprocessableContent, field: "schedule_config.run_now")
            let unreachable = try await api.post(
                "/api/training-runs",
                #"{"name": "m", \#(ids), "schedule_config": {"schedule_type": "daily", "schedule_time": "09:00", "run_now": true}}"#)
            #expect(unreachable.status == .serviceUnavailable && unreachable.text.contains("nothing was changed"), "\(unreachable.text)")
            #expect(
                (try await api.get("/api/training-runs?name=m", expect: .ok).json()["training_runs"] as? [Any])?.isEmpty == true, "no run started")
            try await api.post("/api/training-runs/no-such-run-1/schedule-webhook", "{}").expectError(.notFound)
            try await api.post("/api/training-runs", #"{\#(ids)}"#).expectError(.unprocessableContent, field: "name")
            try await api.post("/api/training-runs", #"{"name": "m", "model_type": "ranking", \#(ids)}"#).expectError(
                .unprocessableContent, field: "model_type")
            try await api.post("/api/training-runs", #"{"name": "m", \#(ids), "training_params": {"epochs": "many"}}"#)
                .expectError(.badRequest, field: "training_params.epochs")
            try await api.post("/api/training-runs", "{not json").expectError(.badRequest)
            try await api.post("/api/training-runs").expectError(.badRequest)
            try await api.post("/api/datasets", #"{"name": "ds2", "transactions": "/x.csv", "split": {"strategy": "kfold"}}"#)
                .expectError(.unprocessableContent, field: "split.strategy")
            try await api.post("/api/datasets", #"{"name": "ds2"}"#).expectError(.badRequest, field: "transactions")
            try await api.post("/api/datasets", "[").expectError(.badRequest)
            try await api.post("/api/feature-configs", #"{"name": "fc2", "query": [{"name": "customer_id"}], "candidate": [{"name": "category"}]}"#)
                .expectError(.unprocessableContent, field: "candidate")
            try await api.post(
                "/api/feature-configs", #"{"name": "fc3", "query": [{"name": "customer_id", "type": "blob"}], "candidate": [{"name": "product_id"}]}"#
            )
            .expectError(.unprocessableContent, field: "query[0].type")
            try await api.post("/api/model-configs", #"{"name": "mc2", "output_dim": 1}"#).expectError(.unprocessableContent, field: "output_dim")
            try await api.post("/api/model-configs", #"{"name": "mc2", "output_dim": "wide"}"#).expectError(.badRequest, field: "output_dim")
            try await api.post("/api/datasets", #"{"name": "ds", "transactions": "/x.csv"}"#).expectError(.conflict, field: "name")
            try await api.get("/api/training-runs/no-such-run-1").expectError(.notFound)
            try await api.get("/api/datasets/no-such-dataset").expectError(.notFound)
            try await api.get("/api/feature-configs/no-such-config").expectError(.notFound)
            try await api.get("/api/training-runs?status=happy").expectError(.badRequest, field: "status")
            try await api.get("/api/training-runs?limit=0").expectError(.badRequest, field: "limit")
            try await api.get("/api/training-runs?offset=x").expectError(.badRequest, field: "offset")
            for path in ["submit", "cancel", "rerun"] {
                try await api.post("/api/training-runs/no-such-run-1/\(path)", "{}").expectError(.notFound)
            }
            for path in ["metrics", "logs", "statistics", "schema", "config"] {
                try await api.get("/api/training-runs/no-such-run-1/\(path)").expectError(.notFound)
            }
            // A run that exists but is not in a state for the verb, or asked for a silly page.
            let pending = try await api.post("/api/training-runs", #"{"name": "p", \#(ids), "submit": false}"#, expect: .created).json()
            #expect((pending["training_run"] as? [String: Any])?["status"] as? String == "pending")
            #expect(pending["webhook"] == nil)
            try await api.post("/api/training-runs/p-1/rerun", "{}").expectError(.conflict)
            try await api.get("/api/training-runs/p-1/logs?lines=0").expectError(.badRequest, field: "lines")
            try await api.get("/api/training-runs/p-1/statistics").expectError(.notFound)
            try await api.post("/api/training-runs/p-1/webhook/failed", #"{"error": "x"}"#).expectError(.unauthorized)
            try await api.patch("/api/training-runs/p-1/config", "{x").expectError(.badRequest)
            try await api.patch("/api/training-runs/p-1/config", #"{"gpu_config": {"gpu_count": "two"}}"#).expectError(
                .badRequest, field: "gpu_config.gpu_count")
            // A malformed cancel body is refused, not ignored: the run stays pending.
            try await api.post("/api/training-runs/p-1/cancel", #"{"reason": 5}"#).expectError(.badRequest, field: "reason")
            try await api.post("/api/training-runs/p-1/cancel", "{not json").expectError(.badRequest)
            #expect(try await training.run("p-1")["status"] as? String == "pending")
            try await api.post("/api/training-runs/p-1/cancel", expect: .ok)
            try await api.post("/api/training-runs/p-1/submit", "{}").expectError(.conflict)
            try await api.post("/api/training-runs/p-1/cancel", "{}").expectError(.conflict)
            // Nothing was written by the rejected requests (the one pending run above was created on purpose).
            let list = try await api.get("/api/training-runs", expect: .ok).json()
            #expect((list["training_runs"] as? [[String: Any]])?.map { $0["id"] as? String } == ["p-1"])
            #expect((try await api.get("/api/datasets", expect: .ok).json()["datasets"] as? [Any])?.count == 1)
            #expect((try await api.get("/api/model-configs", expect: .ok).json()["model_configs"] as? [Any])?.count == 1)
        }
    }

    @Test("bad webhook input: 400 for a malformed body, 422 naming the field, 404 for an unknown kind")
    func badWebhookInput() async throws {
        try await withTraining { training in
            let api = training.api
            let created = try await api.post(
                "/api/training-runs",
                #"{"name": "w", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "executor": "external"}"#, expect: .created
            ).json()
            let auth: HTTPFields = [.authorization: "Bearer \(try #require((created["webhook"] as? [String: Any])?["token"] as? String))"]
            let hook = "/api/training-runs/w-1/webhook"
            try await api.post("\(hook)/stage-complete", "{x", headers: auth).expectError(.badRequest)
            try await api.post("\(hook)/stage-complete", #"{"status": "started"}"#, headers: auth).expectError(.badRequest, field: "stage")
            try await api.post("\(hook)/stage-complete", #"{"stage": "train", "status": "paused"}"#, headers: auth).expectError(
                .unprocessableContent, field: "status")
            try await api.post("\(hook)/epoch-complete", #"{"epoch": 1}"#, headers: auth).expectError(.badRequest, field: "loss")
            try await api.post("\(hook)/completed", #"{"metrics": {}, "artifact_uri": "/b"}"#, headers: auth).expectError(
                .unprocessableContent, field: "metrics")
            try await api.post("\(hook)/completed", #"{"metrics": {"recall_at_100": 0.5}, "artifact_uri": "b"}"#, headers: auth)
                .expectError(.unprocessableContent, field: "artifact_uri")
            try await api.post("\(hook)/failed", #"{"error": ""}"#, headers: auth).expectError(.unprocessableContent, field: "error")
            try await api.post("\(hook)/failed", #"{"error": "x", "stage": "bake"}"#, headers: auth).expectError(
                .unprocessableContent, field: "stage")
            try await api.post("\(hook)/paused", "{}", headers: auth).expectError(.notFound)
            // None of it changed the run.
            let run = try await training.run("w-1")
            #expect(run["status"] as? String == "submitting")
            #expect(run["version"] as? Int == 2)
        }
    }

    @Test("config edits: GET and PATCH, refused while the run is active")
    func editConfig() async throws {
        try await withTraining { training in
            let api = training.api
            let body =
                #"{"name": "m", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "executor": "external", "submit": false}"#
            let created = try await api.post("/api/training-runs", body, expect: .created).json()
            #expect((created["training_run"] as? [String: Any])?["status"] as? String == "pending")
            let edited = try await api.patch(
                "/api/training-runs/m-1/config", #"{"training_params": {"epochs": 5}, "gpu_config": {"gpu_count": 0}}"#, expect: .ok
            ).json()
            #expect(edited["updated_fields"] as? [String] == ["training_params", "gpu_config"])
            let config = try await api.get("/api/training-runs/m-1/config", expect: .ok).json()
            #expect(((config["config"] as? [String: Any])?["training_params"] as? [String: Any])?["epochs"] as? Int == 5)
            #expect((config["config"] as? [String: Any])?["id"] as? String == "m-1")
            #expect(config["updated_fields"] == nil)
            try await api.patch("/api/training-runs/m-1/config", #"{"model_config_id": "missing"}"#).expectError(
                .unprocessableContent, field: "model_config_id")
            try await api.patch("/api/training-runs/m-1/config", #"{"schedule_config": {"schedule_type": "weekly", "run_now": true}}"#)
                .expectError(.unprocessableContent, field: "schedule_config.run_now")
            let submitted = try await api.post("/api/training-runs/m-1/submit", "{}", expect: .ok).json()
            #expect((submitted["training_run"] as? [String: Any])?["status"] as? String == "submitting")
            #expect((submitted["webhook"] as? [String: Any])?["token"] is String, "an external trainer gets its token")
            try await api.patch("/api/training-runs/m-1/config", #"{"gpu_config": {"gpu_count": 1}}"#).expectError(.conflict)
        }
    }
}
