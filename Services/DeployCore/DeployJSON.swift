import Foundation
import Hummingbird
import SlipwayPlatform

// deploy-svc's answers. Endpoint and deployment dates carry milliseconds (`MillisecondDate`); API keys'
// are whole seconds. Keys the answers promise even without a value are `@Nullable`.

/// An endpoint with its traffic and its deployment history (newest first).
public struct EndpointJSON: ResponseEncodable, Decodable, Sendable {
    public enum Status: String, Codable, Sendable, CaseIterable {
        /// A deployment is in progress.
        case deploying
        case serving
        case notServing = "not_serving"
    }

    public var name: String
    public var id: String
    public var modelName: String
    public var preset: String
    public var resources: ResourcesColumn
    public var target: String
    public var url: String
    public var description: String
    public var createdBy: String
    public var createdAt: MillisecondDate
    public var updatedAt: MillisecondDate
    /// The aggregate version.
    public var version: Int64
    @Nullable public var activeDeploymentID: String?
    /// The deployments with a share of the traffic.
    public var traffic: [TrafficJSON]
    public var deployments: [DeploymentJSON]
    @Nullable public var activeDeployment: DeploymentJSON?
    public var status: Status
    /// Only in an instant rollback's answer (`true`).
    public var instant: Bool?
}

/// A deployment's share of its endpoint's traffic.
public struct TrafficJSON: Codable, Sendable {
    public var deploymentID: String
    public var version: Int
    public var percent: Int
    @Nullable public var revisionID: String?
}

/// One deployment (an attempt to put a model version on an endpoint) with its revision.
public struct DeploymentJSON: ResponseEncodable, Decodable, Sendable {
    public var id: String
    public var endpoint: String
    public var number: Int
    public var modelName: String
    public var modelVersionID: String
    public var version: Int
    public var strategy: String
    public var steps: [StepColumn]
    public var force: Bool
    public var requestedBy: String
    public var reason: String
    public var sourceRunID: String
    public var metrics: [String: Double]
    public var status: String
    public var trafficPercent: Int
    public var stepIndex: Int
    public var error: String
    public var createdAt: MillisecondDate
    @Nullable public var activatedAt: MillisecondDate?
    @Nullable public var endedAt: MillisecondDate?
    @Nullable public var revisionID: String?
    @Nullable public var revision: RevisionJSON?
    /// Whether a rollback can return to it, and whether that would be instant (`EndpointState.rollbackPath`).
    public var rollbackAvailable: Bool
    public var rollbackInstant: Bool
    /// A gradual rollout's policies: roll back at once when an alert fires; hold a step it cannot judge by its deadline.
    public var rollbackOnAlert = false
    public var holdWhenInconclusive = false
    /// The step that holds (passed its deadline unjudged and waits for its figures or a person), while it does.
    @Nullable public var heldStep: Int? = nil
    /// Only in the answer to a rollback that deploys the version again: `false`, and why.
    public var instant: Bool?
    public var message: String?
}

/// The model-server process (or pod) of a deployment.
public struct RevisionJSON: Codable, Sendable {
    public var id: String
    /// The first instance's address.
    @Nullable public var address: String?
    /// Every instance's address (model-server processes serving it); empty while it is scaled to zero.
    public var instances: [String]
    public var status: String
    @Nullable public var startupMs: Int64?
    public var error: String
}

/// `GET /api/models/{model}/endpoints`.
public struct EndpointListJSON: ResponseEncodable, Decodable, Sendable {
    public var endpoints: [EndpointJSON]
}

/// `GET /api/models/{model}/deployments`.
public struct DeploymentListJSON: ResponseEncodable, Decodable, Sendable {
    public var deployments: [DeploymentJSON]
}

/// `POST /api/models/{model}/undeploy`.
public struct ModelUndeployedJSON: ResponseEncodable, Decodable, Sendable {
    public var model: String
    public var undeployedEndpoints: [String]
}

/// `POST /internal/api-keys/usage`: how many keys' usage was recorded.
public struct UsageRecordedJSON: ResponseEncodable, Sendable {
    public var recorded: Int
}

/// `GET /internal/routing`: serving-router's table — every endpoint with its running revisions (those
/// without a share too, at 0, so a rollback to a warm revision finds its address) and every API key.
/// `version` is the aggregate version an entry reflects.
public struct RoutingSnapshotJSON: ResponseEncodable, Sendable {
    public struct Endpoint: Encodable, Sendable {
        public var endpointID: String
        public var name: String
        public var modelName: String
        public var version: Int64
        public var routes: [Route]
    }

    public struct Route: Encodable, Sendable {
        public var revisionID: String
        public var deploymentID: String
        /// The first instance's (kept while it is scaled to zero).
        public var address: String
        /// Every instance serving it; empty while it is scaled to zero (a request wakes it).
        public var addresses: [String]
        public var percent: Int
        public var modelVersionID: String
        public var versionNumber: Int
    }

    public struct ApiKey: Encodable, Sendable {
        public var apiKeyID: String
        public var modelName: String
        public var keySha256: String
        /// Not revoked and not expired.
        public var active: Bool
        public var version: Int64
        /// `client` or `testing` (the router logs a testing key's requests as test traffic).
        public var purpose: String
    }

    public var endpoints: [Endpoint]
    public var apiKeys: [ApiKey]
}

/// An API key as the API shows it: never the key itself. Absent dates are left out.
public struct ApiKeyJSON: ResponseEncodable, Decodable, Sendable {
    public var id: String
    public var modelName: String
    public var name: String
    public var keyPrefix: String
    public var isActive: Bool
    /// `client`, or `testing` (testing-svc's: its requests are left out of serving figures).
    public var purpose: String
    public var createdBy: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var lastUsedAt: Date?
}

/// `GET /api/models/{model}/api-keys`.
public struct ApiKeyListJSON: ResponseEncodable, Decodable, Sendable {
    public var apiKeys: [ApiKeyJSON]
}

/// `POST /api/models/{model}/api-keys`: the only answer with the plain key.
public struct ApiKeyCreatedJSON: ResponseEncodable, Decodable, Sendable {
    public var apiKey: ApiKeyJSON
    public var key: String
    public var message: String
}
