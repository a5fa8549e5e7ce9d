import Foundation
import SlipwayContracts

/// The routing table as JSON: what deploy-svc serves at `GET /internal/routing` (the snapshot the router
/// loads at start and every `--resync-seconds`) and what the router itself answers on its admin
/// `GET /internal/routing`. `version` is the aggregate version (EventEnvelope.aggregate_version) an entry reflects.
public struct RoutingDocument: Codable, Sendable, Equatable {
    public struct Route: Codable, Sendable, Equatable {
        public var revisionID: String
        public var deploymentID: String
        /// The first instance's address (kept while the revision is scaled to zero).
        public var address: String
        /// Every instance serving it; empty while it is scaled to zero.
        public var addresses: [String]
        public var percent: Int
        public var modelVersionID: String
        public var versionNumber: Int

        public init(
            revisionID: String, deploymentID: String = "", address: String, addresses: [String]? = nil, percent: Int, modelVersionID: String = "",
            versionNumber: Int = 0
        ) {
            self.revisionID = revisionID
            self.deploymentID = deploymentID
            self.address = address
            self.addresses = addresses ?? (address.isEmpty ? [] : [address])
            self.percent = percent
            self.modelVersionID = modelVersionID
            self.versionNumber = versionNumber
        }

        enum CodingKeys: String, CodingKey {
            case revisionID = "revision_id", deploymentID = "deployment_id", address, addresses, percent
            case modelVersionID = "model_version_id", versionNumber = "version_number"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            revisionID = try c.decode(String.self, forKey: .revisionID)
            deploymentID = try c.decodeIfPresent(String.self, forKey: .deploymentID) ?? ""
            address = try c.decodeIfPresent(String.self, forKey: .address) ?? ""
            // A deploy-svc from before instances lists one address.
            addresses = try c.decodeIfPresent([String].self, forKey: .addresses) ?? (address.isEmpty ? [] : [address])
            percent = try c.decodeIfPresent(Int.self, forKey: .percent) ?? 0
            modelVersionID = try c.decodeIfPresent(String.self, forKey: .modelVersionID) ?? ""
            versionNumber = try c.decodeIfPresent(Int.self, forKey: .versionNumber) ?? 0
        }
    }

    public struct Endpoint: Codable, Sendable, Equatable {
        public var endpointID: String
        public var name: String
        public var modelName: String
        public var version: Int64
        public var routes: [Route]

        public init(endpointID: String, name: String, modelName: String, version: Int64, routes: [Route]) {
            self.endpointID = endpointID
            self.name = name
            self.modelName = modelName
            self.version = version
            self.routes = routes
        }

        enum CodingKeys: String, CodingKey {
            case endpointID = "endpoint_id", name, modelName = "model_name", version, routes
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            endpointID = try c.decode(String.self, forKey: .endpointID)
            name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
            modelName = try c.decodeIfPresent(String.self, forKey: .modelName) ?? ""
            version = try c.decodeIfPresent(Int64.self, forKey: .version) ?? 0
            routes = try c.decodeIfPresent([Route].self, forKey: .routes) ?? []
        }
    }

    public struct ApiKey: Codable, Sendable, Equatable {
        public var apiKeyID: String
        public var modelName: String
        public var keySha256: String
        public var active: Bool
        public var version: Int64
        /// `client`, or `testing`: the key's requests are logged as test traffic.
        public var purpose: String

        public init(apiKeyID: String, modelName: String, keySha256: String, active: Bool = true, version: Int64, purpose: String = "client") {
            self.purpose = purpose
            self.apiKeyID = apiKeyID
            self.modelName = modelName
            self.keySha256 = keySha256
            self.active = active
            self.version = version
        }

        enum CodingKeys: String, CodingKey {
            case apiKeyID = "api_key_id", modelName = "model_name", keySha256 = "key_sha256", active, version, purpose
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            apiKeyID = try c.decode(String.self, forKey: .apiKeyID)
            modelName = try c.decodeIfPresent(String.self, forKey: .modelName) ?? ""
            keySha256 = (try c.decodeIfPresent(String.self, forKey: .keySha256) ?? "").lowercased()
            active = try c.decodeIfPresent(Bool.self, forKey: .active) ?? true
            version = try c.decodeIfPresent(Int64.self, forKey: .version) ?? 0
            purpose = try c.decodeIfPresent(String.self, forKey: .purpose) ?? "client"
        }

        /// The purpose as the key's event carries it.
        var kind: ApiKeyPurpose { purpose == "testing" ? .testing : .client }
    }

    public var endpoints: [Endpoint]
    public var apiKeys: [ApiKey]

    public init(endpoints: [Endpoint] = [], apiKeys: [ApiKey] = []) {
        self.endpoints = endpoints
        self.apiKeys = apiKeys
    }

    enum CodingKeys: String, CodingKey { case endpoints, apiKeys = "api_keys" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        endpoints = try c.decodeIfPresent([Endpoint].self, forKey: .endpoints) ?? []
        apiKeys = try c.decodeIfPresent([ApiKey].self, forKey: .apiKeys) ?? []
    }
}
