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
        @Option(help: "latency_p50_ms, latency_p95_ms, latency_p99_ms, error_rate, server_error_rate, drift_score or feedback_positive_rate.")
        var metric: String
        @Option(help: "gt, lt or eq (default: lt for feedback_positive_rate, gt for the others).") var condition: String?
        @Option(help: "The value the metric is compared with (ms for latencies, 0–1 for rates).") var threshold: Double
        @Option(help: "Resolve only once the value is back past this (default: the threshold).") var resolveThreshold: Double?
        @Option(help: "Seconds of traffic the metric is measured over (drift_score: how recent the hourly report must be).")
        var windowSeconds: Int?
        @Option(help: "Seconds the condition must hold before the alert fires.") var forSeconds = 60
        @Option(help: "Fewer requests in the window give no verdict.") var minSamples = 20
        @Option var name: String?
        @Option var gateway: String?
        func run() async throws {
            let type =
                metric.hasPrefix("latency")
                ? "latency" : metric == "drift_score" ? "drift" : metric == "feedback_positive_rate" ? "quality" : "error_rate"
            var body: [String: Any] = [
                "endpoint_id": endpoint, "alert_type": type, "metric": metric, "threshold": threshold, "for_seconds": forSeconds,
                "min_samples": minSamples,
            ]
            if let condition { body["condition"] = condition }
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
        commandName: "drift",
        abstract: "Drift of an endpoint's request features: the last hours against the days before, or against the serving version's training data.")

    @Argument(help: "Endpoint name or id.") var endpoint: String
    @Option(help: "Days of baseline before the comparison window (1–30; the serving baseline's).") var baselineDays: Int?
    @Option(help: "Hours compared (1–168).") var comparisonHours = 24
    @Flag(help: "Compare with the training data of the version that served the window.") var training = false
    @Option(help: "With --training: this version's training data instead.") var modelVersionId: String?
    @Option var gateway: String?

    func run() async throws {
        let name = endpoint.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? endpoint
        var query = ["comparison_hours=\(comparisonHours)", "baseline=\(training ? "training" : "serving")"]
        if let baselineDays { query.append("baseline_days=\(baselineDays)") }
        if let modelVersionId {
            query.append("model_version_id=\(modelVersionId.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? modelVersionId)")
        }
        let report = try await APIClient(gateway: gateway).expect(.GET, "/api/v1/monitoring/drift/\(name)?" + query.joined(separator: "&"))
        let baseline = report["baseline"] as? [String: Any] ?? [:]
        let comparison = report["comparison"] as? [String: Any] ?? [:]
        say(
            "\(report["status"] ?? ""): drift \(report["drift_detected"] as? Bool == true ? "detected" : "not detected"), score \(report["drift_score"] ?? 0), severity \(report["severity"] ?? "")"
        )
        let against = baseline["kind"] as? String == "training" ? "training data of v\(baseline["version_number"] ?? "?")" : "serving window"
        say("baseline (\(against)) \(baseline["rows"] ?? 0) rows, comparison \(comparison["rows"] ?? 0) rows")
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
        commandName: "health", abstract: "An endpoint's health: a 0–100 score from errors, latency, alerts, drift and its latest endpoint test.")

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
        if let test = health["last_endpoint_test"] as? [String: Any] {
            let verdict = test["passed"] as? Bool == true ? "passed" : "FAILED: \(test["summary"] ?? "")"
            say("last endpoint test: \(test["test_id"] ?? "") (\(test["triggered_by"] ?? ""), \(test["completed_at"] ?? "")) \(verdict)")
        }
    }
}

