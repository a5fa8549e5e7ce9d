import Foundation
import SlipwayPlatform
import Testing

@testable import GatewayCore

/// A model's timeline, rendered from events as the services' stores answer them (the browser check reads one of a
/// real platform: a run, a deployment, an alert and who caused each).
@Suite("Timeline pages")
struct TimelinePagesTests {
    static func event(
        _ type: String, aggregate: (String, String), at seconds: Double, actor: String = "ann", payload: String = "{}", id: String? = nil
    ) throws -> EventView {
        let json = """
            {"event_id": "\(id ?? "e-\(Int(seconds))")", "event_type": "\(type)", "aggregate_type": "\(aggregate.0)", "aggregate_id": "\(aggregate.1)",
             "version": 1, "source_service": "\(type.split(separator: ".")[1])", "occurred_at": "\(ISO8601.millisecondString(Date(timeIntervalSince1970: 1_800_000_000 + seconds)))",
             "correlation_id": "c-1", "causation_id": "", "actor": "\(actor)", "payload": \(String(decoding: try JSONEncoder().encode(payload), as: UTF8.self))}
            """
        return try PlatformJSON.decoder.decode(EventView.self, from: Data(json.utf8))
    }

    @Test("the context filter is one of the timeline's contexts; anything else is a 400 naming context")
    func contexts() throws {
        #expect(try WebPages.timelineContext(nil).get() == nil && WebPages.timelineContext("").get() == nil)
        #expect(try WebPages.timelineContext("deploy").get() == "deploy")
        guard case .failure(let problem) = WebPages.timelineContext("gateway") else {
            Issue.record("gateway was accepted")
            return
        }
        #expect(problem.status == .badRequest && problem.message.hasPrefix("context must be one of training, registry"))
    }

    @Test("events from several services merge newest first, cut at the limit; an instant's tie is broken by id")
    func merging() throws {
        let events = [
            try Self.event("slipway.training.v1.TrainingRunCompleted", aggregate: ("TrainingRun", "recs-1"), at: 10),
            try Self.event("slipway.deploy.v1.DeploymentRequested", aggregate: ("Endpoint", "shop"), at: 30),
            try Self.event("slipway.metrics.v1.AlertFired", aggregate: ("AlertRule", "alert-1"), at: 20, id: "b"),
            try Self.event("slipway.metrics.v1.AlertResolved", aggregate: ("AlertRule", "alert-1"), at: 20, id: "c"),
        ]
        #expect(WebPages.newest(events, limit: 3).map(\.eventId) == ["e-30", "c", "b"])
    }

    @Test("an event reads as words: its type, what it is about (linked), who, the telling fields, the payload in full")
    func rendering() throws {
        #expect(WebPages.humanized("slipway.deploy.v1.DeploymentRequested") == "Deployment requested")
        #expect(WebPages.enumWords("TRAFFIC_SHIFT_REASON_ACTIVATION", key: "reason") == "activation")
        #expect(WebPages.enumWords("auto-deploy is DISABLED", key: "reason") == "auto-deploy is DISABLED")
        let payload = #"{"strategy": "DEPLOY_STRATEGY_GRADUAL", "reason": "<b>canary</b>", "passed": true, "epoch": 3, "ignored": "x"}"#
        let (summary, pretty) = WebPages.describe(payload)
        #expect(summary.contains("reason</span> &lt;b&gt;canary&lt;/b&gt;") && summary.contains("strategy</span> gradual"))
        #expect(summary.contains("epoch</span> 3") && summary.contains("passed</span> yes") && !summary.contains("ignored"))
        #expect(pretty.contains(#""ignored" : "x""#) || pretty.contains(#""ignored": "x""#))
        #expect(WebPages.describe("not json") == ("", "not json"))

        let events = [
            try Self.event("slipway.deploy.v1.DeploymentRequested", aggregate: ("Endpoint", "shop"), at: 30, actor: "<bob>", payload: payload),
            try Self.event("slipway.training.v1.TrainingRunCompleted", aggregate: ("TrainingRun", "recs-1"), at: 10, actor: ""),
        ]
        let html = WebPages.timeline(events, model: "recs", context: "deploy")
        #expect(html.contains(#"<a href="/models/recs?tab=timeline&amp;context=deploy" aria-current="page">Deployment</a>"#))
        #expect(html.contains(#"endpoint <a href="/endpoints/shop">shop</a>"#) && html.contains(#"run <a href="/training/recs-1">recs-1</a>"#))
        #expect(html.contains("by</span> &lt;bob&gt;") && !html.contains("<bob>"))
        #expect(html.range(of: "Deployment requested")!.lowerBound < html.range(of: "Training run completed")!.lowerBound)
        #expect(WebPages.timeline([], model: "recs", context: nil).contains("No events yet."))
    }

    @Test("a full page links the events before its oldest (to the millisecond, rounded down); an older page links back")
    func paging() throws {
        let full = try (0..<WebPages.timelineLimit).map { index in
            try Self.event(
                "slipway.training.v1.EpochCompleted", aggregate: ("TrainingRun", "recs-1"), at: Double(1000 - index) + 0.25, id: "e\(index)")
        }
        let html = WebPages.timeline(full, model: "recs", context: "training")
        let oldest = Date(timeIntervalSince1970: 1_800_000_000 + 801.2347)
        #expect(WebPages.pageBoundary(oldest) == "2027-01-15T08:13:21.234Z")
        #expect(html.contains("tab=timeline&amp;context=training&amp;before=2027-01-15T08:13:21.250Z\">Older events →</a>"), "\(html.suffix(300))")
        #expect(!html.contains("The newest events"))
        #expect(!WebPages.timeline(Array(full.prefix(10)), model: "recs", context: nil).contains("Older events"), "a short page is the last")
        let older = WebPages.timeline([], model: "recs", context: nil, paged: true)
        #expect(older.contains(#"<a href="/models/recs?tab=timeline">← The newest events</a>"#) && older.contains("No older events."))
        guard case .failure(let problem) = WebPages.timelineBefore("yesterday") else {
            Issue.record("a before that is no instant was accepted")
            return
        }
        #expect(problem.status == .badRequest && problem.message == "before must be an ISO 8601 instant")
        #expect(try WebPages.timelineBefore("2027-01-15T08:13:21.234Z").get() != nil)
    }
}
