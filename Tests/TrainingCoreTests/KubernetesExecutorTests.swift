import Foundation
import SlipwayContracts
import SlipwayPlatform
import SlipwayTestSupport
import Testing

@testable import TrainingCore

/// The kubernetes executor against `scripts/fake-kube-apiserver`, which validates every object against the Kubernetes
/// 1.30 schemas and plays the Job controller and kubelet by running the Job's container command here (no image is
/// pulled: the command is the test's trainer script). What a real cluster adds (scheduling, pulling the image, the
/// volume) is not tested.
@Suite("kubernetes executor", .serialized, .timeLimit(.minutes(3)))
struct KubernetesExecutorTests {
    static let namespace = "slipway-test"

    static func arguments(_ server: FakeKubernetesAPIServer) -> [String] {
        [
            "--executor", "kubernetes", "--trainer-image", "registry.example/slipway:test", "--kubernetes-api-url", server.url,
            "--kubernetes-namespace", namespace,
        ]
    }

    /// Reports like the built-in trainer; the second run of a model fails, the third waits to be cancelled.
    static let trainer = #"""
        echo "$SLIPWAY_RUN_TOKEN" > "$2/token-seen"
        case "$SLIPWAY_RUN_ID" in
          *-2) echo "boom: out of memory"; exit 3 ;;
          *-3) echo '{"event":"stage_started","stage":"compile"}'; echo $$ > "$2/pid"; exec sleep 600 ;;
        esac
        echo '{"event":"stage_started","stage":"compile","epochs":2}'
        echo '{"event":"stage_completed","stage":"compile","seconds":0.1}'
        echo '{"event":"epoch_completed","epoch":1,"loss":0.9,"seconds":0.1}'
        echo 'a plain log line'
        echo '{"event":"completed","metrics":{"recall_at_100":0.9},"bundle":"s3://models/demo/bundle"}'
        """#

    func path(_ group: String, _ resource: String, _ name: String) -> String {
        (group == "v1" ? "/api/v1" : "/apis/\(group)") + "/namespaces/\(Self.namespace)/\(resource)/\(name)"
    }

    @Test("a run is a Job whose Pod's log is its progress; the token comes from a Secret, deleted once the run ends")
    func runAsJob() async throws {
        let server = try await FakeKubernetesAPIServer()
        try await withTraining(trainer: Self.trainer, arguments: Self.arguments(server)) { training in
            let id = try await training.createRun()
            try await training.waitForRun(id, "completed") { $0["status"] as? String == "completed" }
            let run = try await training.run(id)
            #expect(run["executor"] as? String == "kubernetes")
            #expect((run["metrics"] as? [String: Any])?["recall_at_100"] as? Double == 0.9)
            let logs = try await training.api.get("/api/training-runs/\(id)/logs?lines=50", expect: .ok).json()
            #expect((logs["lines"] as? [String])?.contains("a plain log line") == true, "\(logs)")

            let job = try await server.api.get(path("batch/v1", "jobs", "run-demo-model-1"), expect: .ok).json()
            let spec = try #require(job["spec"] as? [String: Any])
            #expect(spec["backoffLimit"] as? Int == 0 && spec["ttlSecondsAfterFinished"] as? Int == 86_400)
            let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
            let container = try #require((pod["containers"] as? [[String: Any]])?.first)
            #expect(container["image"] as? String == "registry.example/slipway:test")
            let env = container["env"] as? [[String: Any]] ?? []
            let token = env.first { $0["name"] as? String == "SLIPWAY_RUN_TOKEN" }
            #expect(((token?["valueFrom"] as? [String: Any])?["secretKeyRef"] as? [String: String])?["name"] == "run-demo-model-1")
            #expect(env.contains { $0["name"] as? String == "SLIPWAY_WEBHOOK_URL" })

            // The trainer got the run's own token, from the Secret.
            let seen = try String(contentsOf: training.scratch.appendingPathComponent("artifacts/runs/\(id)/token-seen"), encoding: .utf8)
            let row = try await TrainingQueries(postgres: training.service.environment.postgres, logger: training.service.environment.logger).run(id)
            #expect(RunToken.sha256(seen.trimmingCharacters(in: .whitespacesAndNewlines)) == row?.tokenSha256)
            // The run has ended: its Secret goes; the Job stays for its TTL (and its log with it).
            try await eventually(timeout: .seconds(20), "the ended run's Secret is deleted") {
                try await server.api.get(path("v1", "secrets", "run-demo-model-1")).status == .notFound
            }
            #expect(try await server.api.get(path("batch/v1", "jobs", "run-demo-model-1")).status == .ok)
        }
    }

    @Test("a failing trainer fails the run with the Job's condition and its log's tail; cancel deletes the Job and ends the trainer")
    func failAndCancel() async throws {
        let server = try await FakeKubernetesAPIServer()
        try await withTraining(trainer: Self.trainer, arguments: Self.arguments(server)) { training in
            _ = try await training.createRun()
            try await training.waitForRun("demo-model-1", "completed") { $0["status"] as? String == "completed" }
            let failing = try await training.createRun()
            try await training.waitForRun(failing, "failed") { $0["status"] as? String == "failed" }
            let failed = try await training.run(failing)
            #expect((failed["error_message"] as? String)?.contains("the trainer's Job failed") == true, "\(failed)")
            #expect((failed["log_tail"] as? String)?.contains("boom: out of memory") == true, "\(failed)")

            let cancelled = try await training.createRun()
            try await training.waitForRun(cancelled, "in compile") { $0["current_stage"] as? String == "compile" }
            let pidFile = training.scratch.appendingPathComponent("artifacts/runs/\(cancelled)/pid")
            let pid = try #require(Int32(try String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(isAlive(pid))
            let answer = try await training.api.post("/api/training-runs/\(cancelled)/cancel", "{}", expect: .ok).json()
            #expect(answer["status"] as? String == "cancelled")
            #expect(try await server.api.get(path("batch/v1", "jobs", "run-demo-model-3")).status == .notFound)
            #expect(try await server.api.get(path("v1", "secrets", "run-demo-model-3")).status == .notFound)
            // Deleted with its Pod (propagationPolicy Background): the trainer gets SIGTERM.
            try await eventually(timeout: .seconds(5), "the cancelled run's trainer ends") { !isAlive(pid) }
            try await Task.sleep(for: .seconds(1))
            #expect(try await training.run(cancelled)["status"] as? String == "cancelled", "the Job's end does not turn the cancel into a failure")
        }
    }

    @Test("a new leader follows a running Job's log from its start: the run completes and no report is applied twice")
    func newLeaderAdopts() async throws {
        let server = try await FakeKubernetesAPIServer()
        let trainer = #"""
            echo '{"event":"stage_started","stage":"compile","epochs":2}'
            echo '{"event":"epoch_completed","epoch":1,"loss":0.9,"seconds":0.1}'
            while [ ! -e "$2/go" ]; do sleep 0.1; done
            echo '{"event":"epoch_completed","epoch":2,"loss":0.5,"seconds":0.1}'
            echo '{"event":"completed","metrics":{"recall_at_100":0.9},"bundle":"s3://models/demo/bundle"}'
            """#
        // The executors run here without their leadership, so the test decides who leads when.
        try await withTraining(trainer: trainer, arguments: Self.arguments(server), runWorkers: false) { training in
            let environment = training.service.environment
            let settings = try TrainingSettings.load(reader: training.reader, config: environment.config)
            func executor() throws -> KubernetesExecutor {
                KubernetesExecutor(settings: settings, kubernetes: try #require(settings.kubernetes), environment: environment)
            }
            let id = try await training.createRun()
            let first = Task { try await executor().control() }
            try await training.waitForRun(id, "epoch 1 reported") { $0["epochs_completed"] as? Int == 1 }
            first.cancel()  // the leader goes away; its Job runs on
            _ = await first.result

            let second = Task { try await executor().control() }
            defer { second.cancel() }
            FileManager.default.createFile(atPath: training.scratch.appendingPathComponent("artifacts/runs/\(id)/go").path, contents: nil)
            try await training.waitForRun(id, "completed") { $0["status"] as? String == "completed" }
            let events = try await training.service.store.events(aggregateType: "TrainingRun", aggregateID: id).map(\.eventType)
            // Each line's report once: compile's start and epoch 1 were read by both leaders.
            #expect(
                events == [
                    TrainingRunCreated.protoMessageName, TrainingRunSubmitted.protoMessageName, TrainingRunStarted.protoMessageName,
                    StageStarted.protoMessageName, EpochCompleted.protoMessageName, EpochCompleted.protoMessageName,
                    // The completion closes the pipeline: the evaluate stage starts and the skipped ones are named.
                    StageStarted.protoMessageName, StageSkipped.protoMessageName, TrainingRunCompleted.protoMessageName,
                ])
            let log = try String(contentsOf: training.scratch.appendingPathComponent("artifacts/runs/\(id)/run.log"), encoding: .utf8)
            #expect(
                log.components(separatedBy: "\n").filter { $0.contains(#""epoch":1"#) }.count == 1, "the log is rewritten, not appended to: \(log)")
        }
    }

    @Test("a run for an executor the installation does not run is a 422 naming executor, and nothing is written")
    func otherExecutorRefused() async throws {
        let server = try await FakeKubernetesAPIServer()
        try await withTraining(trainer: Self.trainer, arguments: Self.arguments(server), runWorkers: false) { training in
            let refused = try await training.api.post(
                "/api/training-runs",
                #"{"name": "demo-model", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "executor": "local"}"#)
            #expect(refused.status == .unprocessableContent && refused.text.contains("executor"), "\(refused.text)")
            let runs = try await training.api.get("/api/training-runs", expect: .ok).json()
            #expect((runs["training_runs"] as? [Any])?.isEmpty == true, "\(runs)")
            // External trainers are welcome anywhere.
            _ = try await training.createRun(
                #"{"name": "demo-model", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "executor": "external"}"#)
        }
        try await withTraining(runWorkers: false) { training in
            let refused = try await training.api.post(
                "/api/training-runs",
                #"{"name": "demo-model", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "executor": "kubernetes"}"#)
            #expect(refused.status == .unprocessableContent && refused.text.contains("executor kubernetes is not run here"), "\(refused.text)")
        }
    }

    @Test("the kubernetes executor's settings: an image is required, a bad executor or URL is named")
    func settings() throws {
        func load(_ arguments: [String]) throws -> TrainingSettings {
            let reader = ConfigReader(arguments: arguments, environment: [:])
            return try TrainingSettings.load(reader: reader, config: try ServiceConfig.load(service: "training", defaultPort: 8101, reader: reader))
        }
        #expect(throws: ConfigError.self) { try load(["--executor", "kubernetes"]) }
        #expect(throws: ConfigError.self) { try load(["--executor", "slurm"]) }
        #expect(throws: ConfigError.self) { try load(["--executor", "kubernetes", "--trainer-image", "x", "--kubernetes-api-url", "localhost"]) }
        let settings = try load([
            "--executor", "kubernetes", "--trainer-image", "x", "--kubernetes-namespace", "ml", "--webhook-base-url", "http://training-svc:8101/",
        ])
        #expect(settings.executor == "kubernetes" && settings.kubernetes?.connection.namespace == "ml")
        #expect(settings.webhookBaseURL == "http://training-svc:8101")
        #expect(try load([]).executor == "local" && (try load([])).kubernetes == nil)
    }
}