/// `slipway feedback`: what users said about an endpoint's predictions (metrics-svc), and sending it to training.
struct FeedbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feedback", abstract: "Feedback on predictions: give, list, stats, flag, to-training, delete.",
        subcommands: [Give.self, List.self, Stats.self, FlagItem.self, ToTraining.self, Delete.self])

    struct Give: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record feedback on an endpoint's prediction.")
        @Argument(help: "Endpoint name or id.") var endpoint: String
        @Option(help: "positive or negative.") var rating: String
        @Option(help: "Who the prediction was for (needed to send it to training).") var customer: String?
        @Option(help: "The recommended product it is about (needed to send it to training).") var product: String?
        @Option(help: "The prediction's X-Request-ID.") var requestId: String?
        @Option var comment: String?
        @Option var gateway: String?
        func run() async throws {
            var body: [String: Any] = ["endpoint_id": endpoint, "rating": rating]
            if let customer { body["customer_id"] = customer }
            if let product { body["product_id"] = product }
            if let requestId { body["request_id"] = requestId }
            if let comment { body["feedback_text"] = comment }
            say(FeedbackCommand.line(try await APIClient(gateway: gateway).expect(.POST, "/api/v1/feedback", body)))
        }
    }

    struct List: AsyncParsableCommand {
        @Option(help: "Only this endpoint's (name or id).") var endpoint: String?
        @Option(help: "positive or negative.") var rating: String?
        @Flag(help: "Only items flagged for review.") var flagged = false
        @Option var page = 1
        @Option var pageSize = 20
        @Option var gateway: String?
        func run() async throws {
            var query = ["page=\(page)", "page_size=\(pageSize)"]
            if let endpoint { query.append("endpoint_id=\(endpoint.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? endpoint)") }
            if let rating { query.append("rating=\(rating)") }
            if flagged { query.append("flagged_only=true") }
            let json = try await APIClient(gateway: gateway).expect(.GET, "/api/v1/feedback?" + query.joined(separator: "&"))
            for item in json["items"] as? [[String: Any]] ?? [] { say(FeedbackCommand.line(item)) }
            say("page \(json["page"] ?? page) of \(json["total_pages"] ?? 0) (\(json["total"] ?? 0) items)")
        }
    }

    struct Stats: AsyncParsableCommand {
        @Option(help: "Only this endpoint's (name or id).") var endpoint: String?
        @Option(help: "Days back from now (1–365).") var days = 30
        @Option var gateway: String?
        func run() async throws {
            var path = "/api/v1/feedback/stats?days=\(days)"
            if let endpoint { path += "&endpoint_id=\(endpoint.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? endpoint)" }
            let json = try await APIClient(gateway: gateway).expect(.GET, path)
            let rate = (json["positive_rate"] as? Double).map { String(format: "%.1f%%", $0) } ?? "–"
            say(
                "\(json["total"] ?? 0) items in \(days) days: \(json["positive"] ?? 0) positive, \(json["negative"] ?? 0) negative (\(rate) positive)"
            )
            say("\(json["with_comments"] ?? 0) with comments, \(json["flagged"] ?? 0) flagged, \(json["sent_to_training"] ?? 0) sent to training")
        }
    }

    struct FlagItem: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "flag", abstract: "Flag an item for review (--clear removes the flag).")
        @Argument var id: String
        @Flag var clear = false
        @Option var gateway: String?
        func run() async throws {
            say(
                FeedbackCommand.line(
                    try await APIClient(gateway: gateway).expect(clear ? .DELETE : .POST, "/api/v1/feedback/\(id)/flag")))
        }
    }

    struct ToTraining: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "to-training", abstract: "Make a positive rating a training row of a dataset: every later run on it trains on it.")
        @Argument var id: String
        @Option(help: "Dataset id or name.") var dataset: String
        @Option var gateway: String?
        func run() async throws {
            let reference = dataset.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? dataset
            let row = try await APIClient(gateway: gateway).expect(.POST, "/api/v1/feedback/\(id)/to-training?dataset_id=\(reference)")
            say(
                "feedback \(id): \(row["customer_id"] ?? "") chose \(row["product_id"] ?? "") — a training row of \(row["dataset_id"] ?? "") from its next run"
            )
        }
    }

    struct Delete: AsyncParsableCommand {
        @Argument var id: String
        @Option var gateway: String?
        func run() async throws {
            _ = try await APIClient(gateway: gateway).expect(.DELETE, "/api/v1/feedback/\(id)")
            say("feedback \(id) deleted")
        }
    }

    static func line(_ item: [String: Any]) -> String {
        let flag = item["flagged"] as? Bool == true ? " flagged" : ""
        let about = [item["customer_id"], item["product_id"]].compactMap { $0 as? String }.filter { !$0.isEmpty }.joined(separator: " → ")
        let comment = (item["feedback_text"] as? String).flatMap { $0.isEmpty ? nil : "\t\"\($0.prefix(60))\"" } ?? ""
        return "\(item["id"] ?? "")\t\(item["rating"] ?? "")\(flag)\t\(item["endpoint_id"] ?? "")\t\(about)\(comment)"
    }
}
