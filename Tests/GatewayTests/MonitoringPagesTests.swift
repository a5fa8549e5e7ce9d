import Foundation
import Testing

@testable import GatewayCore

/// The endpoint page's monitoring tab, rendered from metrics-svc's answers (the whole path, from a browser through a
/// real platform, is the browser check's: it creates an alert there, waits for it to fire and acknowledges it).
@Suite("Monitoring pages")
struct MonitoringPagesTests {
    @Test("the window is one of those offered: absent is a day, anything else a 400 naming hours")
    func windows() throws {
        #expect(try WebPages.monitoringHours(nil).get() == 24)
        #expect(try WebPages.monitoringHours("168").get() == 168)
        for bad in ["0", "2", "720", "abc", "", "-1"] {
            guard case .failure(let problem) = WebPages.monitoringHours(bad) else {
                Issue.record("\(bad) was accepted")
                continue
            }
            #expect(problem.status == .badRequest && problem.message == "hours must be one of 1, 6, 24, 168")
        }
        let nav = WebPages.windowNav(path: "/endpoints/shop", hours: 6)
        #expect(nav.contains(#"<a href="/endpoints/shop?tab=monitoring&amp;hours=6" aria-current="page">6 hours</a>"#))
        #expect(nav.components(separatedBy: "aria-current").count == 2)
    }

    static let start = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

    static func point(_ minute: Int, requests: Int64, p95: Double? = nil) -> ServingPerformance.Point {
        ServingPerformance.Point(
            start: start.addingTimeInterval(Double(minute) * 60), requests: requests, failed: requests / 10, serverErrors: 0, p50Ms: p95,
            p95Ms: p95, p99Ms: p95)
    }

    @Test("quiet steps are drawn at zero requests with no latency; a step with figures keeps them")
    func filledSeries() {
        let series = [Self.point(1, requests: 5, p95: 3), Self.point(3, requests: 7, p95: 4)]
        let filled = WebPages.fill(series, from: Self.start.addingTimeInterval(20), to: Self.start.addingTimeInterval(4 * 60 + 5), step: 60)
        #expect(filled.map(\.requests) == [0, 5, 0, 7, 0])
        #expect(filled.map(\.p95Ms) == [nil, 3, nil, 4, nil])
        #expect(filled.first?.start == Self.start, "the first step is the window's first bucket")
        #expect(WebPages.clock(Self.start.timeIntervalSince1970 + 65, withDay: false) == "08:01")
        #expect(WebPages.clock(Self.start.timeIntervalSince1970, withDay: true) == "01-15 08:00")
    }

