import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// A registered model, identified by its name (the aggregate id), with its versions and aliases.
/// Versions live inside the aggregate so that numbering v1..vN needs no coordination: two
/// registrations racing for the same model meet at the event store's expected-version check.
public enum RegisteredModelDecider: Decider {
    public static let aggregateType = "RegisteredModel"
    public static let initial = State()

    public static let maxDescriptionLength = 4000
    public static let maxTags = 50
    public static let maxTagValueLength = 256

    public struct NewModel: Sendable, Equatable {
        public var name: String
        public var modelType: ModelType
        public var description: String
        public var createdBy: String

        public init(name: String, modelType: ModelType, description: String = "", createdBy: String) {
            self.name = name
            self.modelType = modelType
            self.description = description
            self.createdBy = createdBy
        }
    }

    /// nil fields are left as they are.
    public struct ModelUpdate: Sendable, Equatable {
        public var description: String?
        public var tags: [String: String]?
        public var updatedBy: String

        public init(description: String? = nil, tags: [String: String]? = nil, updatedBy: String) {
            self.description = description
            self.tags = tags
            self.updatedBy = updatedBy
        }
    }

    /// What a completed training run contributes to a version: its outcome and where it came from.
    public struct CompletedRun: Sendable, Equatable {
        public var modelName: String
        public var modelType: ModelType
        public var runID: String
        public var runNumber: Int32
        public var artifactURI: String
        public var metrics: [String: Double]
        public var blessed: Bool
        public var datasetID: String
        public var featureConfigID: String
        public var modelConfigID: String
        public var scheduleID: String
        /// Serialized `slipway.training.v1.TrainingRunConfig`, kept verbatim in the lineage.
        public var trainingConfig: Data
        public var artifacts: [String: String]
        /// Who created the run: becomes the model's creator when the run is the model's first use.
        public var createdBy: String

        public init(
            modelName: String, modelType: ModelType, runID: String, runNumber: Int32, artifactURI: String,
            metrics: [String: Double], blessed: Bool, datasetID: String = "", featureConfigID: String = "",
            modelConfigID: String = "", scheduleID: String = "", trainingConfig: Data = Data(),
            artifacts: [String: String] = [:], createdBy: String = ""
        ) {
            self.modelName = modelName
            self.modelType = modelType
            self.runID = runID
            self.runNumber = runNumber
            self.artifactURI = artifactURI
            self.metrics = metrics
            self.blessed = blessed
            self.datasetID = datasetID
            self.featureConfigID = featureConfigID
            self.modelConfigID = modelConfigID
            self.scheduleID = scheduleID
            self.trainingConfig = trainingConfig
            self.artifacts = artifacts
            self.createdBy = createdBy
        }
    }

    public enum Command: Sendable, Equatable {
        case create(NewModel)
        /// Like `create`, but a model that exists already is success with no events: the training
        /// reactor sends it for every run it sees, at least once.
        case ensureExists(NewModel)
        case update(ModelUpdate)
        /// `versionID` comes in (a UUIDv7 made by the caller) so deciding stays pure. A run that is
        /// registered already yields no events, so redelivered training events register nothing twice.
        case registerVersion(CompletedRun, versionID: String, force: Bool)
        case setAlias(alias: String, versionNumber: Int32, setBy: String)
        case deleteAlias(alias: String, deletedBy: String)
    }

    public struct Version: Sendable, Equatable {
        public var id: String
        public var number: Int32
        public var sourceRunID: String
        public var blessed: Bool
    }

    public struct State: Sendable, Equatable {
        public var exists = false
        public var name = ""
        public var modelType: ModelType = .unspecified
        public var description = ""
        public var tags: [String: String] = [:]
        /// In version order: `versions[i].number == i + 1`.
        public var versions: [Version] = []
        /// alias → version number
        public var aliases: [String: Int32] = [:]

        public func version(_ number: Int32) -> Version? {
            versions.first { $0.number == number }
        }

        public func version(fromRun runID: String) -> Version? {
            versions.first { $0.sourceRunID == runID }
        }
    }

