import ArgumentParser
import Foundation

/// `slipway metrics ENDPOINT`: an endpoint's serving figures (metrics-svc), overall and per revision, with a
/// sparkline of requests per minute or hour.
struct MetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics", abstract: "Serving figures of an endpoint: requests, errors, latency percentiles, per revision.")

    @Argument(help: "Endpoint name or id.") var endpoint: String
    @Option(help: "The last N minutes (1–60), per-minute points.") var minutes: Int?
    @Option(help: "The last N hours (1–168; default 1).") var hours: Int?
    @Option var gateway: String?

    func validate() throws {
        if minutes != nil && hours != nil { throw ValidationError("give --minutes or --hours, not both") }
    }

    func run() async throws {
        let api = try APIClient(gateway: gateway)
        let name = endpoint.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? endpoint
        let figures: [String: Any]
        if let minutes {
            figures = try await api.expect(.GET, "/api/v1/monitoring/metrics/realtime/\(name)?minutes=\(minutes)")
        } else {
            let json = try await api.expect(.GET, "/api/v1/monitoring/metrics/performance?endpoint_id=\(name)&hours=\(hours ?? 1)")
            figures = (json["endpoints"] as? [[String: Any]])?.first ?? [:]
        }
        for line in MetricsReport(figures).lines { say(line) }
    }
}

/// The text the command prints, from the API's answer (kept apart from I/O so it can be read in a test).
struct MetricsReport {
    let figures: [String: Any]

    init(_ figures: [String: Any]) { self.figures = figures }

    var lines: [String] {
        let window = figures["window"] as? [String: Any] ?? [:]
        let name = figures["endpoint_name"] as? String ?? figures["endpoint_id"] as? String ?? "?"
        var lines = ["\(name)  \(window["start"] ?? "") → \(window["end"] ?? "")"]
        let series = figures["series"] as? [[String: Any]] ?? []
        let step = window["step"] as? String ?? "minute"
        lines.append("requests per \(step): \(Self.sparkline(series.map { Double($0["requests"] as? Int ?? 0) }))")
        lines.append(Self.row("", "requests", "errors", "err %", "p50 ms", "p95 ms", "p99 ms", "dropped"))
        lines.append(Self.row("all", figures["summary"] as? [String: Any] ?? [:]))
        for revision in figures["by_revision"] as? [[String: Any]] ?? [] {
            let label = "v\(revision["version_number"] ?? "?") \(revision["revision_id"] ?? "")"
            lines.append(Self.row(label, revision["summary"] as? [String: Any] ?? [:]))
        }
        if let summary = figures["summary"] as? [String: Any], summary["complete"] as? Bool == false {
            lines.append("incomplete: serving-router dropped \(summary["logs_dropped"] ?? 0) request logs in this window")
        }
        return lines
    }

    static func row(_ label: String, _ summary: [String: Any]) -> String {
        let requests = summary["requests"] as? [String: Any] ?? [:]
        let latency = summary["latency"] as? [String: Any] ?? [:]
        func ms(_ key: String) -> String { (latency[key] as? Double).map { String(format: "%.2f", $0) } ?? "-" }
        return row(
            label, "\(requests["total"] ?? 0)", "\(requests["failed"] ?? 0)",
            String(format: "%.2f", (summary["error_rate"] as? Double ?? 0) * 100), ms("p50_ms"), ms("p95_ms"), ms("p99_ms"),
            "\(summary["logs_dropped"] ?? 0)")
    }

    static func row(_ columns: String...) -> String {
        let widths = [28, 10, 8, 7, 9, 9, 9, 8]
        return zip(columns, widths).map { column, width in
            column.count >= width ? column + " " : column + String(repeating: " ", count: width - column.count)
        }.joined()
    }

    /// One block character per point, scaled to the largest value; a space for zero.
    static func sparkline(_ values: [Double]) -> String {
        let blocks = Array("▁▂▃▄▅▆▇█")
        guard let top = values.max(), top > 0 else { return String(repeating: " ", count: values.count) }
        return String(values.map { $0 <= 0 ? " " : blocks[min(blocks.count - 1, Int(($0 / top) * Double(blocks.count - 1)))] })
    }
}
