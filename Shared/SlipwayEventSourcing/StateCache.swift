import Synchronization

/// An aggregate's folded state at a version. Events never change once written, so the state at
/// version N stays true forever; a command only needs the events after it.
struct AggregateSnapshot: @unchecked Sendable {
    // `Any` holds the decider's `State`, read back only by that decider (the cache key names its type).
    let version: Int64
    let state: Any
}

/// Committed aggregate states kept in memory, so a command loads only the events written since (by
/// another replica, or none at all) instead of the whole history. Entries are put only after their
/// transaction commits; a full cache is simply emptied (a miss costs one history load, nothing more).
final class StateCache: Sendable {
    struct Key: Hashable, Sendable {
        let aggregate: AggregateKey
        let stateType: ObjectIdentifier
    }

    private let entries = Mutex<[Key: AggregateSnapshot]>([:])
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func snapshots(for keys: some Sequence<Key>) -> [Key: AggregateSnapshot] {
        entries.withLock { entries in
            var found: [Key: AggregateSnapshot] = [:]
            for key in keys { if let snapshot = entries[key] { found[key] = snapshot } }
            return found
        }
    }

    func store(_ snapshots: [Key: AggregateSnapshot]) {
        guard capacity > 0 else { return }
        entries.withLock { entries in
            if entries.count + snapshots.count > capacity { entries.removeAll(keepingCapacity: true) }
            for (key, snapshot) in snapshots where (entries[key]?.version ?? -1) < snapshot.version { entries[key] = snapshot }
        }
    }
}
