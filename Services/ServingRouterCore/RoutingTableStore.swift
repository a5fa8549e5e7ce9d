import Foundation
import Logging
import SlipwayContracts
import Synchronization

/// Owns the routing state; every change rebuilds the immutable `RoutingTable` and swaps it in.
/// Readers (every request) take the current table under a lock held for one reference copy.
final class RoutingTableStore: Sendable {
    private let state = Mutex(RoutingState())
    private let published = Mutex(RoutingTable.empty)
    /// Set when the stream shows a gap, so the resync loop reloads early.
    private let resyncWanted = Atomic<Bool>(false)
    /// Each route's load (requests outstanding per instance, the revision's figures), carried across rebuilds.
    let loads = InstanceLoads()

    init() {}

    /// Whether a resync was requested since the last call (clears the request).
    func takeResyncRequest() -> Bool { resyncWanted.exchange(false, ordering: .relaxed) }

    func requestResync() { resyncWanted.store(true, ordering: .relaxed) }

    var current: RoutingTable { published.withLock { $0 } }

    var generation: UInt64 { state.withLock { $0.generation } }

    /// Applies one deploy event envelope (ignored unless it is an Endpoint/ApiKey event newer than the table).
    @discardableResult
    func apply(_ envelope: EventEnvelope, event: DeployEvent) -> RoutingState.Outcome {
        let outcome = update { state in
            state.apply(aggregateType: envelope.aggregateType, aggregateID: envelope.aggregateID, version: envelope.aggregateVersion, event: event)
        }
        if outcome == .appliedAfterGap { requestResync() }
        return outcome
    }

    func merge(_ document: RoutingDocument, startedAt: UInt64) {
        update { $0.merge(document, startedAt: startedAt) }
    }

    private func update<T>(_ body: (inout RoutingState) -> T) -> T {
        state.withLock { state in
            let before = state.generation
            let result = body(&state)
            if state.generation != before {
                let table = RoutingTable(state, loads: loads)
                published.withLock { $0 = table }
            }
            return result
        }
    }
}
