import Foundation
import Logging
import PostgresNIO

/// Serving-window drift analyses in progress, shared between requests: one that asks for an analysis another request
/// is running (the same endpoint and windows, ending within a second of it) waits for that one's result instead of
/// reading and decoding the same samples again. An endpoint's page asks for its health and its drift at once, and
/// each analysis reads up to a week of samples. Nothing is kept once an analysis ends: the next request measures anew.
actor DriftAnalyses {
    struct Key: Hashable {
        var endpointID: String
        var baselineDays: Int
        var comparisonHours: Int
    }

    /// An analysis in progress: where its window ends, and who waits for it besides the request running it.
    private struct Running {
        var end: Date
        var waiters: [CheckedContinuation<DriftReport, any Error>] = []
    }

    private var running: [Key: Running] = [:]
    /// The analysis itself (tests give one they can hold open).
    let analyze: @Sendable (Key, Date) async throws -> DriftReport

    init(analyze: @escaping @Sendable (Key, Date) async throws -> DriftReport) {
        self.analyze = analyze
    }

    init(client: PostgresClient, logger: Logger) {
        self.init { key, end in
            try await DriftReport.measure(
                endpointID: key.endpointID, baselineDays: key.baselineDays, comparisonHours: key.comparisonHours, end: end, client: client,
                logger: logger)
        }
    }

    /// Requests waiting for another's analysis (for tests).
    var waiting: Int { running.values.map(\.waiters.count).reduce(0, +) }

    func measure(endpointID: String, baselineDays: Int, comparisonHours: Int, end: Date) async throws -> DriftReport {
        let key = Key(endpointID: endpointID, baselineDays: baselineDays, comparisonHours: comparisonHours)
        if let current = running[key], abs(current.end.timeIntervalSince(end)) <= 1 {
            do {
                return try await withCheckedThrowingContinuation { running[key]?.waiters.append($0) }
            } catch is CancellationError where !Task.isCancelled {
                // The request running it was cancelled, not this one: measure here.
                return try await analyze(key, end)
            }
        }
        if running[key] == nil { running[key] = Running(end: end) }
        let result: Result<DriftReport, any Error>
        do {
            result = .success(try await analyze(key, end))
        } catch {
            result = .failure(error)
        }
        // Only the analysis this request registered is finished here (another, for a later second, may have none).
        if running[key]?.end == end, let finished = running.removeValue(forKey: key) {
            for waiter in finished.waiters { waiter.resume(with: result) }
        }
        return try result.get()
    }
}
