import RecommenderKit

/// `POST /api/feature-configs`: the buyer (query) and product (candidate) towers' features, as the
/// client defines them.
public struct FeatureConfigDefinition: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?
    public var query: [RecommenderKit.FeatureSpec]
    public var candidate: [RecommenderKit.FeatureSpec]

    public init(name: String, description: String? = nil, query: [RecommenderKit.FeatureSpec], candidate: [RecommenderKit.FeatureSpec]) {
        self.name = name
        self.description = description
        self.query = query
        self.candidate = candidate
    }
}
