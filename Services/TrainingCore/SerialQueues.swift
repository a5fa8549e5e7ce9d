import Synchronization

/// Runs async work one at a time per key, in arrival order; different keys run concurrently. The
/// waiting is not cancellable: each turn is short (a read and a command) and ends on its own.
final class SerialQueues: Sendable {
    private struct Queue {
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    /// A key is present while one of its jobs runs; its queue holds the jobs waiting for their turn.
    private let queues = Mutex<[String: Queue]>([:])

    init() {}

    func run<T>(_ key: String, _ body: () async throws -> T) async throws -> T {
        await enter(key)
        defer { leave(key) }
        return try await body()
    }

    private func enter(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let mine = queues.withLock { queues -> Bool in
                guard queues[key] != nil else {
                    queues[key] = Queue()
                    return true
                }
                queues[key]!.waiting.append(continuation)
                return false
            }
            if mine { continuation.resume() }
        }
    }

    /// Hands the turn to the next job waiting, if any.
    private func leave(_ key: String) {
        let next = queues.withLock { queues -> CheckedContinuation<Void, Never>? in
            guard var queue = queues[key], !queue.waiting.isEmpty else {
                queues[key] = nil
                return nil
            }
            let next = queue.waiting.removeFirst()
            queues[key] = queue
            return next
        }
        next?.resume()
    }
}
