import Foundation
import SlipwayContracts

/// Each revision's load over a sliding window, from serving-routers' cumulative `GET /internal/load` reports: the
/// average requests in flight (Δ busy time ÷ Δ time, summed over the routers, or more if more are in flight right
/// now) and when it last had a request. Pure: the caller polls and passes the reports with the time they were taken.
struct LoadWindow: Sendable {
    struct Sample: Sendable {
        var at: Double
        var seconds: Double
        var busySeconds: Double
        var inFlightNow: Int
    }

    let windowSeconds: Double
    /// The previous report of each router (by its URL), with when it was taken.
    private var previous: [String: (at: Double, report: RouterLoadReport)] = [:]
    private var samples: [String: [Sample]] = [:]
    private var lastActivity: [String: Double] = [:]
    /// When the last poll that added samples was taken.
    private var lastComplete: Double?

    init(windowSeconds: Double) { self.windowSeconds = windowSeconds }

    /// One poll of every router: `reports[url]` is nil for a router that did not answer. A poll that misses a router,
    /// or meets one restarted since the last, adds no sample (the load it saw would be undercounted); its activity
    /// still counts.
    mutating func add(_ reports: [String: RouterLoadReport?], at now: Double) {
        var complete = true
        var busy: [String: Double] = [:]
        var inFlight: [String: Int] = [:]
        var span: Double?
        for (url, report) in reports {
            guard let report else {
                complete = false
                continue
            }
            defer { previous[url] = (now, report) }
            for revision in report.revisions where revision.inFlight > 0 { lastActivity[revision.revisionID] = now }
            guard let before = previous[url], before.report.routerID == report.routerID else {
                complete = false
                continue
            }
            span = now - before.at
            let earlier = Dictionary(before.report.revisions.map { ($0.revisionID, $0) }, uniquingKeysWith: { first, _ in first })
            for revision in report.revisions {
                let old = earlier[revision.revisionID]
                let requests = revision.requests - (old?.requests ?? 0)
                let micros = revision.busyMicros - (old?.busyMicros ?? 0)
                if requests > 0 { lastActivity[revision.revisionID] = now }
                // A revision that left a router's table and came back starts from zero there.
                busy[revision.revisionID, default: 0] += Double(micros >= 0 ? micros : revision.busyMicros) / 1_000_000
                inFlight[revision.revisionID, default: 0] += revision.inFlight
            }
        }
        guard complete, let span, span > 0 else { return }
        lastComplete = now
        for revisionID in Set(samples.keys).union(busy.keys) {
            var kept = (samples[revisionID] ?? []).filter { now - $0.at < windowSeconds }
            kept.append(Sample(at: now, seconds: span, busySeconds: busy[revisionID] ?? 0, inFlightNow: inFlight[revisionID] ?? 0))
            samples[revisionID] = kept
        }
    }

    /// Average requests in flight over the window (at least those in flight at the last poll); nil when the last
    /// complete poll is older than the window (no router answered, or one was restarted, since).
    func inFlight(_ revisionID: String, at now: Double) -> Double? {
        guard let lastComplete, now - lastComplete < windowSeconds else { return nil }
        guard let kept = samples[revisionID]?.filter({ now - $0.at < windowSeconds }), let last = kept.last else { return 0 }
        let seconds = kept.reduce(0) { $0 + $1.seconds }
        let average = seconds > 0 ? kept.reduce(0) { $0 + $1.busySeconds } / seconds : 0
        return max(average, Double(last.inFlightNow))
    }

    /// When it last had a request or a request in flight, as far as these reports tell.
    func lastActive(_ revisionID: String) -> Double? { lastActivity[revisionID] }

    /// Counts as activity now: it just started or woke, and its idle time starts over.
    mutating func touch(_ revisionID: String, at now: Double) { lastActivity[revisionID] = now }
}
