import Synchronization

/// Group commit without a background task: the first writer to find nobody leading becomes the leader
/// and commits whatever is queued (its own command and those that arrived meanwhile) in one transaction;
/// when its own command is done it hands the lead to the next queued writer. Under load, many commands
/// share one round-trip budget; alone, a command commits at once.
final class WriteBatcher: Sendable {
    typealias Execute = @Sendable ([WriteJob]) async -> Void

    private struct State {
        var queue: [WriteJob] = []
        var leading = false
    }

    private let state = Mutex(State())
    let maxBatch: Int

    init(maxBatch: Int) { self.maxBatch = maxBatch }

    /// Queues `job` and returns once it is committed (or rejected).
    func submit(_ job: WriteJob, execute: Execute) async throws -> [StoredEvent] {
        let lead = state.withLock { state -> Bool in
            state.queue.append(job)
            if state.leading { return false }
            state.leading = true
            return true
        }
        if !lead {
            if await job.outcome.wait() == .done { return try job.outcome.result() }
            // The previous leader finished its own command and passed the lead on: ours is next in the queue.
        }
        while !job.outcome.isResolved {
            let batch = state.withLock { state -> [WriteJob] in
                let batch = Array(state.queue.prefix(maxBatch))
                state.queue.removeFirst(batch.count)
                return batch
            }
            await execute(batch)
        }
        let next = state.withLock { state -> WriteJob? in
            guard let next = state.queue.first else {
                state.leading = false
                return nil
            }
            return next
        }
        next?.outcome.passLead()
        return try job.outcome.result()
    }
}

/// One command waiting for its transaction: what to decide, and where its result goes.
struct WriteJob: Sendable {
    let aggregateType: String
    let aggregateID: String
    /// Folds the aggregate's history (including events earlier commands of the same batch just decided)
    /// and returns the new, versioned events.
    let decide: @Sendable ([StoredEvent]) throws -> [StoredEvent]
    let outcome = WriteOutcome()

    var key: AggregateKey { AggregateKey(type: aggregateType, id: aggregateID) }
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
            state.leadPassed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: .lead)
    }

    func wait() async -> Signal {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Signal? in
                if state.result != nil { return .done }
                if state.leadPassed { return .lead }
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
