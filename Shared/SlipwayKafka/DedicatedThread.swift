import Foundation
import Synchronization

/// A named OS thread that runs a blocking librdkafka loop off Swift's cooperative pool.
/// The body checks `isStopRequested` between bounded blocking calls.
final class DedicatedThread: Sendable {
    private let stopRequested = Atomic<Bool>(false)
    private let finished = AsyncSignal()

    init(name: String, body: @escaping @Sendable (DedicatedThread) -> Void) {
        let thread = Thread { [self] in
            body(self)
            self.finished.fire()
        }
        thread.name = name
        thread.start()
    }

    var isStopRequested: Bool { stopRequested.load(ordering: .acquiring) }

    func requestStop() { stopRequested.store(true, ordering: .releasing) }

    /// Requests a stop and waits (without blocking a pool thread) until the body returned.
    func stopAndWait() async {
        requestStop()
        await finished.wait()
    }
}

/// A one-shot event that async code can await and any thread can fire.
final class AsyncSignal: Sendable {
    private struct State {
        var fired = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.fired { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}

/// Runs a blocking call on a dedicated serial queue (its own thread, never the cooperative
/// pool) and suspends the caller until it returns.
func runBlocking<T: Sendable>(
    on queue: DispatchQueue, _ body: @escaping @Sendable () throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        queue.async {
            continuation.resume(with: Result { try body() })
        }
    }
}
