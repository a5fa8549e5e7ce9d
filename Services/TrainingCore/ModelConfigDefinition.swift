/// `POST /api/model-configs`: the algorithm and the towers' architecture, as the client defines it. Optimisation
/// settings are per run (`training_params`).
public struct ModelConfigDefinition: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?
    public var modelType: String?
    public var queryLayers: [Int]?
    public var candidateLayers: [Int]?
    public var outputDim: Int?
    public var temperature: Double?
    public var logQCorrection: Bool?
    /// auto | two_tower | matrix_factorization, and matrix factorisation's settings (λ and alpha left out: chosen on
    /// the validation split).
    public var algorithm: String?
    public var factors: Int?
    public var iterations: Int?
    public var regularization: Double?
    public var alpha: Double?

    public init(
        name: String, description: String? = nil, modelType: String? = nil, queryLayers: [Int]? = nil, candidateLayers: [Int]? = nil,
        outputDim: Int? = nil, temperature: Double? = nil, logQCorrection: Bool? = nil, algorithm: String? = nil, factors: Int? = nil,
        iterations: Int? = nil, regularization: Double? = nil, alpha: Double? = nil
    ) {
        self.name = name
        self.description = description
        self.modelType = modelType
        self.queryLayers = queryLayers
        self.candidateLayers = candidateLayers
        self.outputDim = outputDim
        self.temperature = temperature
        self.logQCorrection = logQCorrection
        self.algorithm = algorithm
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
    }
}
