import Foundation
import HTTPTypes

/// An endpoint's monitoring tab (`/endpoints/{name}?tab=monitoring&hours=`): its health score, its serving figures
/// over a chosen window as charts (requests, latency percentiles, errors) and per revision (a canary beside the
/// stable one), its alerts with acknowledge and resolve, the drift of its request features, and its feedback. Each
/// part is read from metrics-svc at the same time; a part that cannot be read says so in its place.
extension WebPages {
    /// The windows the tab offers, in hours (metrics-svc answers up to 168).
    static let monitoringWindows: [(hours: Int, title: String)] = [(1, "Last hour"), (6, "6 hours"), (24, "24 hours"), (168, "7 days")]

    /// The tab's `?hours=`: 24 when absent, else one of the offered windows (a 400 naming it otherwise).
    static func monitoringHours(_ text: String?) -> Result<Int, PageProblem> {
        guard let text else { return .success(24) }
        guard let hours = Int(text), monitoringWindows.contains(where: { $0.hours == hours }) else {
            let offered = monitoringWindows.map { String($0.hours) }.joined(separator: ", ")
            return .failure(PageProblem(message: "hours must be one of \(offered)", status: .badRequest))
        }
        return .success(hours)
    }

    /// The tab's content and the status the page answers with: the serving figures' (the tab's reason to be), or a
    /// 200 when they were read; the other parts show their own problems in place.
    func monitoring(_ endpoint: EndpointDetail, hours: Int, user: User) async throws -> (html: String, status: HTTPResponse.Status) {
        let id = Self.pathSegment(endpoint.id)
        async let health = read(MonitoringHealth.self, from: "metrics", "/api/v1/monitoring/health/\(id)", for: user)
        async let figures = read(
            ServingPerformance.self, from: "metrics", "/api/v1/monitoring/metrics/performance?endpoint_id=\(id)&hours=\(hours)", for: user)
        async let alerts = read(AlertList.self, from: "metrics", "/api/v1/monitoring/alerts?endpoint_id=\(id)", for: user)
        // The hourly analysis while it is at most two hours old, as the health score and drift alerts read it; measured
        // now otherwise (a week of samples: most of what this tab would cost).
        async let drift = read(DriftAnalysis.self, from: "metrics", "/api/v1/monitoring/drift/\(id)?recorded_within_minutes=120", for: user)
        async let stats = read(FeedbackStats.self, from: "metrics", "/api/v1/feedback/stats?endpoint_id=\(id)&days=30", for: user)
        async let recent = read(FeedbackPage.self, from: "metrics", "/api/v1/feedback?endpoint_id=\(id)&page_size=10", for: user)
        let canEdit = user.role != "viewer"
        let path = "/endpoints/" + Self.pathSegment(endpoint.name)
        // Serving figures are not events: the tab reads itself again every 15 s.
        var html = #"<span hidden data-poll="15"></span>"# + Self.section(try await health, Self.health)
        html += Self.windowNav(path: path, hours: hours)
        let served = try await figures
        html += Self.section(served) { performance in
            guard let figures = performance.endpoints.first else { return #"<p class="muted">No figures.</p>"# }
            return Self.servingFigures(figures, window: performance.window)
        }
        html += "<h2>Alerts</h2>" + Self.section(try await alerts) { Self.alerts($0.alerts, endpointID: endpoint.id, canEdit: canEdit) }
        html += "<h2>Drift of the request features</h2>"
        switch try await drift {
        case .success(let analysis): html += Self.drift(analysis)
        // Drift cannot be had yet (no requests to compare): that is the endpoint's state, not a fault of the page.
        case .failure(let problem) where problem.status == .conflict: html += #"<p class="muted">\#(HTML.escape(problem.message))</p>"#
        case .failure(let problem): html += problem.html
        }
        html += "<h2>Feedback</h2>"
        html += Self.section(try await stats, Self.feedbackStats)
        html += Self.section(try await recent) { Self.feedbackList($0.items) }
        if case .failure(let problem) = served { return (html, problem.status) }
        return (html, .ok)
    }

    /// A part of a page from what was read, or the reason it could not be read.
    static func section<Value>(_ read: Result<Value, PageProblem>, _ render: (Value) -> String) -> String {
        switch read {
        case .success(let value): render(value)
        case .failure(let problem): problem.html
        }
    }

    static func windowNav(path: String, hours: Int) -> String {
        #"<nav class="tabs windows" aria-label="Window">"#
            + monitoringWindows.map { window in
                #"<a href="\#(path)?tab=monitoring&amp;hours=\#(window.hours)"\#(window.hours == hours ? #" aria-current="page""# : "")>\#(window.title)</a>"#
            }.joined() + "</nav>"
    }

    // MARK: Health

    static func health(_ health: MonitoringHealth) -> String {
        let parts = health.parts.map { part in
            let penalty = part.penalty > 0 ? String(format: "−%.0f", part.penalty) : "0"
            return "<tr><td>\(HTML.escape(part.name))</td><td>\(penalty)</td><td class=\"wrap\">\(HTML.escape(part.detail))</td></tr>"
        }.joined()
        return """
            <section class="health" aria-label="Health">
            <div class="kpi"><strong>\(health.score)</strong><span>Health score (last \(health.minutes) minutes)</span></div>
            <div>\(badge(health.status))
            <div class="table"><table><thead><tr><th scope="col">Part</th><th scope="col">Penalty</th><th scope="col">Why</th></tr></thead>
            <tbody>\(parts)</tbody></table></div></div>
            </section>
            """
    }

    // MARK: Serving figures

    static func servingFigures(_ figures: ServingPerformance.Endpoint, window: ServingPerformance.Window) -> String {
        let summary = figures.summary
        func ms(_ value: Double?) -> String { value.map { String(format: "%.1f ms", $0) } ?? "—" }
        let cards = [
            ("Requests", Charts.number(Double(summary.requests.total))), ("Per minute", Charts.number(summary.requestsPerMinute)),
            ("Error rate", String(format: "%.2f %%", summary.errorRate * 100)), ("p50", ms(summary.latency?.p50Ms)),
            ("p95", ms(summary.latency?.p95Ms)), ("p99", ms(summary.latency?.p99Ms)), ("Customers", Charts.number(Double(summary.uniqueCustomers))),
        ]
        var html = HTML.kpis("Serving figures", cards)
        if !summary.complete {
            html +=
                #"<p class="error" role="status">serving-router lost \#(summary.logsDropped) request logs in this window: the figures miss them.</p>"#
        }
        let step: TimeInterval = window.step == "minute" ? 60 : 3600
        let filled = fill(figures.series, from: window.start, to: window.end, step: step)
        let time = Charts.Axis.time(
            window.start.timeIntervalSince1970...window.end.timeIntervalSince1970, format: { clock($0, withDay: step == 3600) })
        func points(_ value: (ServingPerformance.Point) -> Double?) -> [Charts.Point] {
            filled.compactMap { point in value(point).map { Charts.Point(x: point.start.timeIntervalSince1970, y: $0) } }
        }
        let per = step == 60 ? "minute" : "hour"
        html += """
            <div class="charts">
            \(Charts.line(title: "Requests per \(per)", series: [.init(name: "requests", points: points { Double($0.requests) })], x: time, y: Charts.Axis(label: "requests", integral: true, fromZero: true)))
            \(Charts.line(
                title: "Latency (ms)",
                series: [
                    .init(name: "p50", points: points(\.p50Ms)), .init(name: "p95", points: points(\.p95Ms)), .init(name: "p99", points: points(\.p99Ms)),
                ], x: time, y: Charts.Axis(label: "ms", fromZero: true)))
            \(Charts.line(
                title: "Errors per \(per)",
                series: [.init(name: "failed", points: points { Double($0.failed) }), .init(name: "5xx", points: points { Double($0.serverErrors) })],
                x: time, y: Charts.Axis(label: "errors", integral: true, fromZero: true)))
            </div>
            """
        html += "<h2>By version</h2>"
        guard !figures.byRevision.isEmpty else { return html + #"<p class="muted">No version answered in this window.</p>"# }
        let rows = figures.byRevision.map { revision in
            let share = summary.requests.total > 0 ? Double(revision.summary.requests.total) / Double(summary.requests.total) * 100 : 0
            return """
                <tr><td>v\(revision.versionNumber)</td><td>\(Charts.number(Double(revision.summary.requests.total))) (\(String(format: "%.0f", share)) %)</td>
                <td>\(String(format: "%.2f %%", revision.summary.errorRate * 100))</td><td>\(ms(revision.summary.latency?.p50Ms))</td>
                <td>\(ms(revision.summary.latency?.p95Ms))</td><td>\(ms(revision.summary.latency?.p99Ms))</td>
                <td><code>\(HTML.escape(revision.revisionId))</code></td></tr>
                """
        }.joined()
        return html + """
            <div class="table"><table>
            <thead><tr><th scope="col">Version</th><th scope="col">Requests</th><th scope="col">Error rate</th><th scope="col">p50</th>
            <th scope="col">p95</th><th scope="col">p99</th><th scope="col">Revision</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """
    }

    /// The series with a zero point for every step of the window that had no requests (metrics-svc answers only
    /// the steps that had some): a quiet hour is drawn at zero, not bridged by a line. Latencies stay absent there.
    static func fill(_ series: [ServingPerformance.Point], from start: Date, to end: Date, step: TimeInterval) -> [ServingPerformance.Point] {
        let byStart = Dictionary(series.map { ($0.start, $0) }, uniquingKeysWith: { first, _ in first })
        let first = (start.timeIntervalSince1970 / step).rounded(.down) * step
        var filled: [ServingPerformance.Point] = []
        var at = first
        while at <= end.timeIntervalSince1970 {
            let date = Date(timeIntervalSince1970: at)
            filled.append(byStart[date] ?? ServingPerformance.Point(start: date, requests: 0, failed: 0, serverErrors: 0))
            at += step
        }
        return filled
    }

    /// A chart's time tick: "14:05", or "12-03 14:00" when the window spans days (UTC, as the figures are bucketed).
    static func clock(_ seconds: Double, withDay: Bool) -> String {
        // "2026-12-06T14:05:00Z"
        let iso = Array(Date(timeIntervalSince1970: seconds).ISO8601Format())
        let time = String(iso[11..<16])
        return withDay ? String(iso[5..<10]) + " " + time : time
    }

    // MARK: Alerts

    static func alerts(_ alerts: [AlertList.Alert], endpointID: String, canEdit: Bool) -> String {
        var html = ""
        if alerts.isEmpty {
            html += #"<p class="muted">No alert rules on this endpoint.</p>"#
        } else {
            var rows = ""
            for alert in alerts {
                let symbol = ["gt": ">", "lt": "<", "eq": "="][alert.condition] ?? alert.condition
                var actions = ""
                if canEdit, alert.status == "active" {
                    actions += """
                        <form data-api="/api/v1/monitoring/alerts/\(pathSegment(alert.id))/acknowledge">\
                        <button type="submit" class="secondary">Acknowledge</button></form>
                        """
                }
                if canEdit, alert.status == "active" || alert.status == "acknowledged" {
                    actions += """
                        <form data-api="/api/v1/monitoring/alerts/\(pathSegment(alert.id))/resolve" data-confirm="Resolve \(HTML.escape(alert.name)) by hand?">\
                        <button type="submit" class="secondary">Resolve</button></form>
                        """
                }
                let firing =
                    alert.current.map { fired in
                        var text = "\(HTML.escape(fired.message)) · since \(day(fired.firedAt))"
                        if let by = fired.acknowledgedBy { text += " · acknowledged by \(HTML.escape(by))" }
                        return text
                    } ?? (alert.enabled ? "" : #"<span class="muted">disabled</span>"#)
                rows += """
                    <tr><td>\(HTML.escape(alert.name))</td><td><code>\(HTML.escape(alert.metric)) \(HTML.escape(symbol)) \(Charts.number(alert.threshold))</code>
                    <div class="muted">for \(alert.forSeconds) s over \(alert.windowSeconds) s</div></td>
                    <td>\(badge(alert.status))</td><td class="wrap">\(firing)</td><td>\(HTML.escape(alert.createdBy))</td>
                    <td><div class="row-actions">\(actions)</div></td></tr>
                    """
            }
            html += """
                <div class="table alerts"><table>
                <thead><tr><th scope="col">Alert</th><th scope="col">Rule</th><th scope="col">Status</th><th scope="col">Firing</th>
                <th scope="col">By</th><th scope="col"><span class="muted">Actions</span></th></tr></thead>
                <tbody>\(rows)</tbody></table></div>
                """
        }
        if canEdit {
            html += """
                <form class="action" data-api="/api/v1/monitoring/alerts">
                <h3>New alert rule</h3>
                <input type="hidden" name="endpoint_id" value="\(HTML.escape(endpointID))">
                <label>Name <input name="name" maxlength="200" placeholder="p95 too slow"></label>
                \(HTML.select("alert_type", "Type", [("latency", "Latency (p95 ms)"), ("error_rate", "Error rate (0–1)"), ("drift", "Drift score"), ("quality", "Positive feedback rate")], "latency"))
                \(HTML.select("condition", "When the value is", [("gt", "above"), ("lt", "below")], "gt"))
                <label>Threshold <input type="number" name="threshold" step="any" required></label>
                <label>For (seconds) <input type="number" name="for_seconds" min="0" value="60"></label>
                <button type="submit">Create</button>
                </form>
                """
        }
        return html + #"<p class="error" role="alert" id="action-error" hidden></p>"#
    }

    // MARK: Drift

    static func drift(_ analysis: DriftAnalysis) -> String {
        func value(_ number: Double?) -> String { number.map { String(format: "%.3f", $0) } ?? "—" }
        let against = analysis.baseline.kind == "training" ? "rows of the training data" : "from the days before"
        guard analysis.status == "ok" else {
            return """
                <p class="muted">Not enough sampled requests to judge drift yet: \(analysis.comparison.rows) recent against \
                \(analysis.baseline.rows) \(against).</p>
                """
        }
        var html = """
            <p>\(badge(analysis.severity)) score \(value(analysis.driftScore)) · \(analysis.comparison.rows) sampled recent requests against \
            \(analysis.baseline.rows) \(against)\
            \(analysis.affectedFeatures.isEmpty ? "" : " · drifted: " + analysis.affectedFeatures.map(HTML.escape).joined(separator: ", "))\
            \(analysis.analyzedAt.map { " · as of " + day($0) } ?? "")</p>
            """
        guard !analysis.features.isEmpty else { return html + #"<p class="muted">No features were sampled.</p>"# }
        let rows = analysis.features.map { feature in
            """
            <tr><td>\(HTML.escape(feature.feature))</td><td>\(HTML.escape(feature.kind))</td><td>\(badge(feature.status == "ok" ? feature.severity : feature.status))</td>
            <td>\(value(feature.psi))</td><td>\(value(feature.ksStatistic))</td><td>\(value(feature.jensenShannon))</td>
            <td>\(feature.baselineCount)</td><td>\(feature.comparisonCount)</td></tr>
            """
        }.joined()
        html += """
            <div class="table"><table>
            <thead><tr><th scope="col">Feature</th><th scope="col">Kind</th><th scope="col">Severity</th><th scope="col">PSI</th>
            <th scope="col">KS</th><th scope="col">Jensen–Shannon</th><th scope="col">Baseline rows</th><th scope="col">Recent rows</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """
        return html
    }

    // MARK: Feedback

    static func feedbackStats(_ stats: FeedbackStats) -> String {
        let cards = [
            ("Feedback (30 days)", String(stats.total)), ("Positive", stats.positiveRate.map { String(format: "%.0f %%", $0) } ?? "—"),
            ("Negative", String(stats.negative)), ("Flagged", String(stats.flagged)), ("Sent to training", String(stats.sentToTraining)),
        ]
        return HTML.kpis("Feedback figures", cards)
    }

    static func feedbackList(_ items: [FeedbackPage.Item]) -> String {
        guard !items.isEmpty else {
            return #"<p class="muted">No feedback yet: clients send it with <code>POST /api/v1/feedback</code>.</p>"#
        }
        let rows = items.map { item in
            """
            <tr><td>\(badge(item.rating))\(item.flagged ? " " + badge("flagged") : "")</td><td>\(HTML.escape(item.customerId))</td>
            <td>\(HTML.escape(item.productId))</td><td class="wrap">\(HTML.escape(item.feedbackText))</td><td>\(HTML.escape(item.submittedBy))</td>
            <td><time datetime="\(item.createdAt.ISO8601Format())">\(day(item.createdAt))</time></td></tr>
            """
        }.joined()
        return """
            <div class="table"><table>
            <thead><tr><th scope="col">Rating</th><th scope="col">Customer</th><th scope="col">Product</th><th scope="col">Comment</th>
            <th scope="col">By</th><th scope="col">When</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """
    }
}

// What the monitoring tab reads of metrics-svc.

/// `GET /api/v1/monitoring/health/{endpoint}`.
struct MonitoringHealth: Decodable {
    struct Part: Decodable {
        var name: String
        var penalty: Double
        var detail: String
    }

    var score: Int
    var status: String
    var minutes: Int
    var parts: [Part]
}

/// `GET /api/v1/monitoring/metrics/performance?endpoint_id=`.
struct ServingPerformance: Decodable {
    struct Window: Decodable {
        var start: Date
        var end: Date
        var step: String
    }

    struct Latency: Decodable {
        var p50Ms: Double
        var p95Ms: Double
        var p99Ms: Double
    }

    struct Summary: Decodable {
        struct Requests: Decodable {
            var total: Int64
        }

        var requests: Requests
        var errorRate: Double
        var requestsPerMinute: Double
        var uniqueCustomers: Int
        var latency: Latency?
        var logsDropped: Int64
        var complete: Bool
    }

    struct Revision: Decodable {
        var revisionId: String
        var versionNumber: Int
        var summary: Summary
    }

    struct Point: Decodable {
        var start: Date
        var requests: Int64
        var failed: Int64
        var serverErrors: Int64
        var p50Ms: Double?
        var p95Ms: Double?
        var p99Ms: Double?
    }

    struct Endpoint: Decodable {
        var summary: Summary
        var byRevision: [Revision]
        var series: [Point]
    }

    var window: Window
    var endpoints: [Endpoint]
}

/// `GET /api/v1/monitoring/alerts?endpoint_id=`.
struct AlertList: Decodable {
    struct Fired: Decodable {
        var message: String
        var firedAt: Date
        var acknowledgedBy: String?
    }

    struct Alert: Decodable {
        var id: String
        var endpointId: String
        var name: String
        var metric: String
        var condition: String
        var threshold: Double
        var windowSeconds: Int
        var forSeconds: Int
        var enabled: Bool
        var status: String
        var current: Fired?
        var createdBy: String
    }

    var alerts: [Alert]
}

/// `GET /api/v1/monitoring/drift/{endpoint}`.
struct DriftAnalysis: Decodable {
    struct Side: Decodable {
        var kind: String?
        var rows: Int
    }

    struct Feature: Decodable {
        var feature: String
        var kind: String
        var status: String
        var psi: Double?
        var ksStatistic: Double?
        var jensenShannon: Double?
        var severity: String
        var baselineCount: Int
        var comparisonCount: Int
    }

    var baseline: Side
    var comparison: Side
    /// `ok`, or `insufficient_data`.
    var status: String
    var driftScore: Double
    var severity: String
    var affectedFeatures: [String]
    var features: [Feature]
    /// The instant the analysis is as of (the hourly one's, or now).
    var analyzedAt: Date?
}

/// `GET /api/v1/feedback/stats?endpoint_id=`.
struct FeedbackStats: Decodable {
    var total: Int64
    var negative: Int64
    var positiveRate: Double?
    var flagged: Int64
    var sentToTraining: Int64
}

/// `GET /api/v1/feedback?endpoint_id=`.
struct FeedbackPage: Decodable {
    struct Item: Decodable {
        var rating: String
        var customerId: String
        var productId: String
        var feedbackText: String
        var flagged: Bool
        var submittedBy: String
        var createdAt: Date
    }

    var items: [Item]
}
