import Foundation
import HTTPTypes
import SlipwayPlatform

/// An endpoint's tests tab (`/endpoints/{name}?tab=tests`): run an endpoint test and read its report (checks,
/// latencies, validation, the comparison with the test before, sample predictions, export), the history of tests a
/// page at a time, the scheduled check, and load tests — started here, with a chart of each second that grows while
/// the test runs. Everything is testing-svc's; the page only reads and links it.
extension WebPages {
    static let testsPageSize = 20

    /// What the tab shows besides the lists: `?test=` a test's report, `?load_test=` a load test, `?page=` of the history.
    struct TestsSelection {
        var test: String?
        var loadTest: String?
        var page = 1
    }

    func endpointTests(_ endpoint: EndpointDetail, selection: TestsSelection, user: User) async throws -> (html: String, status: HTTPResponse.Status)
    {
        let name = Self.pathSegment(endpoint.name)
        let offset = (selection.page - 1) * Self.testsPageSize
        async let history = read(
            TestHistory.self, from: "testing", "/api/deployed-endpoints/\(name)/test?limit=\(Self.testsPageSize)&offset=\(offset)", for: user)
        async let loads = read(LoadTestList.self, from: "testing", "/api/deployed-endpoints/\(name)/load-test?limit=10", for: user)
        async let check = read(ScheduledCheck.self, from: "testing", "/api/deployed-endpoints/\(name)/test/schedule", for: user)
        // Read only when asked for.
        func readIfAsked<Answer: Decodable>(_ type: Answer.Type, _ path: String, _ id: String?) async throws -> Result<Answer, PageProblem>? {
            guard let id else { return nil }
            return try await read(type, from: "testing", path + Self.pathSegment(id), for: user)
        }
        async let report = readIfAsked(TestReportView.self, "/api/endpoint-tests/", selection.test)
        async let load = readIfAsked(LoadTestView.self, "/api/load-tests/", selection.loadTest)
        let canEdit = user.role != "viewer"
        let path = "/endpoints/" + name
        var html = ""
        var status = HTTPResponse.Status.ok
        // A report or load test asked for by id comes first: it is what the user came to see.
        if let report = try await report {
            if case .failure(let problem) = report { status = problem.status }
            html += Self.section(report) { Self.testReport($0) }
        }
        if let load = try await load {
            if case .failure(let problem) = load { status = problem.status }
            html += Self.section(load) { Self.loadTest($0, canEdit: canEdit) }
        }
        if canEdit { html += Self.testForms(endpoint: endpoint.name, path: path) }
        html += "<h2>Endpoint tests</h2>"
        let tests = try await history
        if case .failure(let problem) = tests, status == .ok { status = problem.status }
        html += Self.section(tests) { Self.testHistory($0, path: path, page: selection.page) }
        html += "<h2>Scheduled check</h2>"
        switch try await check {
        case .success(let check): html += Self.scheduledCheck(check, endpoint: endpoint.name, canEdit: canEdit)
        // No check configured is a state of the endpoint, not a failure of the page.
        case .failure(let problem) where problem.status == .notFound:
            html += Self.scheduledCheck(nil, endpoint: endpoint.name, canEdit: canEdit)
        case .failure(let problem): html += problem.html
        }
        html += "<h2>Load tests</h2>" + Self.section(try await loads) { Self.loadTests($0.loadTests, path: path) }
        return (html + #"<p class="error" role="alert" id="action-error" hidden></p>"#, status)
    }

    /// The forms that start a test and a load test; each opens what it started.
    static func testForms(endpoint: String, path: String) -> String {
        let segment = pathSegment(endpoint)
        return """
            <div class="forms">
            <form class="action" data-api="/api/deployed-endpoints/\(segment)/test" data-redirect="\(path)?tab=tests&test={test_id}">
            <h2>Test the endpoint</h2>
            <input type="hidden" name="triggered_by" value="manual">
            <label>Samples <input type="number" name="sample_count" min="1" max="1000" value="10" required></label>
            <label>Batch size <input type="number" name="batch_size" min="1" max="100" value="1"></label>
            <label>Top K <input type="number" name="top_k" min="1" max="100" value="10"></label>
            <button type="submit">Run test</button>
            </form>
            <form class="action" data-api="/api/deployed-endpoints/\(segment)/load-test" data-redirect="\(path)?tab=tests&load_test={id}">
            <h2>Load test</h2>
            <label>Connections <input type="number" name="connections" min="1" max="256" value="8" required></label>
            <label>Seconds <input type="number" name="duration_seconds" min="1" max="300" value="10" required></label>
            <label>Requests/s (empty: as fast as answered) <input type="number" name="target_rps" min="1" max="100000"></label>
            <button type="submit">Start</button>
            </form>
            </div>
            """
    }

    // MARK: Endpoint tests

    static func testHistory(_ history: TestHistory, path: String, page: Int) -> String {
        guard !history.tests.isEmpty else {
            return history.total > 0
                ? #"<p class="muted">Page \#(page) is past the last one.</p>"#
                : #"<p class="muted">No tests yet: a test sends rows of the served version's training data through the router and checks the answers.</p>"#
        }
        let rows = history.tests.map { test in
            let requests = test.testResults.map { "\($0.successful)/\($0.requestsSent)" } ?? "—"
            let p95 = test.testResults.map { String(format: "%.1f ms", $0.p95LatencyMs) } ?? "—"
            return """
                <tr><td><a href="\(path)?tab=tests&amp;test=\(pathSegment(test.testId))">\(HTML.escape(String(test.testId.suffix(12))))</a></td>
                <td>v\(test.version)</td><td>\(badge(test.status))</td><td>\(requests)</td><td>\(p95)</td>
                <td>\(HTML.escape(test.triggeredBy))</td><td>\(HTML.escape(test.requestedBy))</td>
                <td><time datetime="\(test.createdAt.ISO8601Format())">\(day(test.createdAt))</time></td></tr>
                """
        }.joined()
        let pages = max(1, (history.total + testsPageSize - 1) / testsPageSize)
        return """
            <div class="table"><table>
            <thead><tr><th scope="col">Test</th><th scope="col">Version</th><th scope="col">Result</th><th scope="col">Answered</th>
            <th scope="col">p95</th><th scope="col">Trigger</th><th scope="col">By</th><th scope="col">When</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """ + (pages > 1 ? HTML.pager(path: path, query: [("tab", "tests")], page: page, pages: pages) : "")
    }

    /// A test's report: its verdict and checks, its figures, what failed validation, how its answers compare with the
    /// test before, and a few of its predictions.
    static func testReport(_ report: TestReportView) -> String {
        var html = """
            <section class="card report" aria-label="Test report">
            <h2>Test \(HTML.escape(report.testId)) \(badge(report.status))</h2>
            <p>v\(report.version) · \(HTML.escape(report.triggeredBy)) · by \(HTML.escape(report.requestedBy)) · \(day(report.createdAt))\
            \(report.durationMs.map { " · \($0) ms" } ?? "") · <a href="/api/endpoint-tests/\(pathSegment(report.testId))/export">Export JSON</a></p>
            """
        if !report.error.isEmpty { html += #"<p class="error">\#(HTML.escape(report.error))</p>"# }
        if let results = report.testResults {
            let cards = [
                ("Answered", "\(results.successful)/\(results.requestsSent)"), ("p50", String(format: "%.1f ms", results.p50LatencyMs)),
                ("p95", String(format: "%.1f ms", results.p95LatencyMs)), ("p99", String(format: "%.1f ms", results.p99LatencyMs)),
                ("Valid answers", report.validation.map { "\($0.validCount)/\($0.totalCount)" } ?? "—"),
            ]
            html += HTML.kpis("Test figures", cards)
        }
        if !report.checks.isEmpty {
            html +=
                #"<ul class="checks">"#
                + report.checks.map { check in
                    "<li>\(badge(check.status)) <strong>\(HTML.escape(check.kind))</strong> \(HTML.escape(check.message)) <span class=\"muted\">\(check.durationMs) ms</span></li>"
                }.joined() + "</ul>"
        }
        if let issues = report.validation?.issues, !issues.isEmpty {
            html += "<h3>Validation issues</h3><ul>" + issues.prefix(20).map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul>"
        }
        if let comparison = report.comparison {
            html += String(
                format: "<p>Against the test before (v%d, %@): %d customers, %.0f %% of the top %d in common on average, %.0f %% identical.</p>",
                comparison.previousVersion, HTML.escape(comparison.previousTestId), comparison.samplesCompared, comparison.meanOverlap * 100,
                comparison.k,
                comparison.identicalFraction * 100)
        }
        if !report.samplePredictions.isEmpty {
            let rows = report.samplePredictions.prefix(5).map { sample in
                """
                <tr><td class="wrap"><code>\(HTML.escape(compactJSON(sample.input)))</code></td>
                <td class="wrap">\(sample.output.productIds.prefix(10).map(HTML.escape).joined(separator: ", "))</td>
                <td>\(String(format: "%.1f ms", sample.latencyMs))</td></tr>
                """
            }.joined()
            html += """
                <h3>Sample predictions</h3><div class="table"><table>
                <thead><tr><th scope="col">Input</th><th scope="col">Products</th><th scope="col">Latency</th></tr></thead>
                <tbody>\(rows)</tbody></table></div>
                """
        }
        return html + "</section>"
    }

    /// A value as one line of JSON with its keys sorted.
    static func compactJSON(_ value: EmbeddedJSON) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "(not readable)"
    }

    static func scheduledCheck(_ check: ScheduledCheck?, endpoint: String, canEdit: Bool) -> String {
        var html: String
        if let check {
            html =
                check.enabled
                ? "<p>Every \(check.intervalMinutes) minutes with \(check.sampleCount) samples\(check.nextRunAt.map { " · next \(day($0))" } ?? "")\(check.lastStatus.map { " · last " + badge($0) } ?? "")\(check.skipped > 0 ? " · \(check.skipped) slots skipped" : "").</p>"
                : #"<p class="muted">Paused.</p>"#
        } else {
            html = #"<p class="muted">No scheduled check: the endpoint is tested only when someone asks.</p>"#
        }
        guard canEdit else { return html }
        return html + """
            <form class="action" data-api="/api/deployed-endpoints/\(pathSegment(endpoint))/test/schedule" data-method="PUT">
            <label>Every (minutes) <input type="number" name="interval_minutes" min="1" max="1440" value="\(check?.intervalMinutes ?? 15)" required></label>
            <label>Samples <input type="number" name="sample_count" min="1" max="1000" value="\(check?.sampleCount ?? 10)" required></label>
            <label class="check"><input type="checkbox" name="enabled"\(check?.enabled ?? true ? " checked" : "")> Enabled</label>
            <button type="submit">Save</button>
            </form>
            """
    }

    // MARK: Load tests

    static func loadTests(_ tests: [LoadTestView], path: String) -> String {
        guard !tests.isEmpty else { return #"<p class="muted">No load tests yet.</p>"# }
        let rows = tests.map { test in
            """
            <tr><td><a href="\(path)?tab=tests&amp;load_test=\(pathSegment(test.id))">\(HTML.escape(String(test.id.suffix(12))))</a></td>
            <td>v\(test.version)</td><td>\(badge(test.status))</td><td>\(test.config.connections)</td>
            <td>\(test.results.map { String(format: "%.0f", $0.achievedRps) } ?? "—")</td>
            <td>\(test.results.map { String(format: "%.1f ms", $0.latency.p99Ms) } ?? "—")</td>
            <td>\(test.results.map { "\($0.failed)" } ?? "—")</td><td>\(HTML.escape(test.startedBy))</td>
            <td><time datetime="\(test.startedAt.ISO8601Format())">\(day(test.startedAt))</time></td></tr>
            """
        }.joined()
        return """
            <div class="table"><table>
            <thead><tr><th scope="col">Load test</th><th scope="col">Version</th><th scope="col">Status</th><th scope="col">Connections</th>
            <th scope="col">Requests/s</th><th scope="col">p99</th><th scope="col">Failed</th><th scope="col">By</th><th scope="col">When</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            """
    }

    /// A load test with a chart of each second; while it runs the page asks for itself again every second
    /// (`data-poll`), so the chart grows as the seconds pass.
    static func loadTest(_ test: LoadTestView, canEdit: Bool) -> String {
        let running = test.status == "running"
        let seconds = Charts.Axis(label: "second", format: { String(Int($0)) }, integral: true, fromZero: true)
        let throughput = test.perSecond.map { Charts.Point(x: Double($0.second), y: Double($0.requests)) }
        var html = """
            <section class="card report" aria-label="Load test"\(running ? " data-poll" : "")>
            <h2>Load test \(HTML.escape(test.id)) \(badge(test.status))</h2>
            <p>v\(test.version) · \(test.config.connections) connections · \(test.config.durationSeconds) s\
            \(test.config.targetRps.map { " at \($0) requests/s" } ?? " as fast as answered") · by \(HTML.escape(test.startedBy)) · \(day(test.startedAt))</p>
            """
        if canEdit, running {
            html += """
                <form data-api="/api/load-tests/\(pathSegment(test.id))/cancel"><button type="submit" class="secondary">Cancel</button></form>
                """
        }
        if !test.error.isEmpty { html += #"<p class="error">\#(HTML.escape(test.error))</p>"# }
        if let results = test.results {
            let cards = [
                ("Requests", "\(results.requests)"), ("Requests/s", String(format: "%.0f", results.achievedRps)), ("Failed", "\(results.failed)"),
                ("p50", String(format: "%.1f ms", results.latency.p50Ms)), ("p99", String(format: "%.1f ms", results.latency.p99Ms)),
            ]
            html += HTML.kpis("Load test figures", cards)
        }
        html += """
            <div class="charts">
            \(Charts.line(title: "Requests per second", series: [.init(name: "requests", points: throughput), .init(name: "errors", points: test.perSecond.map { Charts.Point(x: Double($0.second), y: Double($0.errors)) })], x: seconds, y: Charts.Axis(label: "requests", fromZero: true)))
            \(Charts.line(title: "Latency (ms)", series: [.init(name: "p50", points: test.perSecond.map { Charts.Point(x: Double($0.second), y: $0.p50Ms) }), .init(name: "p99", points: test.perSecond.map { Charts.Point(x: Double($0.second), y: $0.p99Ms) })], x: seconds, y: Charts.Axis(label: "ms", fromZero: true)))
            </div>
            """
        return html + "</section>"
    }
}

// What the tests tab reads of testing-svc.

/// `GET /api/deployed-endpoints/{name}/test`.
struct TestHistory: Decodable {
    var total: Int
    var tests: [TestReportView]
}

/// `GET /api/endpoint-tests/{id}`.
struct TestReportView: Decodable {
    struct Results: Decodable {
        var requestsSent: Int64
        var successful: Int64
        var p50LatencyMs: Double
        var p95LatencyMs: Double
        var p99LatencyMs: Double
    }

    struct Validation: Decodable {
        var validCount: Int
        var totalCount: Int
        var issues: [String]
    }

    struct Comparison: Decodable {
        var previousTestId: String
        var previousVersion: Int
        var samplesCompared: Int
        var k: Int
        var meanOverlap: Double
        var identicalFraction: Double
    }

    struct Check: Decodable {
        var kind: String
        var status: String
        var message: String
        var durationMs: Int64
    }

    struct Sample: Decodable {
        struct Output: Decodable {
            var productIds: [String]
        }

        /// The request's features as sent.
        var input: EmbeddedJSON
        var output: Output
        var latencyMs: Double
    }

    var testId: String
    var status: String
    var version: Int
    var triggeredBy: String
    var requestedBy: String
    var testResults: Results?
    var validation: Validation?
    var samplePredictions: [Sample]
    var comparison: Comparison?
    var checks: [Check]
    var durationMs: Int64?
    var error: String
    var createdAt: Date
}

/// `GET /api/deployed-endpoints/{name}/test/schedule`.
struct ScheduledCheck: Decodable {
    var enabled: Bool
    var intervalMinutes: Int
    var sampleCount: Int
    var nextRunAt: Date?
    var lastStatus: String?
    var skipped: Int
}

/// `GET /api/load-tests/{id}`, and each of `GET /api/deployed-endpoints/{name}/load-test`.
struct LoadTestView: Decodable {
    struct Config: Decodable {
        var connections: Int
        var targetRps: Int?
        var durationSeconds: Int
    }

    struct Results: Decodable {
        struct Latency: Decodable {
            var p50Ms: Double
            var p99Ms: Double
        }

        var requests: Int64
        var failed: Int64
        var achievedRps: Double
        var latency: Latency
    }

    struct Second: Decodable {
        var second: Int
        var requests: Int64
        var errors: Int64
        var p50Ms: Double
        var p99Ms: Double
    }

    var id: String
    var status: String
    var version: Int
    var config: Config
    var startedBy: String
    var startedAt: Date
    var results: Results?
    var perSecond: [Second]
    var error: String
}

/// `GET /api/deployed-endpoints/{name}/load-test`.
struct LoadTestList: Decodable {
    var loadTests: [LoadTestView]
}
