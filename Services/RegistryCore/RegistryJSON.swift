import Foundation

/// A registered model as the API shows it. Absent values are written as `null` rather than left
/// out, so clients see the same keys for every model.
public struct ModelJSON: Encodable, Sendable {
    public enum Status: String, Sendable, CaseIterable {
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
    public var latestVersion: VersionJSON?
    public var aliases: [String: Int32]
    public var hasSchedule: Bool
    public var scheduleID: String?
    public var scheduleStatus: String?
    public var isDeployed: Bool
    public var deployedVersion: Int32?
    public var firstRegisteredAt: Date?
    public var latestRegisteredAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, modelName = "model_name", modelType = "model_type", description, tags, status, isRegistered = "is_registered"
        case blessed, totalVersions = "total_versions", latestVersion = "latest_version", aliases, hasSchedule = "has_schedule"
        case scheduleID = "schedule_id", scheduleStatus = "schedule_status", isDeployed = "is_deployed"
        case deployedVersion = "deployed_version", firstRegisteredAt = "first_registered_at"
        case latestRegisteredAt = "latest_registered_at", createdAt = "created_at", updatedAt = "updated_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(modelName, forKey: .modelName)
        try container.encode(modelType, forKey: .modelType)
        try container.encode(description, forKey: .description)
        try container.encode(tags, forKey: .tags)
        try container.encode(status.rawValue, forKey: .status)
        try container.encode(isRegistered, forKey: .isRegistered)
        try container.encode(blessed, forKey: .blessed)
        try container.encode(totalVersions, forKey: .totalVersions)
        try container.encode(latestVersion, forKey: .latestVersion)
        try container.encode(aliases, forKey: .aliases)
        try container.encode(hasSchedule, forKey: .hasSchedule)
        try container.encode(scheduleID, forKey: .scheduleID)
        try container.encode(scheduleStatus, forKey: .scheduleStatus)
        try container.encode(isDeployed, forKey: .isDeployed)
        try container.encode(deployedVersion, forKey: .deployedVersion)
        try container.encode(firstRegisteredAt, forKey: .firstRegisteredAt)
        try container.encode(latestRegisteredAt, forKey: .latestRegisteredAt)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }
}

/// One model version as the API shows it.
public struct VersionJSON: Encodable, Sendable {
    public struct Lineage: Encodable, Sendable {
        public var datasetID: String?
        public var featureConfigID: String?
        public var modelConfigID: String?
        public var scheduleID: String?
        public var parentVersionID: String?
        public var artifacts: [String: String]

        enum CodingKeys: String, CodingKey {
            case datasetID = "dataset_id", featureConfigID = "feature_config_id", modelConfigID = "model_config_id"
            case scheduleID = "schedule_id", parentVersionID = "parent_version_id", artifacts
        }

        init(_ column: LineageColumn) {
            func nonEmpty(_ value: String) -> String? { value.isEmpty ? nil : value }
            datasetID = nonEmpty(column.datasetID)
            featureConfigID = nonEmpty(column.featureConfigID)
            modelConfigID = nonEmpty(column.modelConfigID)
            scheduleID = nonEmpty(column.scheduleID)
            parentVersionID = nonEmpty(column.parentVersionID)
            artifacts = column.artifacts
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(datasetID, forKey: .datasetID)
            try container.encode(featureConfigID, forKey: .featureConfigID)
            try container.encode(modelConfigID, forKey: .modelConfigID)
            try container.encode(scheduleID, forKey: .scheduleID)
            try container.encode(parentVersionID, forKey: .parentVersionID)
            try container.encode(artifacts, forKey: .artifacts)
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

    enum CodingKeys: String, CodingKey {
        case id, modelName = "model_name", version, versionLabel = "version_label", sourceRunID = "source_run_id"
        case runNumber = "run_number", artifactURI = "artifact_uri", metrics, blessed, status, aliases
        case registeredAt = "registered_at", lineage
    }
}

/// `GET /api/registered-models`: the filtered models and KPIs over all of them.
public struct ModelListJSON: Encodable, Sendable {
    public struct KPI: Encodable, Sendable {
        public var total = 0
        public var registered = 0
        public var blessed = 0
        public var deployed = 0
        public var idle = 0
        public var pending = 0
        public var notBlessed = 0
        public var withSchedule = 0
        public var latestRegisteredAt: Date?

        enum CodingKeys: String, CodingKey {
            case total, registered, blessed, deployed, idle, pending, notBlessed = "not_blessed", withSchedule = "with_schedule"
            case latestRegisteredAt = "latest_registered_at"
        }

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

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(total, forKey: .total)
            try container.encode(registered, forKey: .registered)
            try container.encode(blessed, forKey: .blessed)
            try container.encode(deployed, forKey: .deployed)
            try container.encode(idle, forKey: .idle)
            try container.encode(pending, forKey: .pending)
            try container.encode(notBlessed, forKey: .notBlessed)
            try container.encode(withSchedule, forKey: .withSchedule)
            try container.encode(latestRegisteredAt, forKey: .latestRegisteredAt)
        }
    }

    public var registeredModels: [ModelJSON]
    public var kpi: KPI

    enum CodingKeys: String, CodingKey {
        case registeredModels = "registered_models", kpi
    }
}

/// `GET /api/registered-models/check-name?name=X`.
public struct NameCheckJSON: Encodable, Sendable {
    public var name: String
    /// Whether the name could be used for a new model (well-formed and not taken).
    public var valid: Bool
    public var problem: String?
    public var exists: Bool
    public var registeredModelID: String?
    public var hasSchedule: Bool
    public var scheduleID: String?

    enum CodingKeys: String, CodingKey {
        case name, valid, problem, exists, registeredModelID = "registered_model_id", hasSchedule = "has_schedule", scheduleID = "schedule_id"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(valid, forKey: .valid)
        try container.encode(problem, forKey: .problem)
        try container.encode(exists, forKey: .exists)
        try container.encode(registeredModelID, forKey: .registeredModelID)
        try container.encode(hasSchedule, forKey: .hasSchedule)
        try container.encode(scheduleID, forKey: .scheduleID)
    }
}

/// `PUT /api/registered-models/{name}/aliases/{alias}`.
public struct AliasJSON: Encodable, Sendable {
    public var modelName: String
    public var alias: String
    public var version: Int32
    public var versionID: String

    enum CodingKeys: String, CodingKey {
        case modelName = "model_name", alias, version, versionID = "version_id"
    }
}
