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

    static let empty = RoutingTable(RoutingState())

    init(_ state: RoutingState) {
        loaded = state.snapshotLoaded
        var endpoints: [String: Endpoint] = [:]
        for endpoint in state.endpoints.values where !endpoint.state.deleted && !endpoint.state.name.isEmpty {
            let folded = endpoint.state
            let routes = folded.traffic.compactMap { revisionID, percent -> TrafficSplit.Route? in
                guard percent > 0, let revision = folded.revisions[revisionID], !revision.stopped, let address = revision.address, !address.isEmpty
                else { return nil }
                return TrafficSplit.Route(
                    revisionID: revisionID, deploymentID: revision.deploymentID, address: address,
                    modelVersionID: revision.modelVersionID, versionNumber: Int(revision.versionNumber), percent: Int(percent))
            }
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