    // MARK: Decide

    public static func decide(_ command: Command, _ state: State) throws -> [RegistryEvent] {
        switch command {
        case .create(let model):
            try validate(model)
            guard !state.exists else {
                throw CommandRejected(.conflict, field: "name", "registered model '\(model.name)' already exists")
            }
            return [created(model)]

        case .ensureExists(let model):
            if state.exists { return [] }
            try validate(model)
            return [created(model)]

        case .update(let update):
            guard state.exists else { throw modelNotFound }
            return try decideUpdate(update, state)

        case .registerVersion(let run, let versionID, let force):
            return try decideRegistration(run, versionID: versionID, force: force, state)

        case .setAlias(let alias, let number, let setBy):
            guard state.exists else { throw modelNotFound }
            if let problem = RegistryNames.aliasProblem(alias) { throw CommandRejected(.invalid, field: "alias", problem) }
            guard let version = state.version(number) else {
                throw CommandRejected(.notFound, field: "version", "registered model '\(state.name)' has no version \(number)")
            }
            let previous = state.aliases[alias]
            if previous == number { return [] }
            var event = ModelAliasSet()
            event.modelID = state.name
            event.alias = alias
            event.versionID = version.id
            event.versionNumber = number
            event.previousVersionID = previous.flatMap { state.version($0)?.id } ?? ""
            event.setBy = setBy
            return [.modelAliasSet(event)]

        case .deleteAlias(let alias, let deletedBy):
            guard state.exists else { throw modelNotFound }
            guard let number = state.aliases[alias] else {
                throw CommandRejected(.notFound, field: "alias", "registered model '\(state.name)' has no alias '\(alias)'")
            }
            var event = ModelAliasDeleted()
            event.modelID = state.name
            event.alias = alias
            event.versionID = state.version(number)?.id ?? ""
            event.deletedBy = deletedBy
            return [.modelAliasDeleted(event)]
        }
    }

    private static func decideUpdate(_ update: ModelUpdate, _ state: State) throws -> [RegistryEvent] {
        guard update.description != nil || update.tags != nil else {
            throw CommandRejected(.invalid, field: "description", "nothing to update: set description and/or tags")
        }
        if let description = update.description { try validateDescription(description) }
        if let tags = update.tags { try validateTags(tags) }
        var changed: [String] = []
        if let description = update.description, description != state.description { changed.append("description") }
        if let tags = update.tags, tags != state.tags { changed.append("tags") }
        if changed.isEmpty { return [] }
        var event = RegisteredModelUpdated()
        event.modelID = state.name
        event.descriptionText = update.description ?? state.description
        event.tags = update.tags ?? state.tags
        event.updatedFields = changed
        event.updatedBy = update.updatedBy
        return [.registeredModelUpdated(event)]
    }

    private static func decideRegistration(_ run: CompletedRun, versionID: String, force: Bool, _ state: State) throws -> [RegistryEvent] {
        if let problem = RegistryNames.modelNameProblem(run.modelName) { throw CommandRejected(.invalid, field: "model_name", problem) }
        guard !run.runID.isEmpty else { throw CommandRejected(.invalid, field: "run_id", "run_id must not be empty") }
        guard !versionID.isEmpty else { throw CommandRejected(.invalid, field: "version_id", "version_id must not be empty") }
        if state.version(fromRun: run.runID) != nil { return [] }
        guard run.blessed || force else {
            throw CommandRejected(.conflict, "run is not blessed")
        }
        guard !run.artifactURI.isEmpty else {
            throw CommandRejected(.invalid, field: "artifact_uri", "run \(run.runID) has no model artifact to register")
        }
        var events: [RegistryEvent] = []
        var modelType = state.modelType
        if state.exists {
            if run.modelType.isKnown && run.modelType != state.modelType {
                throw CommandRejected(
                    .conflict, field: "model_type",
                    "run \(run.runID) trained a \(run.modelType.apiName) model; '\(state.name)' is \(state.modelType.apiName)")
            }
        } else {
            let model = NewModel(name: run.modelName, modelType: run.modelType, createdBy: run.createdBy)
            try validate(model)
            events.append(created(model))
            modelType = run.modelType
        }
        let previous = state.versions.last
        var lineage = ModelLineage()
        lineage.runID = run.runID
        lineage.runNumber = run.runNumber
        lineage.datasetID = run.datasetID
        lineage.featureConfigID = run.featureConfigID
        lineage.modelConfigID = run.modelConfigID
        lineage.scheduleID = run.scheduleID
        lineage.parentVersionID = previous?.id ?? ""
        lineage.trainingConfig = run.trainingConfig
        lineage.artifacts = run.artifacts

        var event = ModelVersionRegistered()
        event.modelID = run.modelName
        event.modelName = run.modelName
        event.versionID = versionID
        event.versionNumber = (previous?.number ?? 0) + 1
        event.sourceRunID = run.runID
        event.artifactUri = run.artifactURI
        event.metrics = run.metrics
        event.blessed = run.blessed
        event.lineage = lineage
        event.modelType = modelType
        events.append(.modelVersionRegistered(event))
        return events
    }

