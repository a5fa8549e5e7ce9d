import Foundation
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
        self.createdAt = createdAt
    }
}
