import Foundation
import SlipwayContracts
import Synchronization

/// One instance of a revision (a model-server) as this router sends to it: the requests it has outstanding
/// now, for least-outstanding balancing across the revision's instances, and how many it was sent.
final class UpstreamInstance: Sendable {
    let address: String
    let outstanding = Atomic<Int>(0)
    let sent = Atomic<Int>(0)

    init(address: String) { self.address = address }
}

/// A revision's load as this router saw it, cumulative while the revision stays in the routing table: requests
/// routed to it, requests in flight now, and in-flight integrated over time (µs). deploy-svc's autoscaler reads two
/// samples: Δbusy / Δt is the average number of requests in flight (Little's law), Δrequests > 0 means it was used.
/// A request waiting for a revision scaled to zero to wake counts as in flight from the moment it is routed.
final class RevisionLoad: Sendable {
    let requests = Atomic<Int>(0)
    let inFlight = Atomic<Int>(0)
    let busyMicros = Atomic<Int>(0)

    func begin() {
        requests.add(1, ordering: .relaxed)
        inFlight.add(1, ordering: .relaxed)
    }

    func end(micros: Int64) {
        inFlight.subtract(1, ordering: .relaxed)
        busyMicros.add(Int(micros), ordering: .relaxed)
    }
}

/// The load objects of every route, kept across routing-table rebuilds (a table is rebuilt on every deploy event)
/// so counts and outstanding requests carry over; those that left the table are dropped at the next rebuild.
final class InstanceLoads: Sendable {
    private struct Known {
        var instances: [String: UpstreamInstance] = [:]
        var revisions: [String: RevisionLoad] = [:]
        var addresses: [String: [String]] = [:]
    }

    private let known = Mutex(Known())

    init() {}

    /// The load objects of a table's routes (revision id → its instances' addresses), created as needed; everything
    /// else is forgotten.
    func rebuild(_ routes: [(revisionID: String, addresses: [String])]) -> [String: (load: RevisionLoad, instances: [UpstreamInstance])] {
        known.withLock { known in
            var next = Known()
            var result: [String: (load: RevisionLoad, instances: [UpstreamInstance])] = [:]
            for (revisionID, addresses) in routes {
                let load = known.revisions[revisionID] ?? next.revisions[revisionID] ?? RevisionLoad()
                next.revisions[revisionID] = load
                let instances = addresses.map { address in
                    let instance = known.instances[address] ?? next.instances[address] ?? UpstreamInstance(address: address)
                    next.instances[address] = instance
                    return instance
                }
                result[revisionID] = (load, instances)
                next.addresses[revisionID] = addresses
            }
            known = next
            return result
        }
    }

    /// What `GET /internal/load` reports: every revision in the table, its cumulative figures and its instances'.
    func report() -> [RouterLoadReport.Revision] {
        known.withLock { known in
            known.revisions.sorted { $0.key < $1.key }.map { revisionID, load in
                RouterLoadReport.Revision(
                    revisionID: revisionID, requests: load.requests.load(ordering: .relaxed), inFlight: load.inFlight.load(ordering: .relaxed),
                    busyMicros: load.busyMicros.load(ordering: .relaxed),
                    instances: (known.addresses[revisionID] ?? []).compactMap { known.instances[$0] }.map {
                        RouterLoadReport.Instance(
                            address: $0.address, sent: $0.sent.load(ordering: .relaxed), outstanding: $0.outstanding.load(ordering: .relaxed))
                    })
            }
        }
    }
}
