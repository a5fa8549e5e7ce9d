/// `POST /api/model-configs`: the towers' architecture, as the client defines it. Optimisation settings
/// are per run (`training_params`).
public struct ModelConfigDefinition: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?
    public var modelType: String?
    public var queryLayers: [Int]?
    public var candidateLayers: [Int]?
    public var outputDim: Int?
    public var temperature: Double?
    public var logQCorrection: Bool?

    public init(
        name: String, description: String? = nil, modelType: String? = nil, queryLayers: [Int]? = nil, candidateLayers: [Int]? = nil,
        outputDim: Int? = nil, temperature: Double? = nil, logQCorrection: Bool? = nil
    ) {
        self.name = name
        self.description = description
        self.modelType = modelType
        self.queryLayers = queryLayers
        self.candidateLayers = candidateLayers
        self.outputDim = outputDim
        self.temperature = temperature
        self.logQCorrection = logQCorrection
    }
}
