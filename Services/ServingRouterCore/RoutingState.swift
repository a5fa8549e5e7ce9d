import Foundation
import SlipwayContracts
import SwiftProtobuf

/// The router's knowledge of endpoints and API keys, merged from deploy-svc snapshots and the deploy
/// event stream. Each aggregate is the shared fold of its events (`EndpointState`, `ApiKeyState`: the
/// same deploy-svc decides against), with the aggregate version it reflects; only newer information
/// replaces it, whichever path delivers it first. Pure value logic (no I/O, no clock).
struct RoutingState: Sendable {
    enum Outcome: Equatable, Sendable {
        /// Applied on top of the previous version.
        case applied
        /// Applied, but versions in between were never seen (or the aggregate's start was): worth a resync.
        case appliedAfterGap
        /// Not newer than what the state holds.
        case stale
        /// Not an aggregate or event the router cares about.
        case ignored
    }

    private(set) var endpoints = TrackedAggregates<EndpointState>()
    private(set) var apiKeys = TrackedAggregates<ApiKeyState>()
    /// Incremented by every change; `merge` uses it to tell what changed while a snapshot was in flight.
    private(set) var generation: UInt64 = 0
    private(set) var snapshotLoaded = false

    // MARK: - Events

    /// Applies one deploy event if it is newer than what the state holds for its aggregate. Every event of
    /// an Endpoint moves its version, even those that change no route.
    mutating func apply(aggregateType: String, aggregateID: String, version: Int64, event: DeployEvent) -> Outcome {
        switch aggregateType {
        case EndpointState.aggregateType:
            return endpoints.apply(aggregateID, version: version, event: event, startsAggregate: event.isEndpointCreated, generation: &generation)
        case ApiKeyState.aggregateType:
            guard event.isApiKeyEvent else { return .ignored }
            return apiKeys.apply(aggregateID, version: version, event: event, startsAggregate: event.isApiKeyCreated, generation: &generation)
        default:
            return .ignored
        }
    }

    // MARK: - Snapshots

    /// Merges a deploy-svc snapshot fetched after generation `startedAt` was current (see `TrackedAggregates.merge`).
    mutating func merge(_ document: RoutingDocument, startedAt: UInt64) {
        generation += 1
        endpoints.merge(
            document.endpoints.map { entry in (entry.endpointID, entry.version, { _ in Self.state(of: entry) }) },
            generation: generation, startedAt: startedAt)
        apiKeys.merge(
            document.apiKeys.map { entry in
                // A snapshot carries no expiry: the one the router knew is kept.
                (
                    entry.apiKeyID, entry.version,
                    { known in Self.state(of: entry, expiresAt: known?.created.flatMap { $0.hasExpiresAt ? $0.expiresAt : nil }) }
                )
            },
            generation: generation, startedAt: startedAt)
        snapshotLoaded = true
    }

    /// An endpoint as a snapshot lists it: its running revisions and their shares.
    static func state(of entry: RoutingDocument.Endpoint) -> EndpointState {
        var state = EndpointState()
        state.name = entry.name
        state.modelName = entry.modelName
        for route in entry.routes {
            var revision = EndpointState.Revision(id: route.revisionID, deploymentID: route.deploymentID)
            revision.addresses = route.addresses
            // A snapshot lists the revisions that became ready (those scaled to zero too, without addresses).
            revision.ready = true
            revision.modelVersionID = route.modelVersionID
            revision.versionNumber = Int32(clamping: route.versionNumber)
            state.revisions[route.revisionID] = revision
            if route.percent > 0 { state.traffic[route.revisionID] = Int32(clamping: route.percent) }
        }
        return state
    }

    /// A key as a snapshot lists it (which carries no expiry: the one the router knew is kept).
    static func state(of entry: RoutingDocument.ApiKey, expiresAt: Google_Protobuf_Timestamp?) -> ApiKeyState {
        var created = ApiKeyCreated()
        created.apiKeyID = entry.apiKeyID
        created.registeredModelID = entry.modelName
        created.keySha256 = entry.keySha256
        created.purpose = entry.kind
        if let expiresAt { created.expiresAt = expiresAt }
        var state = ApiKeyState()
        state.created = created
        state.revoked = !entry.active
        return state
    }

    // MARK: - Views

