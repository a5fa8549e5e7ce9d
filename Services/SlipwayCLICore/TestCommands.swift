import ArgumentParser
import Dispatch
import Foundation
import Synchronization

/// `slipway test ENDPOINT`: an endpoint test now, printed as the spec's report.
struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test", abstract: "Test a deployed endpoint with samples of its training data; exits 1 when it fails.")
    @Argument(help: "The endpoint's name.") var endpoint: String
    @Option(help: "Samples (1–1000).") var samples = 10
    @Option(help: "Seconds the whole test may take (1–300).") var timeout = 30
    @Option(help: "Instances per request (1–100).") var batchSize = 1
    @Option(help: "Items each answer must have (1–100).") var topK = 10
    @Option(help: "Which training rows become the samples.") var seed: UInt64?
    @Option var gateway: String?

    func run() async throws {
        var body: [String: Any] = [
            "sample_count": samples, "timeout_seconds": timeout, "batch_size": batchSize, "top_k": topK, "triggered_by": "manual",
        ]
        if let seed { body["seed"] = seed }
        let report = try await APIClient(gateway: gateway).expect(.POST, "/api/deployed-endpoints/\(endpoint)/test", body)
        say(Self.render(report))
        if report["success"] as? Bool != true { throw ExitCode(1) }
    }

    /// The spec's CLI report: health, requests, latency, validation, a sample prediction, and the comparison.
    static func render(_ report: [String: Any]) -> String {
        var lines = ["Endpoint Test Results", "====================="]
        let config = report["test_config"] as? [String: Any] ?? [:]
        lines.append("Endpoint: \(report["endpoint"] ?? "") (\(report["endpoint_url"] ?? ""))")
        lines.append("Version: \(report["version"] ?? "") (\(report["model_version_id"] ?? ""))  test \(report["test_id"] ?? "")")
        lines.append("Dataset: \(config["dataset_id"] ?? "")  samples \(config["sample_count"] ?? "")  seed \(config["seed"] ?? "")")
        lines.append("")
        if let health = report["health_check"] as? [String: Any] {
            lines.append("Health Check: \(health["healthy"] as? Bool == true ? "PASSED" : "FAILED (\(health["message"] ?? ""))")")
        }
        if let results = report["test_results"] as? [String: Any] {
            lines.append("Requests Sent: \(results["requests_sent"] ?? 0)")
            lines.append("Successful: \(results["successful"] ?? 0)")
            lines.append("Failed: \(results["failed"] ?? 0)")
            lines.append("")
            lines.append("Latency (ms):")
            for (label, key) in [("Avg", "avg"), ("Min", "min"), ("Max", "max"), ("p50", "p50"), ("p95", "p95"), ("p99", "p99")] {
                lines.append("  \(label): \(String(format: "%.1f", (results["\(key)_latency_ms"] as? Double) ?? 0))")
            }
        }
        if let validation = report["validation"] as? [String: Any] {
            lines.append("")
            let issues = validation["issues"] as? [String] ?? []
            lines.append(
                issues.isEmpty
                    ? "Validation: ALL PASSED (\(validation["valid_count"] ?? 0) of \(validation["total_count"] ?? 0))"
                    : "Validation: \(issues.count) ISSUE(S)")
            for issue in issues.prefix(10) { lines.append("  - \(issue)") }
        }
        if let sample = (report["sample_predictions"] as? [[String: Any]])?.first {
            let output = sample["output"] as? [String: Any] ?? [:]
            lines.append("")
            lines.append("Sample Prediction:")
            if let input = sample["input"], let data = try? JSONSerialization.data(withJSONObject: input, options: [.sortedKeys]) {
                lines.append("  Input: \(String(decoding: data, as: UTF8.self))")
            }
            lines.append("  Top 5 Products: \((output["product_ids"] as? [String] ?? []).prefix(5).joined(separator: ", "))")
            let scores = (output["scores"] as? [Double] ?? []).prefix(5).map { String(format: "%.3f", $0) }
            lines.append("  Top 5 Scores: \(scores.joined(separator: ", "))")
        }
        if let comparison = report["comparison"] as? [String: Any] {
            lines.append("")
            lines.append(
                "Compared with v\(comparison["previous_version"] ?? "") on \(comparison["samples_compared"] ?? 0) customers: "
                    + String(
                        format: "top-%d overlap %.0f%%, identical %.0f%%", comparison["k"] as? Int ?? 0,
                        100 * ((comparison["mean_overlap"] as? Double) ?? 0), 100 * ((comparison["identical_fraction"] as? Double) ?? 0)))
        }
        if let error = report["error"] as? String, !error.isEmpty { lines.append(""); lines.append("Error: \(error)") }
        lines.append("")
        lines.append(
            "Result: \(report["success"] as? Bool == true ? "PASSED" : "FAILED") (\(report["status"] ?? ""))  in \(report["duration_ms"] ?? 0) ms")
        return lines.joined(separator: "\n")
    }
}

