import ArgumentParser
import Foundation

/// `slipway alerts`: alert rules on an endpoint's serving figures (metrics-svc).
struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "Alert rules on endpoints: list, create, acknowledge, resolve, delete.",
        subcommands: [List.self, Create.self, Ack.self, Resolve.self, Delete.self])

    struct List: AsyncParsableCommand {
        @Option(help: "Only this endpoint's (name or id).") var endpoint: String?
        @Option(help: "ok, pending, active, acknowledged or resolved.") var status: String?
        @Option var gateway: String?
        func run() async throws {
            var query: [String] = []
            if let endpoint { query.append("endpoint_id=\(endpoint.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? endpoint)") }
            if let status { query.append("status=\(status)") }
            let path = "/api/v1/monitoring/alerts" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
            let json = try await APIClient(gateway: gateway).expect(.GET, path)
            for alert in json["alerts"] as? [[String: Any]] ?? [] { say(AlertsCommand.line(alert)) }
        }
    }

    struct Create: AsyncParsableCommand {
        @Argument(help: "Endpoint name or id.") var endpoint: String
        @Option(help: "latency_p50_ms, latency_p95_ms, latency_p99_ms, error_rate, server_error_rate or drift_score.") var metric: String
        @Option(help: "gt, lt or eq.") var condition = "gt"
        @Option(help: "The value the metric is compared with (ms for latencies, 0–1 for rates).") var threshold: Double
        @Option(help: "Resolve only once the value is back past this (default: the threshold).") var resolveThreshold: Double?
        @Option(help: "Seconds of traffic the metric is measured over (drift_score: how recent the hourly report must be).")
        var windowSeconds: Int?
        @Option(help: "Seconds the condition must hold before the alert fires.") var forSeconds = 60
        @Option(help: "Fewer requests in the window give no verdict.") var minSamples = 20
        @Option var name: String?
        @Option var gateway: String?
        func run() async throws {
            var body: [String: Any] = [
                "endpoint_id": endpoint, "alert_type": metric.hasPrefix("latency") ? "latency" : metric == "drift_score" ? "drift" : "error_rate",
                "metric": metric,
                "condition": condition, "threshold": threshold, "for_seconds": forSeconds,
                "min_samples": minSamples,
            ]
            if let windowSeconds { body["window_seconds"] = windowSeconds }
            if let resolveThreshold { body["resolve_threshold"] = resolveThreshold }
            if let name { body["name"] = name }
            say(AlertsCommand.line(try await APIClient(gateway: gateway).expect(.POST, "/api/v1/monitoring/alerts", body)))
        }
    }

    struct Ack: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ack", abstract: "Acknowledge an active alert.")
        @Argument var id: String
        @Option var note: String?
        @Option var gateway: String?
        func run() async throws {
            say(
                AlertsCommand.line(
                    try await APIClient(gateway: gateway).expect(.POST, "/api/v1/monitoring/alerts/\(id)/acknowledge", ["note": note ?? ""])))
        }
    }

    struct Resolve: AsyncParsableCommand {
        @Argument var id: String
        @Option var note: String?
        @Option var gateway: String?
        func run() async throws {
            say(
                AlertsCommand.line(
                    try await APIClient(gateway: gateway).expect(.POST, "/api/v1/monitoring/alerts/\(id)/resolve", ["note": note ?? ""])))
        }
    }

    struct Delete: AsyncParsableCommand {
        @Argument var id: String
        @Option var gateway: String?
        func run() async throws {
            _ = try await APIClient(gateway: gateway).expect(.DELETE, "/api/v1/monitoring/alerts/\(id)")
            say("alert \(id) deleted")
        }
    }

    static func line(_ alert: [String: Any]) -> String {
        let current = alert["current"] as? [String: Any]
        let observed = (current?["observed_value"] as? Double).map { String(format: " (now %.4g)", $0) } ?? ""
        return
            "\(alert["id"] ?? "")\t\(alert["status"] ?? "")\(observed)\t\(alert["metric"] ?? "") \(alert["condition"] ?? "") \(alert["threshold"] ?? "")"
            + "\tover \(alert["window_seconds"] ?? "") s, for \(alert["for_seconds"] ?? "") s\t\(alert["name"] ?? "")"
    }
}

/// `slipway drift ENDPOINT`: drift of the endpoint's request features against the week before.
struct DriftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift", abstract: "Drift of an endpoint's request features: the last hours against the days before.")

    @Argument(help: "Endpoint name or id.") var endpoint: String
    @Option(help: "Days of baseline before the comparison window (1–30).") var baselineDays = 7
    @Option(help: "Hours compared (1–168).") var comparisonHours = 24
    @Option var gateway: String?

    func run() async throws {
        let name = endpoint.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? endpoint
        let report = try await APIClient(gateway: gateway).expect(
            .GET, "/api/v1/monitoring/drift/\(name)?baseline_days=\(baselineDays)&comparison_hours=\(comparisonHours)")
        let baseline = report["baseline"] as? [String: Any] ?? [:]
        let comparison = report["comparison"] as? [String: Any] ?? [:]
        say(
            "\(report["status"] ?? ""): drift \(report["drift_detected"] as? Bool == true ? "detected" : "not detected"), score \(report["drift_score"] ?? 0), severity \(report["severity"] ?? "")"
        )
        say("baseline \(baseline["rows"] ?? 0) rows, comparison \(comparison["rows"] ?? 0) rows")
        for feature in report["features"] as? [[String: Any]] ?? [] {
            func number(_ key: String) -> String { (feature[key] as? Double).map { String(format: "%.3f", $0) } ?? "-" }
            say(
                "\(feature["feature"] ?? "")\t\(feature["kind"] ?? "")\t\(feature["severity"] ?? "")\(feature["drifted"] as? Bool == true ? " DRIFTED" : "")"
                    + "\tpsi \(number("psi"))\tks \(number("ks_statistic")) p \(number("ks_p_value"))\tjs \(number("jensen_shannon"))\tunseen \(number("unseen_share"))"
            )
        }
    }
}

/// `slipway health ENDPOINT`: the endpoint's health score and what made it.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health", abstract: "An endpoint's health: a 0–100 score from errors, latency, alerts and drift.")

    @Argument(help: "Endpoint name or id.") var endpoint: String
    @Option(help: "Minutes of traffic judged (1–60).") var minutes = 15
    @Option(help: "The p95 latency the endpoint is meant to keep, in ms.") var latencyObjectiveMs = 100
    @Option var gateway: String?

    func run() async throws {
        let name = endpoint.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? endpoint
        let health = try await APIClient(gateway: gateway).expect(
            .GET, "/api/v1/monitoring/health/\(name)?minutes=\(minutes)&latency_objective_ms=\(latencyObjectiveMs)")
        say("\(health["endpoint_name"] as? String ?? endpoint): \(health["score"] ?? "?")/100, \(health["status"] ?? "")")
        for part in health["parts"] as? [[String: Any]] ?? [] {
            say("  \(part["name"] ?? "")\t-\(part["penalty"] ?? 0)\t\(part["detail"] ?? "")")
        }
    }
}
