import Foundation
import SlipwayContracts
import SwiftProtobuf

/// The router's knowledge of endpoints and API keys, merged from deploy-svc snapshots and the deploy
/// event stream. Each aggregate is the shared fold of its events (`EndpointState`, `ApiKeyState`: the
/// same deploy-svc decides against), with the aggregate version it reflects; only newer information
/// replaces it, whichever path delivers it first. Pure value logic (no I/O, no clock).
struct RoutingState: Sendable {
    struct Endpoint: Sendable {
        var endpointID: String
        var state = EndpointState()
        var version: Int64 = 0
        /// Generation of the last change (see `merge`).
        var touched: UInt64 = 0
    }

    struct ApiKey: Sendable {
        var apiKeyID: String
        var state = ApiKeyState()
        var version: Int64 = 0
        var touched: UInt64 = 0
    }

    enum AggregateKey: Hashable, Sendable {
        case endpoint(String)
        case apiKey(String)
    }

    /// An event applied from the stream, kept for a while so that a snapshot older than it can be
    /// brought forward by replaying it on top.
    struct RetainedEvent: Sendable {
        let version: Int64
        let event: DeployEvent
    }

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

    static let retainedPerAggregate = 32

    private(set) var endpoints: [String: Endpoint] = [:]
    private(set) var apiKeys: [String: ApiKey] = [:]
    private(set) var retained: [AggregateKey: [RetainedEvent]] = [:]
    /// Incremented by every change; `merge` uses it to tell what changed while a snapshot was in flight.
    private(set) var generation: UInt64 = 0
    private(set) var snapshotLoaded = false

    // MARK: - Events

    /// Applies one deploy event if it is newer than what the state holds for its aggregate. Every event of
    /// an Endpoint moves its version, even those that change no route.
    mutating func apply(aggregateType: String, aggregateID: String, version: Int64, event: DeployEvent) -> Outcome {
        switch aggregateType {
        case EndpointState.aggregateType:
            let current = endpoints[aggregateID]
            if let current, version <= current.version { return .stale }
            let gap = current.map { version != $0.version + 1 } ?? !event.isEndpointCreated
            generation += 1
            var record = current ?? Endpoint(endpointID: aggregateID)
            record.state.apply(event)
            record.version = version
            record.touched = generation
            endpoints[aggregateID] = record
            retain(.endpoint(aggregateID), version: version, event: event)
            return gap ? .appliedAfterGap : .applied
        case ApiKeyState.aggregateType:
            guard event.isApiKeyEvent else { return .ignored }
            let current = apiKeys[aggregateID]
            if let current, version <= current.version { return .stale }
            let gap = current.map { version != $0.version + 1 } ?? !event.isApiKeyCreated
            generation += 1
            var record = current ?? ApiKey(apiKeyID: aggregateID)
            record.state.apply(event)
            record.version = version
            record.touched = generation
            apiKeys[aggregateID] = record
            retain(.apiKey(aggregateID), version: version, event: event)
            return gap ? .appliedAfterGap : .applied
        default:
            return .ignored
        }
    }

    private mutating func retain(_ key: AggregateKey, version: Int64, event: DeployEvent) {
        var events = retained[key] ?? []
        events.append(RetainedEvent(version: version, event: event))
        if events.count > Self.retainedPerAggregate { events.removeFirst(events.count - Self.retainedPerAggregate) }
        retained[key] = events
    }

    // MARK: - Snapshots

