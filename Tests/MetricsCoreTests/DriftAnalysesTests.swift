import Foundation
import SlipwayStatistics
import Synchronization
import Testing

@testable import MetricsCore

@Suite("Shared drift analyses")
struct DriftAnalysesTests {
    /// A stand-in analysis that counts its runs and holds each open until `opened`; its report's comparison starts
    /// where it was asked to end, which tells the answers apart.
    final class HeldAnalysis: Sendable {
        let runs = Mutex(0)
        let opened = Mutex(false)

        func analyze(_ key: DriftAnalyses.Key, _ end: Date) async throws -> DriftReport {
            runs.withLock { $0 += 1 }
            while !opened.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(2)) }
            return DriftReport(
                training: TrainingBaseline(rows: 0, numeric: [:], categorical: [:]), comparison: FeatureColumns(), comparisonStart: end)
        }
    }

    @Test("requests for the same windows ending within a second share one analysis; a later one, or another endpoint, runs its own")
    func sharing() async throws {
        let held = HeldAnalysis()
        let analyses = DriftAnalyses { try await held.analyze($0, $1) }
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let asks: [(String, Double)] = [("shop", 0), ("shop", 0.4), ("shop", 0.9), ("shop", -0.5), ("shop", 5), ("other", 0)]
        try await withThrowingTaskGroup(of: (Int, Date).self) { group in
            group.addTask { (0, try await analyses.measure(endpointID: "shop", baselineDays: 7, comparisonHours: 24, end: start).comparisonStart) }
            while held.runs.withLock({ $0 }) < 1 { try await Task.sleep(for: .milliseconds(2)) }
            for (index, ask) in asks.enumerated().dropFirst() {
                group.addTask {
                    let end = start.addingTimeInterval(ask.1)
                    return (index, try await analyses.measure(endpointID: ask.0, baselineDays: 7, comparisonHours: 24, end: end).comparisonStart)
                }
            }
            // Three wait for the first; the one five seconds later and the other endpoint's run their own.
            let deadline = ContinuousClock.now + .seconds(5)
            while await analyses.waiting < 3 || held.runs.withLock({ $0 }) < 3, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(2))
            }
            #expect(await analyses.waiting == 3)
            #expect(held.runs.withLock { $0 } == 3)
            held.opened.withLock { $0 = true }
            var answers: [Int: Date] = [:]
            for try await (index, end) in group { answers[index] = end }
            #expect((0...3).allSatisfy { answers[$0] == start }, "the first analysis answered the requests within a second of it")
            #expect(answers[4] == start.addingTimeInterval(5) && answers[5] == start)
        }
        #expect(await analyses.waiting == 0)
        // Nothing is kept: the same request again measures anew.
        _ = try await analyses.measure(endpointID: "shop", baselineDays: 7, comparisonHours: 24, end: start)
        #expect(held.runs.withLock { $0 } == 4)
    }
}