    /// The routing table as JSON: every revision that is not stopped, its traffic share as `percent`.
    var document: RoutingDocument {
        let endpoints = self.endpoints.values.filter { !$0.state.deleted }.sorted { $0.id < $1.id }.map { endpoint in
            let state = endpoint.state
            let running = state.revisions.filter { !$0.value.stopped }
            let ids = Set(running.keys).union(state.traffic.keys).sorted()
            return RoutingDocument.Endpoint(
                endpointID: endpoint.id, name: state.name, modelName: state.modelName, version: endpoint.version,
                routes: ids.map { id in
                    let revision = running[id] ?? EndpointState.Revision(id: id, deploymentID: "")
                    return RoutingDocument.Route(
                        revisionID: id, deploymentID: revision.deploymentID, address: revision.address ?? "", addresses: revision.addresses,
                        percent: Int(state.traffic[id] ?? 0), modelVersionID: revision.modelVersionID,
                        versionNumber: Int(revision.versionNumber))
                })
        }
        let keys = apiKeys.values.sorted { $0.id < $1.id }.map {
            RoutingDocument.ApiKey(
                apiKeyID: $0.id, modelName: $0.state.modelName, keySha256: $0.state.created?.keySha256.lowercased() ?? "",
                active: $0.state.isActive, version: $0.version, purpose: $0.state.created?.purpose == .testing ? "testing" : "client")
        }
        return RoutingDocument(endpoints: endpoints, apiKeys: keys)
    }
}

/// A fold the router keeps per aggregate of the deploy stream.
protocol DeployFold: Sendable {
    init()
    mutating func apply(_ event: DeployEvent)
}

extension EndpointState: DeployFold {}
extension ApiKeyState: DeployFold {}

/// Every aggregate of one type the router knows: its fold with the aggregate version it reflects, and the
/// last stream events applied to it, kept so that a snapshot older than them can be brought forward.
struct TrackedAggregates<State: DeployFold>: Sendable {
    struct Tracked: Sendable {
        var id: String
        var state: State
        var version: Int64
        /// Generation of the last change (see `merge`).
        var touched: UInt64
    }

    /// An event applied from the stream, with the aggregate version it made.
    struct RetainedEvent: Sendable {
        let version: Int64
        let event: DeployEvent
    }

    static var retainedPerAggregate: Int { 32 }

    private(set) var byID: [String: Tracked] = [:]
    private var retained: [String: [RetainedEvent]] = [:]

    subscript(id: String) -> Tracked? { byID[id] }
    var values: Dictionary<String, Tracked>.Values { byID.values }
    var isEmpty: Bool { byID.isEmpty }

    /// Applies the event if it is newer than what is known of the aggregate; a change bumps `generation`.
    mutating func apply(
        _ id: String, version: Int64, event: DeployEvent, startsAggregate: Bool, generation: inout UInt64
    ) -> RoutingState.Outcome {
        let current = byID[id]
        if let current, version <= current.version { return .stale }
        let gap = current.map { version != $0.version + 1 } ?? !startsAggregate
        generation += 1
        var record = current ?? Tracked(id: id, state: State(), version: 0, touched: 0)
        record.state.apply(event)
        record.version = version
        record.touched = generation
        byID[id] = record

        var events = retained[id] ?? []
        events.append(RetainedEvent(version: version, event: event))
        if events.count > Self.retainedPerAggregate { events.removeFirst(events.count - Self.retainedPerAggregate) }
        retained[id] = events
        return gap ? .appliedAfterGap : .applied
    }

    /// Merges a snapshot's entries (each made from the fold known so far, if any).
    ///
    /// Per aggregate: a snapshot entry at least as new as the state replaces it; an older one is brought
    /// forward by replaying the retained stream events newer than it (so an old snapshot never undoes a
    /// newer event). Aggregates missing from the snapshot are dropped unless the stream changed them
    /// after generation `startedAt` (then the snapshot simply predates them).
    mutating func merge(_ snapshot: [(id: String, version: Int64, state: (State?) -> State)], generation now: UInt64, startedAt: UInt64) {
        var seen = Set<String>()
        for entry in snapshot {
            seen.insert(entry.id)
            let current = byID[entry.id]
            var base = Tracked(id: entry.id, state: entry.state(current?.state), version: entry.version, touched: now)
            if let current, current.version > entry.version {
                for retained in retained[entry.id] ?? [] where retained.version > base.version {
                    base.state.apply(retained.event)
                    base.version = retained.version
                }
                if base.version < current.version { continue }  // cannot rebuild: keep the newer state
            }
            byID[entry.id] = base
        }
        for (id, known) in byID where !seen.contains(id) && known.touched <= startedAt {
            byID[id] = nil
            retained[id] = nil
        }
    }
}