    /// Merges a deploy-svc snapshot fetched after generation `startedAt` was current.
    ///
    /// Per aggregate: a snapshot entry at least as new as the state replaces it; an older one is brought
    /// forward by replaying the retained stream events newer than it (so an old snapshot never undoes a
    /// newer event). Aggregates missing from the snapshot are dropped unless the stream changed them
    /// while the snapshot was in flight (then the snapshot simply predates them).
    mutating func merge(_ document: RoutingDocument, startedAt: UInt64) {
        generation += 1
        let now = generation
        var seenEndpoints = Set<String>()
        for entry in document.endpoints {
            seenEndpoints.insert(entry.endpointID)
            var base = Endpoint(endpointID: entry.endpointID, state: Self.state(of: entry), version: entry.version, touched: now)
            if let current = endpoints[entry.endpointID], current.version > entry.version {
                for retained in retained[.endpoint(entry.endpointID)] ?? [] where retained.version > base.version {
                    base.state.apply(retained.event)
                    base.version = retained.version
                }
                if base.version < current.version { continue }  // cannot rebuild: keep the newer state
            }
            endpoints[entry.endpointID] = base
        }
        for (id, endpoint) in endpoints where !seenEndpoints.contains(id) && endpoint.touched <= startedAt {
            endpoints[id] = nil
            retained[.endpoint(id)] = nil
        }

        var seenKeys = Set<String>()
        for entry in document.apiKeys {
            seenKeys.insert(entry.apiKeyID)
            let expiresAt = apiKeys[entry.apiKeyID]?.state.created.flatMap { $0.hasExpiresAt ? $0.expiresAt : nil }
            var base = ApiKey(apiKeyID: entry.apiKeyID, state: Self.state(of: entry, expiresAt: expiresAt), version: entry.version, touched: now)
            if let current = apiKeys[entry.apiKeyID], current.version > entry.version {
                for retained in retained[.apiKey(entry.apiKeyID)] ?? [] where retained.version > base.version {
                    base.state.apply(retained.event)
                    base.version = retained.version
                }
                if base.version < current.version { continue }
            }
            apiKeys[entry.apiKeyID] = base
        }
        for (id, key) in apiKeys where !seenKeys.contains(id) && key.touched <= startedAt {
            apiKeys[id] = nil
            retained[.apiKey(id)] = nil
        }
        snapshotLoaded = true
    }

    /// An endpoint as a snapshot lists it: its running revisions and their shares.
    static func state(of entry: RoutingDocument.Endpoint) -> EndpointState {
        var state = EndpointState()
        state.name = entry.name
        state.modelName = entry.modelName
        for route in entry.routes {
            var revision = EndpointState.Revision(
                id: route.revisionID, deploymentID: route.deploymentID, address: route.address.isEmpty ? nil : route.address)
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
        if let expiresAt { created.expiresAt = expiresAt }
        var state = ApiKeyState()
        state.created = created
        state.revoked = !entry.active
        return state
    }

    // MARK: - Views

    /// The routing table as JSON: every revision that is not stopped, its traffic share as `percent`.
    var document: RoutingDocument {
        let endpoints = self.endpoints.values.filter { !$0.state.deleted }.sorted { $0.endpointID < $1.endpointID }.map { endpoint in
            let state = endpoint.state
            let running = state.revisions.filter { !$0.value.stopped }
            let ids = Set(running.keys).union(state.traffic.keys).sorted()
            return RoutingDocument.Endpoint(
                endpointID: endpoint.endpointID, name: state.name, modelName: state.modelName, version: endpoint.version,
                routes: ids.map { id in
                    let revision = running[id] ?? EndpointState.Revision(id: id, deploymentID: "")
                    return RoutingDocument.Route(
                        revisionID: id, deploymentID: revision.deploymentID, address: revision.address ?? "",
                        percent: Int(state.traffic[id] ?? 0), modelVersionID: revision.modelVersionID,
                        versionNumber: Int(revision.versionNumber))
                })
        }
        let keys = apiKeys.values.sorted { $0.apiKeyID < $1.apiKeyID }.map {
            RoutingDocument.ApiKey(
                apiKeyID: $0.apiKeyID, modelName: $0.state.modelName, keySha256: $0.state.created?.keySha256.lowercased() ?? "",
                active: $0.state.isActive, version: $0.version)
        }
        return RoutingDocument(endpoints: endpoints, apiKeys: keys)
    }
}
