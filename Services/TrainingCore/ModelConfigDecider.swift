import RecommenderKit
import SlipwayContracts
import SlipwayEventSourcing

/// A model config, identified by its name: created once and never changed.
public enum ModelConfigDecider: Decider {
    public static let aggregateType = "ModelConfig"
    /// Whether the model config exists.
    public static let initial = false

    public enum Command: Sendable, Equatable {
        case create(ModelConfigDefinition)
    }

    public static func decide(_ command: Command, _ exists: Bool) throws -> [TrainingEvent] {
        switch command {
        case .create(let definition):
            let created = try created(definition)
            guard !exists else { throw CommandRejected(.conflict, field: "name", "a model config with this name already exists") }
            return [.modelConfigCreated(created)]
        }
    }

    public static func evolve(_ exists: Bool, _ event: TrainingEvent) -> Bool {
        switch event {
        case .modelConfigCreated: true
        case .datasetRegistered, .featureConfigCreated, .trainingRunCreated, .trainingRunSubmitted, .trainingRunStarted,
            .trainingRunConfigEdited, .stageStarted, .stageCompleted, .stageSkipped, .stageFailed, .epochCompleted, .trainingRunCompleted,
            .trainingRunFailed, .trainingRunCancelled, .trainingRunDeployRequested, .trainingRunDeployed, .trainingRunDeployFailed:
            exists  // not a model config's
        }
    }

    static func created(_ definition: ModelConfigDefinition) throws -> ModelConfigCreated {
        try TrainingNames.validate(definition.name, field: "name")
        let defaults = ModelConfig()
        var event = ModelConfigCreated()
        event.modelConfigID = definition.name
        event.name = definition.name
        event.descriptionText = definition.description ?? ""
        event.modelType = try ModelTypes.parse(definition.modelType, field: "model_type")
        for (layers, field) in [(definition.queryLayers, "query_layers"), (definition.candidateLayers, "candidate_layers")] {
            if let layers, layers.count > 4 || layers.contains(where: { !(1...4096).contains($0) }) {
                throw CommandRejected.invalid(field, "\(field) takes up to 4 hidden layers of 1...4096 units")
            }
        }
        event.queryTowerLayers = (definition.queryLayers ?? defaults.queryLayers).map { Int32($0) }
        event.candidateTowerLayers = (definition.candidateLayers ?? defaults.candidateLayers).map { Int32($0) }
        let dim = definition.outputDim ?? defaults.outputDim
        guard (2...1024).contains(dim) else { throw CommandRejected.invalid("output_dim", "output_dim must be in 2...1024") }
        event.outputEmbeddingDim = Int32(dim)
        let temperature = definition.temperature ?? defaults.temperature
        guard temperature > 0 && temperature <= 10 else { throw CommandRejected.invalid("temperature", "temperature must be in (0, 10]") }
        event.temperature = temperature
        event.disableLogQCorrection = !(definition.logQCorrection ?? true)
        let algorithm = definition.algorithm ?? TrainingAlgorithm.auto.rawValue
        guard TrainingAlgorithm(rawValue: algorithm) != nil else {
            throw CommandRejected.invalid(
                "algorithm", "algorithm must be one of \(TrainingAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        event.algorithm = algorithm
        let factors = definition.factors ?? defaults.factors
        guard (1...1024).contains(factors) else { throw CommandRejected.invalid("factors", "factors must be in 1...1024") }
        event.factors = Int32(factors)
        let iterations = definition.iterations ?? defaults.iterations
        guard (1...200).contains(iterations) else { throw CommandRejected.invalid("iterations", "iterations must be in 1...200") }
        event.iterations = Int32(iterations)
        if let v = definition.regularization {
            guard v >= 0 && v.isFinite else { throw CommandRejected.invalid("regularization", "regularization must be >= 0") }
            event.regularization = v
        }
        if let v = definition.alpha {
            guard v > 0 && v.isFinite else { throw CommandRejected.invalid("alpha", "alpha must be > 0") }
            event.alpha = v
        }
        return event
    }
}
