import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

@testable import MetricsCore

/// The alert lifecycle as a story of commands: pending → firing after the for-duration, nothing below the
/// minimum sample count, hysteresis on resolve, acknowledge and resolve by hand.
struct AlertRuleDeciderTests {
    typealias D = AlertRuleDecider
    typealias Refusal = SlipwayTestSupport.Refusal<D>
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// p95 latency above 100 ms for 60 s with 20 samples; resolves below 80 ms.
    static func rule(forSeconds: Int32 = 60, resolve: Double? = 80, enabled: Bool = true) -> D.Rule {
        D.Rule(
            id: "alert-1", endpointID: "ep-1", name: "slow", metric: .latencyP95, condition: .gt, threshold: 100, resolveThreshold: resolve,
            windowSeconds: 300, forSeconds: forSeconds, minSamples: 20, enabled: enabled)
    }

    static func observe(_ value: Double?, samples: Int64 = 50, at seconds: Double) -> D.Command {
        .evaluate(D.Observation(value: value, samples: samples, windowStart: t0, at: t0.addingTimeInterval(seconds)))
    }

    static let created: [D.Command] = [.create(rule(), actor: "t")]

    func kinds(_ events: [MetricsEvent]) -> [String] { events.map { $0.eventType.split(separator: ".").last.map(String.init) ?? "" } }

    @Test func aBreachIsPendingThenFiresAfterTheForDurationAndResolvesOnlyPastTheResolveThreshold() throws {
        let pending = try history(D.self, Self.created + [Self.observe(150, at: 0)])
        #expect(kinds(pending).last == "AlertPending")
        #expect(try decide(D.self, given: pending, when: Self.observe(150, at: 30)).isEmpty, "still pending before 60 s")
        let fired = try decide(D.self, given: pending, when: Self.observe(140, at: 60))
        guard case .alertFired(let event) = fired.first else { Issue.record("expected AlertFired, got \(fired)"); return }
        #expect(event.alertID == "alert-1-1" && event.observedValue == 140 && event.samples == 50)
        let firing = pending + fired
        // Under the threshold but not past the resolve threshold: still firing (no flapping around 100).
        #expect(try decide(D.self, given: firing, when: Self.observe(90, at: 70)).isEmpty)
        let resolved = try decide(D.self, given: firing, when: Self.observe(70, at: 80))
        guard case .alertResolved(let resolution) = resolved.first else { Issue.record("expected AlertResolved, got \(resolved)"); return }
        #expect(resolution.automatic && resolution.alertID == "alert-1-1")
        // The next breach is a new alert.
        let again = try decide(D.self, given: firing + resolved, when: Self.observe(150, at: 90))
        guard case .alertPending(let next) = again.first else { Issue.record("expected AlertPending, got \(again)"); return }
        #expect(next.alertID == "alert-1-2")
    }

    @Test func tooFewSamplesOrNoValueGiveNoVerdictEitherWay() throws {
        #expect(try decide(D.self, given: try history(D.self, Self.created), when: Self.observe(900, samples: 3, at: 0)).isEmpty)
        #expect(try decide(D.self, given: try history(D.self, Self.created), when: Self.observe(nil, at: 0)).isEmpty)
        let firing = try history(D.self, Self.created + [Self.observe(150, at: 0), Self.observe(150, at: 60)])
        #expect(try decide(D.self, given: firing, when: Self.observe(1, samples: 3, at: 70)).isEmpty, "a quiet minute does not resolve")
    }

    @Test func aPendingBreachThatClearsNeverFires() throws {
        let pending = try history(D.self, Self.created + [Self.observe(150, at: 0)])
        #expect(kinds(try decide(D.self, given: pending, when: Self.observe(99, at: 30))) == ["AlertPendingCleared"])
    }

    @Test func withoutAForDurationTheFirstBreachFires() throws {
        let given = try history(D.self, [.create(Self.rule(forSeconds: 0), actor: "t")])
        #expect(kinds(try decide(D.self, given: given, when: Self.observe(101, at: 0))) == ["AlertFired"])
    }