/// `slipway tests ENDPOINT`: the endpoint's test history, newest first.
struct TestsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tests", abstract: "An endpoint's test history, newest first.")
    @Argument var endpoint: String
    @Option var limit = 20
    @Option var gateway: String?

    func run() async throws {
        let history = try await APIClient(gateway: gateway).expect(.GET, "/api/deployed-endpoints/\(endpoint)/test?limit=\(limit)")
        let tests = history["tests"] as? [[String: Any]] ?? []
        say("\(history["total"] ?? 0) test(s) of \(endpoint)")
        for test in tests {
            let results = test["test_results"] as? [String: Any] ?? [:]
            let issues = ((test["validation"] as? [String: Any])?["issues"] as? [Any])?.count ?? 0
            say(
                "\(test["created_at"] ?? "")\t\(test["test_id"] ?? "")\tv\(test["version"] ?? "")\t\(test["status"] ?? "")\t\(test["triggered_by"] ?? "")\t"
                    + String(format: "p50 %.1f ms", (results["p50_latency_ms"] as? Double) ?? 0) + "\t\(issues) issue(s)")
        }
    }
}

/// `slipway checks ENDPOINT`: the endpoint's scheduled check; `--every 15m` sets it, `--off` pauses it.
struct ChecksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checks", abstract: "An endpoint's scheduled check: show it, set it (--every 15m), or turn it off (--off).")
    @Argument var endpoint: String
    @Option(help: "How often: 15m, 1h (1 minute to 24 hours).") var every: String?
    @Option(help: "Samples per check.") var samples: Int?
    @Flag(help: "Stop the checks (the settings are kept).") var off = false
    @Option var gateway: String?

    func run() async throws {
        let client = try APIClient(gateway: gateway)
        let path = "/api/deployed-endpoints/\(endpoint)/test/schedule"
        var body: [String: Any] = [:]
        if let every {
            guard let minutes = Self.minutes(every) else { throw ValidationError("--every is like 15m or 1h") }
            body["interval_minutes"] = minutes
            body["enabled"] = true
        }
        if let samples { body["sample_count"] = samples }
        if off { body["enabled"] = false }
        let check = body.isEmpty ? try await client.expect(.GET, path) : try await client.expect(.PUT, path, body)
        func text(_ key: String, _ absent: String = "–") -> String { (check[key] as? String) ?? absent }
        let state = check["enabled"] as? Bool == true ? "every \(check["interval_minutes"] ?? "") min" : "off"
        say("\(endpoint): \(state), \(check["sample_count"] ?? "") samples; next \(text("next_run_at"))")
        say("last \(text("last_run_at", "never")) \(text("last_status", ""))  (\(check["skipped"] ?? 0) slot(s) skipped)")
    }

    static func minutes(_ text: String) -> Int? {
        if text.hasSuffix("m"), let value = Int(text.dropLast()) { return value }
        if text.hasSuffix("h"), let value = Int(text.dropLast()) { return value * 60 }
        return Int(text)
    }
}

