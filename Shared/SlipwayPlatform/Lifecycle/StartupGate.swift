import Synchronization

/// Opens once, when the migrations are applied; every service but the database client waits for it.
/// A waiter that is cancelled (its service shutting down first) stops waiting; an abandoned gate (the
/// migrations gave up) releases everyone with `false`.
public final class StartupGate: Sendable {
    private struct State {
        var settled: Bool?
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func open() { settle(true) }
    public func abandon() { settle(false) }

    /// True once the gate opens; false when it was abandoned or the waiting task was cancelled.
    public func wait() async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let settled: Bool? = state.withLock { state in
                    if let settled = state.settled { return settled }
                    if Task.isCancelled { return false }
                    state.waiters[id] = continuation
                    return nil
                }
                if let settled { continuation.resume(returning: settled) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: false)
        }
    }

    private func settle(_ value: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            guard state.settled == nil else { return [] }
            state.settled = value
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }
}
