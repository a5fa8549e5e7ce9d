import Synchronization

/// Group commit without a background task: a writer that finds a free leader slot takes whatever is
/// queued (its own command and those that arrived meanwhile) and commits it in one transaction; up to
/// `maxLeaders` batches are in flight at once, each on its own connection. A leader whose command is done
/// hands its slot to the next queued writer. Under load, many commands share one round-trip budget;
/// alone, a command commits at once.
final class WriteBatcher: Sendable {
    typealias Execute = @Sendable ([WriteJob]) async -> Void

    private struct State {
        var queue: [WriteJob] = []
        var leaders = 0
    }

    private enum Step {
        case done
        case lead([WriteJob])
        case wait
    }

    private let state = Mutex(State())
    let maxBatch: Int
    let maxLeaders: Int

    init(maxBatch: Int, maxLeaders: Int) {
        self.maxBatch = maxBatch
        self.maxLeaders = maxLeaders
    }

    /// Queues `job` and returns once it is committed (or rejected).
    func submit(_ job: WriteJob, execute: Execute) async throws -> [StoredEvent] {
        enqueue([job])
        return try await finish(job, execute: execute)
    }

    /// Queues `jobs` together and in order, so they share a transaction when they fit in one batch.
    func enqueue(_ jobs: [WriteJob]) {
        state.withLock { $0.queue.append(contentsOf: jobs) }
    }

    /// Leads batches of what is queued, from `lanes` tasks at once, while something is queued and fewer than
    /// `lanes` batches are in flight (the leader slots of a bulk of commands: it may use more than `maxLeaders`).
    /// What it leaves (every slot busy with other writers) goes with `finish` as usual.
    func leadQueued(lanes: Int, batchSize: Int, execute: @escaping Execute) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, lanes) {
                group.addTask {
                    while let batch = self.takeBatch(leaders: lanes, size: batchSize) {
                        await execute(batch)
                        self.state.withLock { $0.leaders -= 1 }
                    }
                }
            }
        }
    }

    /// The next batch with a leader slot taken for it, or nil when nothing is queued or `leaders` slots are busy.
    private func takeBatch(leaders: Int, size: Int) -> [WriteJob]? {
        state.withLock { state in
            guard state.leaders < leaders, !state.queue.isEmpty else { return nil }
            state.leaders += 1
            let batch = Array(state.queue.prefix(size))
            state.queue.removeFirst(batch.count)
            return batch
        }
    }

    /// Leads batches or waits until `job` is committed (or rejected).
    func finish(_ job: WriteJob, execute: Execute) async throws -> [StoredEvent] {
        while true {
            let step: Step = job.outcome.isResolved ? .done : takeBatch(leaders: maxLeaders, size: maxBatch).map { .lead($0) } ?? .wait
            switch step {
            case .done:
                return try job.outcome.result()
            case .lead(let batch):
                await execute(batch)
                // Free the slot; if work is waiting and this writer is done, wake the next writer to lead.
                let next = state.withLock { state -> WriteJob? in
                    state.leaders -= 1
                    return job.outcome.isResolved ? state.queue.first : nil
                }
                next?.outcome.passLead()
            case .wait:
                _ = await job.outcome.wait()
            }
        }
    }
}

/// One command waiting for its transaction: what to decide, and where its result goes.
struct WriteJob: Sendable {
    let aggregateType: String
    let aggregateID: String
    /// The decider's state type: with the aggregate, what a cached snapshot is filed under.
    let stateType: ObjectIdentifier
    /// Folds the events after `base` (all of them when there is no base) onto it, decides, and returns
    /// the new, versioned events with the state after them.
    let decide: @Sendable (_ base: AggregateSnapshot?, _ newer: [HistoryEvent]) throws -> (events: [StoredEvent], after: AggregateSnapshot)
    let outcome = WriteOutcome()

    var key: AggregateKey { AggregateKey(type: aggregateType, id: aggregateID) }
    var cacheKey: StateCache.Key { StateCache.Key(aggregate: key, stateType: stateType) }
}

struct AggregateKey: Hashable, Sendable {
    let type: String
    let id: String
}

/// A one-shot result a writer waits for; it may be resolved before or after the wait begins.
final class WriteOutcome: Sendable {
    enum Signal: Sendable {
        case done
        case lead
    }

    private struct State {
        var result: Result<[StoredEvent], any Error>?
        var leadPassed = false
        var waiter: CheckedContinuation<Signal, Never>?
    }

    private let state = Mutex(State())

    var isResolved: Bool { state.withLock { $0.result != nil } }

    func resolve(_ result: Result<[StoredEvent], any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<Signal, Never>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: .done)
    }

    func passLead() {
        let waiter = state.withLock { state -> CheckedContinuation<Signal, Never>? in
            guard let waiter = state.waiter else {
                state.leadPassed = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: .lead)
    }

    /// Returns when the result is in, or when the lead was passed to this writer (consumed by this call).
    func wait() async -> Signal {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Signal? in
                if state.result != nil { return .done }
                if state.leadPassed {
                    state.leadPassed = false
                    return .lead
                }
                state.waiter = continuation
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    func result() throws -> [StoredEvent] {
        try state.withLock { state in
            guard let result = state.result else { preconditionFailure("write outcome read before it was resolved") }
            return try result.get()
        }
    }
}

/// What deciding needs of a past event, and no more: loading only these columns keeps the write
/// path's history query cheap to decode.
struct HistoryEvent: Sendable {
    let version: Int64
    let eventType: String
    let payload: [UInt8]
}
