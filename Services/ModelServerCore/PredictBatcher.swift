import NIOCore
import SlipwayModelBundle
import Synchronization

/// Optional request batching for `:predict` (`--max-batch-size`, `--batch-timeout-ms`): concurrent
/// requests are collected until they hold `maxBatchSize` instances or the first has waited `timeout`,
/// then scored together on the batcher's own event loop, each candidate block reused for every query
/// of the batch while it is in cache. A request with a bad instance fails alone (400 naming it); the
/// others of its batch are answered.
public final class PredictBatcher: Sendable {
    public typealias Outcome = Result<[Recommendations], ScoringError>

    public let maxBatchSize: Int
    public let timeout: TimeAmount
    let scorer: Scorer
    /// Where batches are scored.
    let loop: any EventLoop

    struct Pending: Sendable {
        let instances: [[String: FeatureValue]]
        let k: Int
        let promise: EventLoopPromise<Outcome>
    }

    private struct State: Sendable {
        var pending: [Pending] = []
        var instanceCount = 0
        /// Identifies the batch being collected, so that a timer for a batch already sent does nothing.
        var generation = 0
        var timer: Scheduled<Void>?
        var batchesScored = 0
    }

    private let state = Mutex(State())

    public init(scorer: Scorer, maxBatchSize: Int, timeout: TimeAmount, loop: any EventLoop) {
        self.scorer = scorer
        self.maxBatchSize = max(1, maxBatchSize)
        self.timeout = timeout
        self.loop = loop
    }

    /// Batches scored so far (for tests and logs).
    public var batchesScored: Int { state.withLock { $0.batchesScored } }

    /// Queues one request's instances; the outcome completes on `eventLoop`.
    public func submit(_ instances: [[String: FeatureValue]], k: Int, on eventLoop: any EventLoop) -> EventLoopFuture<Outcome> {
        let promise = eventLoop.makePromise(of: Outcome.self)
        let full: [Pending]? = state.withLock { state in
            state.pending.append(Pending(instances: instances, k: k, promise: promise))
            state.instanceCount += instances.count
            if state.instanceCount >= maxBatchSize { return Self.take(&state) }
            if state.pending.count == 1 {
                let generation = state.generation
                state.timer = loop.scheduleTask(in: timeout) { self.timerFired(generation: generation) }
            }
            return nil
        }
        if let full { loop.execute { self.score(full) } }
        return promise.futureResult
    }

    private static func take(_ state: inout State) -> [Pending] {
        let batch = state.pending
        state.timer?.cancel()
        state.timer = nil
        state.pending = []
        state.instanceCount = 0
        state.generation += 1
        state.batchesScored += 1
        return batch
    }

    private func timerFired(generation: Int) {
        let batch: [Pending]? = state.withLock { state in
            guard state.generation == generation, !state.pending.isEmpty else { return nil }
            return Self.take(&state)
        }
        if let batch { score(batch) }
    }

    /// Embeds every request's instances (a bad one fails its request only), then one blocked top-k over all the
    /// queries the tower answers; a query that falls back to popularity takes no row of it.
    func score(_ batch: [Pending]) {
        let dim = scorer.dim
        var queries = [Float](repeating: 0, count: batch.reduce(0) { $0 + $1.instances.count } * dim)
        // Per instance, its row of the top-k batch (nil: a popularity answer) and its fallback.
        typealias Plan = (row: Int?, fallback: Recommendations.Fallback?)
        var accepted: [(pending: Pending, plans: [Plan])] = []
        var rows = 0
        queries.withUnsafeMutableBufferPointer { out in
            for pending in batch {
                var plans: [Plan] = []
                var next = rows
                do throws(ScoringError) {
                    for (i, instance) in pending.instances.enumerated() {
                        do throws(ScoringError) {
                            let fallback = try scorer.embed(instance, into: out.baseAddress! + next * dim)
                            let row: Int? = fallback == .popularity ? nil : next
                            plans.append((row, fallback))
                            if row != nil { next += 1 }
                        } catch {
                            throw .instance(index: i, error: error)
                        }
                    }
                    accepted.append((pending, plans))
                    rows = next
                } catch {
                    pending.promise.succeed(.failure(error))
                }
            }
        }
        guard let k = accepted.map(\.pending.k).max() else { return }
        let tops = scorer.topKBatch(queries: Array(queries[..<(rows * dim)]), k: k)
        for (pending, plans) in accepted {
            let answers = plans.map { plan in
                guard let row = plan.row else { return scorer.mostPopular(k: pending.k) }
                return scorer.recommendations(tops[row].prefix(pending.k), fallback: plan.fallback)
            }
            pending.promise.succeed(.success(answers))
        }
    }
}
