import Foundation
import SlipwayContracts
import SwiftProtobuf

/// The router's knowledge of endpoints and API keys, merged from deploy-svc snapshots and the deploy
/// event stream. Pure value logic (no I/O, no clock): each aggregate carries the aggregate version it
/// reflects, and only newer information replaces it, whichever path delivers it first.
struct RoutingState: Sendable {
    struct Revision: Sendable, Equatable {
        var revisionID: String
        var deploymentID = ""
        var address = ""
        var modelVersionID = ""
        var versionNumber = 0
    }

    struct Endpoint: Sendable, Equatable {
        var endpointID: String
        var name = ""
        var modelName = ""
        var version: Int64 = 0
        var revisions: [String: Revision] = [:]
        /// The complete split, revision id → percent.
        var traffic: [String: Int] = [:]
        /// A tombstone: kept so an older snapshot cannot bring the endpoint back.
        var deleted = false
        /// Generation of the last change (see `merge`).
        var touched: UInt64 = 0
    }

    struct ApiKey: Sendable, Equatable {
        var apiKeyID: String
        var modelName = ""
        var keySha256 = ""
        var active = false
        var expiresAt: Date?
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
        let message: any SwiftProtobuf.Message
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

    /// Applies one deploy event if it is newer than what the state holds for its aggregate.
    mutating func apply(aggregateType: String, aggregateID: String, version: Int64, event: any SwiftProtobuf.Message) -> Outcome {
        switch aggregateType {
        case "Endpoint":
            guard Self.isEndpointEvent(event) else { return .ignored }
            let current = endpoints[aggregateID]
            if let current, version <= current.version { return .stale }
            let gap = current.map { version != $0.version + 1 } ?? !(event is EndpointCreated)
            generation += 1
            var record = current ?? Endpoint(endpointID: aggregateID)
            Self.evolve(&record, event)
            record.version = version
            record.touched = generation
            endpoints[aggregateID] = record
            retain(.endpoint(aggregateID), version: version, event: event)
            return gap ? .appliedAfterGap : .applied
        case "ApiKey":
            guard event is ApiKeyCreated || event is ApiKeyRevoked || event is ApiKeyUsed else { return .ignored }
            let current = apiKeys[aggregateID]
            if let current, version <= current.version { return .stale }
            let gap = current.map { version != $0.version + 1 } ?? !(event is ApiKeyCreated)
            generation += 1
            var record = current ?? ApiKey(apiKeyID: aggregateID)
            Self.evolve(&record, event)
            record.version = version
            record.touched = generation
            apiKeys[aggregateID] = record
            retain(.apiKey(aggregateID), version: version, event: event)
            return gap ? .appliedAfterGap : .applied
        default:
            return .ignored
        }
    }

    static func isEndpointEvent(_ event: any SwiftProtobuf.Message) -> Bool {
        // Every Endpoint event advances the aggregate's version, even those that change no route.
        EventCatalog.entry(for: type(of: event).protoMessageName)?.context == .deploy
    }

    static func evolve(_ endpoint: inout Endpoint, _ event: any SwiftProtobuf.Message) {
        switch event {
        case let created as EndpointCreated:
            endpoint.name = created.name
            endpoint.modelName = created.registeredModelID.isEmpty ? created.modelName : created.registeredModelID
            endpoint.deleted = false
        case let started as RevisionStarted:
            var revision = endpoint.revisions[started.revisionID] ?? Revision(revisionID: started.revisionID)
            revision.deploymentID = started.deploymentID
            revision.modelVersionID = started.modelVersionID
            revision.versionNumber = Int(started.versionNumber)
            endpoint.revisions[started.revisionID] = revision
        case let ready as RevisionReady:
            var revision = endpoint.revisions[ready.revisionID] ?? Revision(revisionID: ready.revisionID)
            revision.address = ready.address
            if !ready.deploymentID.isEmpty { revision.deploymentID = ready.deploymentID }
            if !ready.modelVersionID.isEmpty { revision.modelVersionID = ready.modelVersionID }
            endpoint.revisions[ready.revisionID] = revision
        case let shifted as TrafficShifted:
            endpoint.traffic = shifted.traffic.mapValues(Int.init)
            for (revisionID, modelVersionID) in shifted.revisionVersions {
                var revision = endpoint.revisions[revisionID] ?? Revision(revisionID: revisionID)
                revision.modelVersionID = modelVersionID
                endpoint.revisions[revisionID] = revision
            }
        case let stopped as RevisionStopped:
            endpoint.revisions[stopped.revisionID] = nil
            endpoint.traffic[stopped.revisionID] = nil
        case is Undeployed:
            endpoint.traffic = [:]
        case let deleted as EndpointDeleted:
            if endpoint.name.isEmpty { endpoint.name = deleted.name }
            endpoint.deleted = true
            endpoint.traffic = [:]
            endpoint.revisions = [:]
        default:
            break
        }
    }

