import Metrics
import Synchronization

/// `slipway_router_requests_total{status_code}`: one counter per status, made once (a lookup in the
/// metrics registry per request would cost more than the count).
final class RequestCounters: Sendable {
    static let shared = RequestCounters()
    private let counters = Mutex<[Int: Counter]>([:])

    func increment(status: Int) {
        if let counter = counters.withLock({ $0[status] }) {
            counter.increment()
            return
        }
        let counter = Counter(label: "slipway.router.requests_total", dimensions: [("status_code", "\(status)")])
        counters.withLock { $0[status] = counter }
        counter.increment()
    }
}
