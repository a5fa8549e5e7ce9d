import Metrics
import Synchronization

/// A bounded in-memory queue of request logs. Appending never blocks a request: when full, the record
/// is dropped and counted.
final class RequestLogBuffer: Sendable {
    let capacity: Int
    private let records = Mutex<[RequestLogRecord]>([])
    let dropped = Atomic<Int>(0)
    /// What was dropped, by endpoint and minute, for the shipper to report.
    let droppedTally = DroppedLogTally()
    private let droppedCounter = Counter(label: "slipway.router.request_logs.dropped_total")

    init(capacity: Int) {
        self.capacity = capacity
    }

    func append(_ record: RequestLogRecord) {
        let accepted = records.withLock { records -> Bool in
            guard records.count < capacity else { return false }
            records.append(record)
            return true
        }
        if !accepted {
            dropped.add(1, ordering: .relaxed)
            droppedCounter.increment()
            droppedTally.record(record, reason: .bufferFull)
        }
    }

    /// Everything queued, oldest first.
    func takeAll() -> [RequestLogRecord] {
        records.withLock { records in
            guard !records.isEmpty else { return [] }
            var taken: [RequestLogRecord] = []
            taken.reserveCapacity(min(capacity, 1024))
            swap(&taken, &records)
            return taken
        }
    }

    var count: Int { records.withLock { $0.count } }
}