    private static func created(_ model: NewModel) -> RegistryEvent {
        var event = RegisteredModelCreated()
        event.modelID = model.name
        event.name = model.name
        event.modelType = model.modelType
        event.descriptionText = model.description
        event.createdBy = model.createdBy
        return .registeredModelCreated(event)
    }

    /// The aggregate id (the name) is not part of these commands; the routes put it into the message.
    static let modelNotFound = CommandRejected(.notFound, "registered model not found")

    // MARK: Validation

    static func validate(_ model: NewModel) throws {
        if let problem = RegistryNames.modelNameProblem(model.name) { throw CommandRejected(.invalid, field: "name", problem) }
        guard model.modelType.isKnown else {
            throw CommandRejected(.invalid, field: "model_type", "model_type must be one of retrieval, ranking, multitask")
        }
        try validateDescription(model.description)
    }

    static func validateDescription(_ description: String) throws {
        guard description.count <= maxDescriptionLength else {
            throw CommandRejected(.invalid, field: "description", "description must be at most \(maxDescriptionLength) characters")
        }
    }

    static func validateTags(_ tags: [String: String]) throws {
        guard tags.count <= maxTags else { throw CommandRejected(.invalid, field: "tags", "at most \(maxTags) tags") }
        for (key, value) in tags {
            guard !key.isEmpty, key.count <= RegistryNames.maxLength else {
                throw CommandRejected(.invalid, field: "tags", "tag names must be 1-\(RegistryNames.maxLength) characters")
            }
            guard value.count <= maxTagValueLength else {
                throw CommandRejected(.invalid, field: "tags.\(key)", "tag values must be at most \(maxTagValueLength) characters")
            }
        }
    }

    // MARK: Evolve

    public static func evolve(_ state: State, _ event: RegistryEvent) -> State {
        var state = state
        switch event {
        case .registeredModelCreated(let created):
            state.exists = true
            state.name = created.name
            state.modelType = created.modelType
            state.description = created.descriptionText
            state.tags = created.tags
        case .registeredModelUpdated(let updated):
            if updated.updatedFields.contains("description") { state.description = updated.descriptionText }
            if updated.updatedFields.contains("tags") { state.tags = updated.tags }
        case .modelVersionRegistered(let registered):
            state.versions.append(
                Version(
                    id: registered.versionID, number: registered.versionNumber, sourceRunID: registered.sourceRunID, blessed: registered.blessed))
        case .modelAliasSet(let set):
            state.aliases[set.alias] = set.versionNumber
        case .modelAliasDeleted(let deleted):
            state.aliases[deleted.alias] = nil
        case .modelVersionStatusChanged:
            break  // a version's serving status is the read model's, derived from deploy-svc's events
        case .registeredModelDeleted:
            state.exists = false  // versions keep their numbers if the name is used again
        }
        return state
    }
}
