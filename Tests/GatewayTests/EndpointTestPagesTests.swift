import Foundation
import SlipwayPlatform
import Testing

@testable import GatewayCore

/// The endpoint page's tests tab, rendered from testing-svc's answers (the browser check runs a test and a load test
/// from the page against a real platform).
@Suite("Endpoint test pages")
struct EndpointTestPagesTests {
    static let when = Date(timeIntervalSince1970: 1_800_000_000)

    static func report(_ id: String, status: String, comparison: Bool = false) throws -> TestReportView {
        let json = """
            {"test_id": "\(id)", "status": "\(status)", "version": 2, "triggered_by": "manual", "requested_by": "<ann>",
             "test_results": {"requests_sent": 10, "successful": 9, "p50_latency_ms": 1.5, "p95_latency_ms": 4.25, "p99_latency_ms": 7},
             "validation": {"valid_count": 9, "total_count": 10, "issues": ["sample 3: <b>no products</b>"]},
             "sample_predictions": [{"input": {"customer_id": "C<1>", "visits": 3}, "output": {"product_ids": ["P1", "P<2>"], "scores": [1, 0.5]},
                                     "latency_ms": 1.25}],
             "comparison": \(comparison ? #"{"previous_test_id": "t-0", "previous_version": 1, "samples_compared": 10, "k": 10, "mean_overlap": 0.6, "identical_fraction": 0.2}"# : "null"),
             "checks": [{"kind": "health", "status": "passed", "message": "200 in 2 ms", "duration_ms": 2}],
             "duration_ms": 120, "error": "", "created_at": "2027-01-15T08:00:00Z"}
            """
        return try PlatformJSON.decoder.decode(TestReportView.self, from: Data(json.utf8))
    }

    @Test("a test's report: verdict, figures, checks, validation issues, comparison and samples, all escaped, with its export")
    func report() throws {
        let html = WebPages.testReport(try Self.report("t-1", status: "failed", comparison: true))
        #expect(html.contains(#"<span class="badge failed">failed</span>"#) && html.contains("by &lt;ann&gt;"))
        #expect(html.contains("<strong>9/10</strong><span>Answered</span>") && html.contains("<strong>4.2 ms</strong><span>p95</span>"))
        #expect(html.contains("sample 3: &lt;b&gt;no products&lt;/b&gt;") && !html.contains("<b>no products</b>"))
        #expect(html.contains("Against the test before (v1, t-0): 10 customers, 60 % of the top 10 in common on average, 20 % identical."))
        #expect(html.contains(#"{&quot;customer_id&quot;:&quot;C&lt;1&gt;&quot;,&quot;visits&quot;:3}"#) && html.contains("P1, P&lt;2&gt;"))
        #expect(html.contains(#"<a href="/api/endpoint-tests/t-1/export">Export JSON</a>"#))
    }

    @Test("the history links each test and pages; an empty one explains what a test is")
    func history() throws {
        let history = TestHistory(total: 45, tests: [try Self.report("t-1", status: "passed")])
        let html = WebPages.testHistory(history, path: "/endpoints/shop", page: 2)
        #expect(html.contains(#"<a href="/endpoints/shop?tab=tests&amp;test=t-1">t-1</a>"#) && html.contains("<td>9/10</td><td>4.2 ms</td>"))
        #expect(html.contains("Page 2 of 3") && html.contains("tab=tests&amp;page=3"))
        #expect(WebPages.testHistory(TestHistory(total: 0, tests: []), path: "/endpoints/shop", page: 1).contains("No tests yet"))
        #expect(WebPages.testHistory(TestHistory(total: 3, tests: []), path: "/endpoints/shop", page: 9).contains("past the last one"))
    }

    static func loadTest(status: String, seconds: Int) -> LoadTestView {
        LoadTestView(
            id: "lt-1", status: status, version: 1, config: .init(connections: 8, targetRps: nil, durationSeconds: 10), startedBy: "ann",
            startedAt: when,
            results: status == "running" ? nil : .init(requests: 1200, failed: 3, achievedRps: 120, latency: .init(p50Ms: 2, p99Ms: 9.5)),
            perSecond: (0..<seconds).map { .init(second: $0, requests: 120, errors: 0, p50Ms: 2, p99Ms: 9) }, error: "")
    }

    @Test("a running load test asks to be read again every second and can be cancelled; an ended one shows its figures")
    func loadTests() {
        let running = WebPages.loadTest(Self.loadTest(status: "running", seconds: 3), canEdit: true)
        #expect(running.contains(#"aria-label="Load test" data-poll>"#) && running.contains(#"data-api="/api/load-tests/lt-1/cancel""#))
        #expect(running.components(separatedBy: #"<figure class="chart">"#).count == 3 && !running.contains("no data yet"))
        #expect(!WebPages.loadTest(Self.loadTest(status: "running", seconds: 0), canEdit: false).contains("data-api="))
        let done = WebPages.loadTest(Self.loadTest(status: "completed", seconds: 10), canEdit: true)
        #expect(!done.contains("data-poll") && !done.contains("/cancel") && done.contains("<strong>120</strong><span>Requests/s</span>"))
        let list = WebPages.loadTests([Self.loadTest(status: "completed", seconds: 10)], path: "/endpoints/shop")
        #expect(list.contains(#"<a href="/endpoints/shop?tab=tests&amp;load_test=lt-1">lt-1</a>"#) && list.contains("<td>9.5 ms</td>"))
    }

    @Test("the scheduled check: its state, and a form that keeps its settings, for editors only")
    func scheduledCheck() {
        let check = ScheduledCheck(enabled: true, intervalMinutes: 30, sampleCount: 5, nextRunAt: Self.when, lastStatus: "passed", skipped: 2)
        let editor = WebPages.scheduledCheck(check, endpoint: "shop", canEdit: true)
        #expect(editor.contains("Every 30 minutes with 5 samples") && editor.contains("2 slots skipped"))
        #expect(editor.contains(#"data-api="/api/deployed-endpoints/shop/test/schedule" data-method="PUT""#) && editor.contains(#"value="30""#))
        #expect(
            WebPages.scheduledCheck(nil, endpoint: "shop", canEdit: false)
                == #"<p class="muted">No scheduled check: the endpoint is tested only when someone asks.</p>"#)
    }
}