    static func evolve(_ key: inout ApiKey, _ event: any SwiftProtobuf.Message) {
        switch event {
        case let created as ApiKeyCreated:
            key.modelName = created.registeredModelID
            key.keySha256 = created.keySha256.lowercased()
            key.active = true
            key.expiresAt = created.hasExpiresAt ? created.expiresAt.date : nil
        case is ApiKeyRevoked:
            key.active = false
        default:
            break
        }
    }

    private mutating func retain(_ key: AggregateKey, version: Int64, event: any SwiftProtobuf.Message) {
        var events = retained[key] ?? []
        events.append(RetainedEvent(version: version, message: event))
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
            var base = Endpoint(endpointID: entry.endpointID, name: entry.name, modelName: entry.modelName, version: entry.version)
            for route in entry.routes {
                base.revisions[route.revisionID] = Revision(
                    revisionID: route.revisionID, deploymentID: route.deploymentID, address: route.address,
                    modelVersionID: route.modelVersionID, versionNumber: route.versionNumber)
                if route.percent > 0 { base.traffic[route.revisionID] = route.percent }
            }
            base.touched = now
            if let current = endpoints[entry.endpointID], current.version > entry.version {
                for event in retained[.endpoint(entry.endpointID)] ?? [] where event.version > base.version {
                    Self.evolve(&base, event.message)
                    base.version = event.version
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
            var base = ApiKey(apiKeyID: entry.apiKeyID, modelName: entry.modelName, keySha256: entry.keySha256,
                              active: entry.active, expiresAt: apiKeys[entry.apiKeyID]?.expiresAt, version: entry.version, touched: now)
            if let current = apiKeys[entry.apiKeyID], current.version > entry.version {
                for event in retained[.apiKey(entry.apiKeyID)] ?? [] where event.version > base.version {
                    Self.evolve(&base, event.message)
                    base.version = event.version
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

    // MARK: - Views

    /// The routing table as JSON (every revision known, its traffic share as `percent`).
    var document: RoutingDocument {
        let endpoints = self.endpoints.values.filter { !$0.deleted }.sorted { $0.endpointID < $1.endpointID }.map { endpoint in
            let ids = Set(endpoint.revisions.keys).union(endpoint.traffic.keys).sorted()
            return RoutingDocument.Endpoint(
                endpointID: endpoint.endpointID, name: endpoint.name, modelName: endpoint.modelName, version: endpoint.version,
                routes: ids.map { id in
                    let revision = endpoint.revisions[id] ?? Revision(revisionID: id)
                    return RoutingDocument.Route(revisionID: id, deploymentID: revision.deploymentID, address: revision.address,
                                                 percent: endpoint.traffic[id] ?? 0, modelVersionID: revision.modelVersionID,
                                                 versionNumber: revision.versionNumber)
                })
        }
        let keys = apiKeys.values.sorted { $0.apiKeyID < $1.apiKeyID }.map {
            RoutingDocument.ApiKey(apiKeyID: $0.apiKeyID, modelName: $0.modelName, keySha256: $0.keySha256, active: $0.active, version: $0.version)
        }
        return RoutingDocument(endpoints: endpoints, apiKeys: keys)
    }
}
