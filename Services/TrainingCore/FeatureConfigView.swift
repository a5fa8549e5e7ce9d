import Foundation
import RecommenderKit
import SlipwayContracts

/// A feature config as the API shows it and the executor reads it.
public struct FeatureConfigView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String
    public var query: [RecommenderKit.FeatureSpec]
    public var candidate: [RecommenderKit.FeatureSpec]
    public var createdAt: Date?

    init(_ created: FeatureConfigCreated, createdAt: Date?) {
        id = created.featureConfigID
        name = created.name
        description = created.descriptionText
        query = created.queryFeatures.map(\.trainerSpec)
        candidate = created.candidateFeatures.map(\.trainerSpec)
        self.createdAt = createdAt
    }

    public var trainerConfig: FeatureConfig { FeatureConfig(id: id, query: query, candidate: candidate) }
}
