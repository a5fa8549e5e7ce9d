import Foundation
import Hummingbird
import SlipwayPlatform

/// A registered model as the API shows it. Absent values are written as `null` rather than left
/// out, so clients see the same keys for every model.
public struct ModelJSON: ResponseEncodable, Decodable, Sendable {
    public enum Status: String, Codable, Sendable, CaseIterable {
        /// No version yet and no finished run to judge by.
        case pending
        /// No version, and the latest finished run missed the blessing threshold.
        case notBlessed = "not_blessed"
        /// Has versions, none serving.
        case idle
        /// A version is serving (from deploy-svc's events, through `model_versions.status`).
        case deployed
    }

    public var id: String
    public var modelName: String
    public var modelType: String
    public var description: String
    public var tags: [String: String]
    public var status: Status
    public var isRegistered: Bool
    public var blessed: Bool
    public var totalVersions: Int32
    @Nullable public var latestVersion: VersionJSON?
    public var aliases: [String: Int32]
    public var hasSchedule: Bool
    @Nullable public var scheduleID: String?
    @Nullable public var scheduleStatus: String?
    public var isDeployed: Bool
    @Nullable public var deployedVersion: Int32?
    @Nullable public var firstRegisteredAt: Date?
    @Nullable public var latestRegisteredAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
}

/// One model version as the API shows it.
public struct VersionJSON: ResponseEncodable, Decodable, Sendable {
    public struct Lineage: Codable, Sendable {
        @Nullable public var datasetID: String?
        @Nullable public var featureConfigID: String?
        @Nullable public var modelConfigID: String?
        @Nullable public var scheduleID: String?
        @Nullable public var parentVersionID: String?
        public var artifacts: [String: String]

        init(_ column: LineageColumn) {
            func nonEmpty(_ value: String) -> String? { value.isEmpty ? nil : value }
            datasetID = nonEmpty(column.datasetId)
            featureConfigID = nonEmpty(column.featureConfigId)
            modelConfigID = nonEmpty(column.modelConfigId)
            scheduleID = nonEmpty(column.scheduleId)
            parentVersionID = nonEmpty(column.parentVersionId)
            artifacts = column.artifacts
        }
    }

    public var id: String
    public var modelName: String
    public var version: Int32
    public var versionLabel: String
    public var sourceRunID: String
    public var runNumber: Int32
    public var artifactURI: String
    public var metrics: [String: Double]
    public var blessed: Bool
    public var status: String
    public var aliases: [String]
    public var registeredAt: Date
    public var lineage: Lineage
}

/// `GET /api/registered-models`: the filtered models and KPIs over all of them.
public struct ModelListJSON: ResponseEncodable, Decodable, Sendable {
    public struct KPI: Codable, Sendable {
        public var total = 0
        public var registered = 0
        public var blessed = 0
        public var deployed = 0
        public var idle = 0
        public var pending = 0
        public var notBlessed = 0
        public var withSchedule = 0
        @Nullable public var latestRegisteredAt: Date?

        init(_ models: [ModelJSON]) {
            total = models.count
            for model in models {
                if model.isRegistered { registered += 1 }
                if model.blessed { blessed += 1 }
                if model.hasSchedule { withSchedule += 1 }
                switch model.status {
                case .deployed: deployed += 1
                case .idle: idle += 1
                case .pending: pending += 1
                case .notBlessed: notBlessed += 1
                }
            }
            latestRegisteredAt = models.compactMap(\.latestRegisteredAt).max()
        }
    }

    /// Newest first, after `offset`, at most `limit`.
    public var registeredModels: [ModelJSON]
    /// How many models the filters match, however many are shown.
    public var totalMatching: Int
    public var kpi: KPI
}

/// `GET /api/registered-models/check-name?name=X`.
public struct NameCheckJSON: ResponseEncodable, Decodable, Sendable {
    public var name: String
    /// Whether the name could be used for a new model (well-formed and not taken).
    public var valid: Bool
    @Nullable public var problem: String?
    public var exists: Bool
    @Nullable public var registeredModelID: String?
    public var hasSchedule: Bool
    @Nullable public var scheduleID: String?
}

/// `PUT /api/registered-models/{name}/aliases/{alias}`.
public struct AliasJSON: ResponseEncodable, Decodable, Sendable {
    public var modelName: String
    public var alias: String
    public var version: Int32
    public var versionID: String
}

/// `GET /api/registered-models/{name}/versions`.
public struct VersionListJSON: Codable, Sendable {
    public var versions: [VersionJSON]
}
