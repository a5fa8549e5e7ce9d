import Foundation
import SlipwayContracts

/// An immutable, request-ready view of `RoutingState`: endpoints by name with their split precomputed,
/// active keys by SHA-256. Built on every change and swapped in whole, so a request reads it with one
/// reference copy and never waits on an update.
public final class RoutingTable: Sendable {
    struct Key: Sendable {
        let apiKeyID: String
        let modelName: String
        let expiresAt: Date?
        /// Whose requests these are: a testing key's are logged as test traffic.
        let traffic: TrafficKind
    }

    struct Endpoint: Sendable {
        let endpointID: String
        let name: String
        let modelName: String
        let split: TrafficSplit
    }

    /// True once a deploy-svc snapshot has been merged; until then every request is answered 503.
    let loaded: Bool
    let endpointsByName: [String: Endpoint]
    let keysBySha256: [String: Key]
    let endpointCount: Int
    let activeKeyCount: Int
    let document: RoutingDocument

    static let empty = RoutingTable(RoutingState(), loads: InstanceLoads())

    /// A revision with a share routes to its instances; one with no instance (scaled to zero) stays in the split, so
    /// its requests wake it. `loads` keeps each route's load objects across rebuilds.
    init(_ state: RoutingState, loads: InstanceLoads = InstanceLoads()) {
        loaded = state.snapshotLoaded
        let live = state.endpoints.values.filter { !$0.state.deleted && !$0.state.name.isEmpty }
        var serving: [(endpoint: String, revision: EndpointState.Revision, percent: Int32)] = []
        for endpoint in live {
            for (revisionID, percent) in endpoint.state.traffic where percent > 0 {
                guard let revision = endpoint.state.revisions[revisionID], !revision.stopped, revision.ready || !revision.addresses.isEmpty
                else { continue }
                serving.append((endpoint.id, revision, percent))
            }
        }
        let made = loads.rebuild(serving.map { ($0.revision.id, $0.revision.addresses) })
        var routesByEndpoint: [String: [TrafficSplit.Route]] = [:]
        for (endpointID, revision, percent) in serving {
            guard let (load, instances) = made[revision.id] else { continue }
            routesByEndpoint[endpointID, default: []].append(
                TrafficSplit.Route(
                    revisionID: revision.id, deploymentID: revision.deploymentID, instances: instances, load: load,
                    modelVersionID: revision.modelVersionID, versionNumber: Int(revision.versionNumber), percent: Int(percent)))
        }
        var endpoints: [String: Endpoint] = [:]
        for endpoint in live {
            let folded = endpoint.state
            let routes = routesByEndpoint[endpoint.id] ?? []
            endpoints[folded.name] = Endpoint(
                endpointID: endpoint.id, name: folded.name, modelName: folded.modelName,
                split: TrafficSplit(routes))
        }
        var keys: [String: Key] = [:]
        for key in state.apiKeys.values where key.state.isActive {
            guard let created = key.state.created, !created.keySha256.isEmpty else { continue }
            keys[created.keySha256.lowercased()] = Key(
                apiKeyID: key.id, modelName: key.state.modelName,
                expiresAt: created.hasExpiresAt ? created.expiresAt.date : nil, traffic: created.purpose == .testing ? .test : .client)
        }
        endpointsByName = endpoints
        keysBySha256 = keys
        endpointCount = endpoints.count
        activeKeyCount = keys.count
        document = state.document
    }
}