/// `slipway loadtest ENDPOINT`: a load test through serving-router, with a line of progress a second and the summary
/// at the end; Ctrl-C cancels it.
struct LoadTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest", abstract: "Load-test a deployed endpoint through serving-router; prints progress, then rate and percentiles.")
    @Argument(help: "The endpoint's name.") var endpoint: String
    @Option(help: "Keep-alive connections, each with one request in flight (1–256).") var connections = 16
    @Option(help: "How long: 30s, 2m (at most 300 s).") var duration = "30s"
    @Option(help: "Pace the connections to this many requests/s (default: as fast as answered).") var rate: Int?
    @Option(help: "Distinct requests from the training data (1–1000).") var samples = 100
    @Option(help: "Items per answer.") var topK = 10
    @Option var gateway: String?

    func run() async throws {
        guard let seconds = Self.seconds(duration) else { throw ValidationError("--duration is like 30s or 2m") }
        let client = try APIClient(gateway: gateway)
        var body: [String: Any] = [
            "connections": connections, "duration_seconds": seconds, "sample_count": samples, "top_k": topK,
        ]
        if let rate { body["target_rps"] = rate }
        var test = try await client.expect(.POST, "/api/deployed-endpoints/\(endpoint)/load-test", body)
        let id = test["id"] as? String ?? ""
        say("load test \(id): \(connections) connections for \(seconds) s\(rate.map { " at \($0) requests/s" } ?? "") on \(endpoint)")
        let interrupted = InterruptSignal()
        var cancelled = false
        var shown = 0
        while test["status"] as? String == "running" {
            if !cancelled, interrupted.received {
                cancelled = true
                say("cancelling…")
                _ = try? await client.call(.POST, "/api/load-tests/\(id)/cancel")
            }
            try await Task.sleep(for: .milliseconds(250))
            test = try await client.expect(.GET, "/api/load-tests/\(id)")
            if let progress = test["progress"] as? [String: Any], let elapsed = progress["elapsed_seconds"] as? Int, elapsed > shown {
                shown = elapsed
                say(
                    String(
                        format: "%4d s  %6d req/s  p99 %7.2f ms  requests %d  errors %d", elapsed, progress["last_second_rps"] as? Int ?? 0,
                        progress["last_second_p99_ms"] as? Double ?? 0, progress["requests"] as? Int ?? 0, progress["errors"] as? Int ?? 0))
            }
        }
        say(Self.render(test))
        if test["status"] as? String == "failed" { throw ExitCode(1) }
    }

    static func render(_ test: [String: Any]) -> String {
        var lines = ["", "Load Test \(test["id"] ?? ""): \(test["status"] ?? "")"]
        if let results = test["results"] as? [String: Any] {
            let latency = results["latency"] as? [String: Any] ?? [:]
            func ms(_ key: String) -> String { String(format: "%.2f", latency["\(key)_ms"] as? Double ?? 0) }
            lines.append(
                String(
                    format: "Requests: %d  succeeded %d  failed %d  in %.1f s", results["requests"] as? Int ?? 0, results["succeeded"] as? Int ?? 0,
                    results["failed"] as? Int ?? 0, Double(results["duration_ms"] as? Int ?? 0) / 1000))
            lines.append(String(format: "Achieved: %.0f requests/s", results["achieved_rps"] as? Double ?? 0))
            lines.append("Latency (ms): p50 \(ms("p50"))  p95 \(ms("p95"))  p99 \(ms("p99"))  max \(ms("max"))  avg \(ms("avg"))")
            let errors = (results["errors_by_status"] as? [String: Int] ?? [:]).sorted { $0.key < $1.key }
            if !errors.isEmpty { lines.append("Errors: " + errors.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")) }
        }
        if let error = test["error"] as? String, !error.isEmpty { lines.append("Note: \(error)") }
        return lines.joined(separator: "\n")
    }

    static func seconds(_ text: String) -> Int? {
        if text.hasSuffix("s"), let value = Int(text.dropLast()) { return value }
        if text.hasSuffix("m"), let value = Int(text.dropLast()) { return value * 60 }
        return Int(text)
    }
}

/// Ctrl-C noticed rather than ending the process, so a command can first stop what it started on the server.
final class InterruptSignal: @unchecked Sendable {  // the source is only kept alive here; the flag is atomic
    private let flag = Atomic(false)
    private let source: any DispatchSourceSignal

    init() {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [weak self] in self?.flag.store(true, ordering: .relaxed) }
        source.resume()
    }

    var received: Bool { flag.load(ordering: .relaxed) }
}
