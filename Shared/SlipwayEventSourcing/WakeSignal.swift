import ServiceLifecycle
import Synchronization

/// A level-triggered wake-up: `signal()` when there is work (a commit for the outbox relay, a changed schedule for
/// schedule-svc's timer); `wait(upTo:)` returns at once if a signal arrived since the last wait, otherwise at the
/// next signal or after the timeout — a sleeper that costs nothing while it sleeps, unlike polling in slices.
public final class WakeSignal: Sendable {
    private struct State {
        /// A commit signalled while nobody waited: the next wait returns at once.
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        /// The current wait was woken (timeout, cancellation) before its waiter was registered.
        var wakeRequested = false
    }
    private let state = Mutex(State())

    public init() {}

    public func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// `wait(upTo:)` that a graceful shutdown ends too: a loop asleep between rounds sees the shutdown at once, not
    /// at its timeout (the outbox relay's 5 s idle wait once made every service take 5 s to stop).
    public func waitUnlessShuttingDown(upTo timeout: Duration) async {
        await withGracefulShutdownHandler {
            await wait(upTo: timeout)
        } onGracefulShutdown: {
            self.signal()
        }
    }

    /// One waiter at a time. The timeout only ends this wait: it never leaves a signal behind, or every later wait
    /// would return at once and the waiter would poll without pause.
    public func wait(upTo timeout: Duration) async {
        // A signal already pending returns at once, without starting tasks that a busy pool may not run for a while.
        let pending = state.withLock { state -> Bool in
            state.wakeRequested = false
            defer { state.pending = false }
            return state.pending
        }
        if pending { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let resumeNow = self.state.withLock { state -> Bool in
                            if state.pending {
                                state.pending = false
                                return true
                            }
                            if state.wakeRequested { return true }
                            state.waiter = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.wake()
                }
            }
            group.addTask {
                // Cancelled when a signal won: the wait is over anyway.
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                self.wake()
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Ends the current wait, whether or not its waiter is registered yet.
    private func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.wakeRequested = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
