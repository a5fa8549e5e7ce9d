import Foundation
import RecommenderKit
import SlipwayContracts

/// A model config as the API shows it and the executor reads it.
public struct ModelConfigView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String
    public var modelType: String
    public var queryLayers: [Int]
    public var candidateLayers: [Int]
    public var outputDim: Int
    public var temperature: Double
    public var logQCorrection: Bool
    public var algorithm: String
    public var factors: Int
    public var iterations: Int
    /// nil: chosen on each run's validation split.
    public var regularization: Double?
    public var alpha: Double?
    public var createdAt: Date?

    init(_ created: ModelConfigCreated, createdAt: Date?) {
        id = created.modelConfigID
        name = created.name
        description = created.descriptionText
        modelType = ModelTypes.name(created.modelType)
        queryLayers = created.queryTowerLayers.map(Int.init)
        candidateLayers = created.candidateTowerLayers.map(Int.init)
        outputDim = Int(created.outputEmbeddingDim)
        temperature = created.temperature
        logQCorrection = !created.disableLogQCorrection
        // A config created before the algorithm existed is `auto` with the trainer's defaults, like a new one without them.
        let defaults = ModelConfig()
        algorithm = created.algorithm.isEmpty ? TrainingAlgorithm.auto.rawValue : created.algorithm
        factors = created.factors > 0 ? Int(created.factors) : defaults.factors
        iterations = created.iterations > 0 ? Int(created.iterations) : defaults.iterations
        regularization = created.hasRegularization ? created.regularization : nil
        alpha = created.hasAlpha ? created.alpha : nil
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name, description, modelType, queryLayers, candidateLayers, outputDim, temperature, logQCorrection
        case algorithm, factors, iterations, regularization, alpha, createdAt
    }

    /// Read-model rows written before the algorithm existed lack its keys; they read as `init(_:createdAt:)` makes them.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ModelConfig()
        id = try c.decode(String.self, forKey: .id)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decode(String.self, forKey: .description)
        modelType = try c.decode(String.self, forKey: .modelType)
        queryLayers = try c.decode([Int].self, forKey: .queryLayers)
        candidateLayers = try c.decode([Int].self, forKey: .candidateLayers)
        outputDim = try c.decode(Int.self, forKey: .outputDim)
        temperature = try c.decode(Double.self, forKey: .temperature)
        logQCorrection = try c.decode(Bool.self, forKey: .logQCorrection)
        algorithm = try c.decodeIfPresent(String.self, forKey: .algorithm) ?? TrainingAlgorithm.auto.rawValue
        factors = try c.decodeIfPresent(Int.self, forKey: .factors) ?? defaults.factors
        iterations = try c.decodeIfPresent(Int.self, forKey: .iterations) ?? defaults.iterations
        regularization = try c.decodeIfPresent(Double.self, forKey: .regularization)
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha)
        createdAt = try c.decodeIfPresent(Date.self, forKey: .createdAt)
    }
}