    @Test func acknowledgeThenResolveByHand() throws {
        let firing = try history(D.self, Self.created + [Self.observe(150, at: 0), Self.observe(150, at: 60)])
        let acknowledged = try history(D.self, [.acknowledge(actor: "ana", note: "looking")], after: firing)
        #expect(kinds(acknowledged) == ["AlertAcknowledged"])
        expectRejection(D.self, given: firing + acknowledged, when: .acknowledge(actor: "ana", note: ""), kind: .conflict)
        let resolved = try decide(D.self, given: firing + acknowledged, when: .resolve(actor: "ana", note: "fixed"))
        guard case .alertResolved(let event) = resolved.first else { Issue.record("expected AlertResolved"); return }
        #expect(!event.automatic && event.resolvedBy == "ana" && event.note == "fixed")
        expectRejection(D.self, given: firing + acknowledged + resolved, when: .resolve(actor: "ana", note: ""), kind: .conflict)
    }

    @Test func disablingOrDeletingEndsWhatTheRuleRaised() throws {
        let firing = try history(D.self, Self.created + [Self.observe(150, at: 0), Self.observe(150, at: 60)])
        #expect(
            kinds(try decide(D.self, given: firing, when: .update(Self.rule(enabled: false), actor: "t"))) == ["AlertResolved", "AlertRuleUpdated"])
        #expect(kinds(try decide(D.self, given: firing, when: .delete(actor: "t"))) == ["AlertResolved", "AlertRuleDeleted"])
        let disabled = try history(D.self, [.update(Self.rule(enabled: false), actor: "t")], after: try history(D.self, Self.created))
        #expect(try decide(D.self, given: disabled, when: Self.observe(500, at: 0)).isEmpty)
    }

    static let refusals: [Refusal] = [
        Refusal(
            name: "no name", given: [],
            when: .create(D.Rule(id: "a", endpointID: "e", name: " ", metric: .errorRate, condition: .gt, threshold: 0.1), actor: "t"),
            kind: .invalid, field: "name"),
        Refusal(
            name: "error rate above 1", given: [],
            when: .create(D.Rule(id: "a", endpointID: "e", name: "n", metric: .errorRate, condition: .gt, threshold: 2), actor: "t"), kind: .invalid,
            field: "threshold"),
        Refusal(
            name: "negative latency", given: [],
            when: .create(D.Rule(id: "a", endpointID: "e", name: "n", metric: .latencyP99, condition: .gt, threshold: -1), actor: "t"),
            kind: .invalid, field: "threshold"),
        Refusal(
            name: "resolve past the threshold", given: [],
            when: .create(
                D.Rule(id: "a", endpointID: "e", name: "n", metric: .latencyP99, condition: .gt, threshold: 100, resolveThreshold: 120), actor: "t"),
            kind: .invalid, field: "resolve_threshold"),
        Refusal(
            name: "window under a minute", given: [],
            when: .create(
                D.Rule(id: "a", endpointID: "e", name: "n", metric: .errorRate, condition: .gt, threshold: 0.1, windowSeconds: 30), actor: "t"),
            kind: .invalid, field: "window_seconds"),
        Refusal(
            name: "no minimum sample", given: [],
            when: .create(D.Rule(id: "a", endpointID: "e", name: "n", metric: .errorRate, condition: .gt, threshold: 0.1, minSamples: 0), actor: "t"),
            kind: .invalid, field: "min_samples"),
        Refusal(name: "created twice", given: created, when: .create(rule(), actor: "t"), kind: .conflict, field: nil),
        Refusal(name: "acknowledge with nothing active", given: created, when: .acknowledge(actor: "t", note: ""), kind: .conflict, field: nil),
        Refusal(
            name: "anything after delete", given: created + [.delete(actor: "t")], when: .acknowledge(actor: "t", note: ""), kind: .notFound,
            field: nil),
    ]

    @Test(arguments: refusals)
    func refuses(_ refusal: Refusal) throws { try expectRejection(refusal) }
}
