import Foundation
import HTTPTypes
import SlipwayPlatform
import SlipwayTestSupport
import Testing

@testable import TrainingCore

/// training-svc as the shell wires it, on a fresh database and artifact root, its executor running
/// `trainer` (a shell script given the spec and artifact paths), with a dataset `ds`, a feature config
/// `fc` and a model config `mc`.
struct TrainingHarness: Sendable {
    let service: TestService
    let scratch: URL
    let reader: ConfigReader

    var api: APITestClient { service.api }

    static let runBody =
        #"{"name": "demo-model", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "training_params": {"epochs": 2}}"#

    /// Creates a run from `json`; returns its id.
    func createRun(_ json: String = runBody, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let created = try await api.post("/api/training-runs", json, expect: .created, sourceLocation: sourceLocation).json()
        return try #require((created["training_run"] as? [String: Any])?["id"] as? String, sourceLocation: sourceLocation)
    }

    func run(_ id: String) async throws -> [String: Any] {
        try await api.get("/api/training-runs/\(id)", expect: .ok).json()
    }

    /// Polls the run until `condition` holds (the executor works in the background).
    func waitForRun(_ id: String, timeout: Duration = .seconds(30), _ what: String, until condition: @escaping @Sendable ([String: Any]) -> Bool)
        async throws
    {
        try await eventually(timeout: timeout, "run \(id): \(what)") {
            condition(try await api.get("/api/training-runs/\(id)").json())
        }
    }
}

/// `arguments` are added to the service's own (an executor's settings).
func withTraining(
    trainer: String = "exit 1", arguments: [String] = [], runWorkers: Bool = true, _ body: @Sendable (TrainingHarness) async throws -> Void
) async throws {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("training-svc-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let script = scratch.appendingPathComponent("trainer.sh")
    try ("#!/bin/sh\n" + trainer + "\n").write(to: script, atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
    let reader = ConfigReader(
        // No schedule-svc answers these tests (port 1 refuses at once), whatever else runs on this machine.
        arguments: [
            "--artifact-root", scratch.appendingPathComponent("artifacts").path, "--trainer-command", "\(script.path) {spec} {artifacts}",
            "--peer", "schedule=http://127.0.0.1:1",
        ] + arguments,
        environment: [:])
    try await withTestService(TrainingService.definition(reader: reader), reader: reader, runWorkers: runWorkers) { service in
        let harness = TrainingHarness(service: service, scratch: scratch, reader: reader)
        for (path, json) in [
            ("/api/datasets", #"{"name": "ds", "transactions": "/nowhere/transactions.csv"}"#),
            ("/api/feature-configs", #"{"name": "fc", "query": [{"name": "customer_id"}], "candidate": [{"name": "product_id"}]}"#),
            ("/api/model-configs", #"{"name": "mc", "output_dim": 16}"#),
        ] {
            try await service.api.post(path, json, expect: .created)
        }
        try await body(harness)
    }
}

/// Whether the process lives (a zombie has exited; only its parent's reaping is left).
func isAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    return !stat.contains(") Z ")
}
