#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Signal plumbing shared by the supervisor and the process launchers.
enum SignalMask {
    /// Runs `body` with this thread's signal mask cleared, then restores it.
    ///
    /// `posix_spawn` (used by Foundation's `Process`) gives the child the calling thread's mask, and
    /// Dispatch worker threads — which run Swift concurrency — block SIGTERM, SIGINT, SIGHUP and
    /// others. Without this, children spawned from async code would ignore `SIGTERM`.
    static func withCleared<T>(_ body: () throws -> T) rethrows -> T {
        var empty = sigset_t()
        var previous = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return try body()
    }

    /// Replaces the default action of `signal` with a handler that does nothing.
    ///
    /// Used instead of `SIG_IGN` beside a `DispatchSource` signal source: an *ignored* disposition
    /// is inherited across exec (children would ignore SIGTERM too), a *caught* one is reset to the
    /// default in the child.
    static func catchWithoutAction(_ signalNumber: Int32) {
        var action = sigaction()
        #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = { _ in }
        #else
            action.__sigaction_u.__sa_handler = { _ in }
        #endif
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(signalNumber, &action, nil)
    }
}