    @Test("a time axis spans the window whatever the data, with ticks on whole minutes; counts start at zero")
    func timeAxis() {
        let window = Self.start.timeIntervalSince1970...(Self.start.timeIntervalSince1970 + 3600)
        let axis = Charts.Axis.time(window, format: { WebPages.clock($0, withDay: false) })
        #expect(axis.covering([Self.start.timeIntervalSince1970 + 600]) == window, "a lone point is placed in the window")
        #expect(
            Charts.ticks(window, integral: false, steps: axis.tickSteps).map { WebPages.clock($0, withDay: false) }
                == ["08:00", "08:15", "08:30", "08:45", "09:00"])
        let counts = Charts.Axis(label: "requests", fromZero: true)
        #expect(counts.covering([0, 0]) == 0...1 && counts.covering([3, 9]) == 0...9)
        #expect(counts.covering([-2, 4]) == Charts.range([-2, 4]), "a series below zero is not cut")
        let chart = Charts.line(title: "Requests", series: [.init(name: "requests", points: [])], x: axis, y: counts)
        #expect(chart.contains("no data yet"), "a fixed span does not make data out of nothing")
    }

    static func alert(_ status: String, name: String = "<slow>", acknowledgedBy: String? = nil) -> AlertList.Alert {
        let firing = status == "active" || status == "acknowledged"
        return AlertList.Alert(
            id: "alert-\(status)", endpointId: "ep-1", name: name, metric: "latency_p95_ms", condition: "gt", threshold: 200, windowSeconds: 300,
            forSeconds: 60,
            enabled: true, status: status,
            current: firing ? .init(message: "p95 <b>410</b> ms", firedAt: start, acknowledgedBy: acknowledgedBy) : nil, createdBy: "alice")
    }

    @Test("alerts: an active one can be acknowledged and resolved, an acknowledged one resolved, by editors only; text is escaped")
    func alerts() {
        let alerts = [Self.alert("active"), Self.alert("acknowledged", acknowledgedBy: "bob"), Self.alert("ok")]
        let editor = WebPages.alerts(alerts, endpointID: "ep-1", canEdit: true)
        #expect(editor.contains(#"data-api="/api/v1/monitoring/alerts/alert-active/acknowledge""#))
        #expect(!editor.contains("alert-acknowledged/acknowledge") && editor.contains("alert-acknowledged/resolve"))
        #expect(!editor.contains("alert-ok/"), "nothing fires: nothing to do")
        #expect(
            editor.contains("latency_p95_ms &gt; 200") && editor.contains("p95 &lt;b&gt;410&lt;/b&gt; ms") && editor.contains("acknowledged by bob"))
        #expect(editor.contains(#"data-confirm="Resolve &lt;slow&gt; by hand?""#) && !editor.contains("<slow>"))
        #expect(editor.contains(#"<input type="hidden" name="endpoint_id" value="ep-1">"#), "the new rule form")
        let viewer = WebPages.alerts(alerts, endpointID: "ep-1", canEdit: false)
        #expect(!viewer.contains("data-api=") && viewer.contains("p95 &lt;b&gt;410&lt;/b&gt; ms"))
        #expect(WebPages.alerts([], endpointID: "ep-1", canEdit: false).contains("No alert rules on this endpoint."))
    }

    static func drift(status: String, features: [DriftAnalysis.Feature]) -> DriftAnalysis {
        DriftAnalysis(
            baseline: .init(kind: "serving", rows: 900), comparison: .init(kind: nil, rows: 40), status: status, driftScore: 0.31,
            severity: "high", affectedFeatures: ["<city>"], features: features)
    }

    @Test("drift: too few rows says so with the counts; a verdict lists each feature with its statistics")
    func drift() {
        #expect(
            WebPages.drift(Self.drift(status: "insufficient_data", features: [])).contains(
                "judge drift yet: 40 recent against 900 from the days before"))
        let city = DriftAnalysis.Feature(
            feature: "<city>", kind: "categorical", status: "ok", psi: 0.41, ksStatistic: nil, jensenShannon: 0.2, severity: "high",
            baselineCount: 900, comparisonCount: 40)
        let sparse = DriftAnalysis.Feature(
            feature: "basket", kind: "numeric", status: "insufficient_data", psi: nil, ksStatistic: nil, jensenShannon: nil, severity: "none",
            baselineCount: 900, comparisonCount: 3)
        let html = WebPages.drift(Self.drift(status: "ok", features: [city, sparse]))
        #expect(html.contains("drifted: &lt;city&gt;") && html.contains("<td>0.410</td><td>—</td><td>0.200</td>"))
        #expect(html.contains(#"<span class="badge insufficient_data">insufficient data</span>"#), "a feature without a verdict says why")
    }

    @Test("serving figures: the KPIs, three charts over the window, each version's share; lost logs are said")
    func servingFigures() {
        let latency = ServingPerformance.Latency(p50Ms: 2, p95Ms: 4.25, p99Ms: 9)
        let summary = ServingPerformance.Summary(
            requests: .init(total: 400), errorRate: 0.0125, requestsPerMinute: 6.67, uniqueCustomers: 120, latency: latency, logsDropped: 3,
            complete: false)
        func revision(_ version: Int, _ total: Int64) -> ServingPerformance.Revision {
            .init(
                revisionId: "shop-\(version)-r1", versionNumber: version,
                summary: .init(
                    requests: .init(total: total), errorRate: 0, requestsPerMinute: 0, uniqueCustomers: 0, latency: latency, logsDropped: 0,
                    complete: true))
        }
        let figures = ServingPerformance.Endpoint(
            summary: summary, byRevision: [revision(1, 300), revision(2, 100)], series: [Self.point(2, requests: 400, p95: 4.25)])
        let window = ServingPerformance.Window(start: Self.start, end: Self.start.addingTimeInterval(3599), step: "minute")
        let html = WebPages.servingFigures(figures, window: window)
        #expect(html.contains("<strong>1.25 %</strong><span>Error rate</span>") && html.contains("<strong>4.2 ms</strong><span>p95</span>"))
        #expect(html.contains("lost 3 request logs"))
        #expect(html.components(separatedBy: #"<figure class="chart">"#).count == 4 && html.contains("Requests per minute"))
        #expect(html.contains("<td>v1</td><td>300 (75 %)</td>") && html.contains("<td>v2</td><td>100 (25 %)</td>"))
    }
}
