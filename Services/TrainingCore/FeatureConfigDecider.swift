import RecommenderKit
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayModelBundle

/// A feature config, identified by its name: created once and never changed.
public enum FeatureConfigDecider: Decider {
    public static let aggregateType = "FeatureConfig"
    /// Whether the feature config exists.
    public static let initial = false

    public enum Command: Sendable, Equatable {
        case create(FeatureConfigDefinition)
    }

    public static func decide(_ command: Command, _ exists: Bool) throws -> [TrainingEvent] {
        switch command {
        case .create(let definition):
            let created = try created(definition)
            guard !exists else { throw CommandRejected(.conflict, field: "name", "a feature config with this name already exists") }
            return [.featureConfigCreated(created)]
        }
    }

    public static func evolve(_ exists: Bool, _ event: TrainingEvent) -> Bool {
        switch event {
        case .featureConfigCreated: true
        case .datasetRegistered, .modelConfigCreated, .trainingRunCreated, .trainingRunSubmitted, .trainingRunStarted,
            .trainingRunConfigEdited, .stageStarted, .stageCompleted, .stageSkipped, .stageFailed, .epochCompleted, .trainingRunCompleted,
            .trainingRunFailed, .trainingRunCancelled, .trainingRunDeployRequested, .trainingRunDeployed, .trainingRunDeployFailed:
            exists  // not a feature config's
        }
    }

    static func created(_ definition: FeatureConfigDefinition) throws -> FeatureConfigCreated {
        try TrainingNames.validate(definition.name, field: "name")
        guard !definition.query.isEmpty else { throw CommandRejected.invalid("query", "query needs at least one feature (e.g. customer_id)") }
        guard !definition.candidate.isEmpty else { throw CommandRejected.invalid("candidate", "candidate needs at least one feature") }
        guard definition.candidate.contains(where: { $0.name == "product_id" }) else {
            throw CommandRejected.invalid("candidate", "candidate must include product_id: serving returns product ids")
        }
        var event = FeatureConfigCreated()
        event.featureConfigID = definition.name
        event.name = definition.name
        event.descriptionText = definition.description ?? ""
        event.queryFeatures = try definition.query.enumerated().map { try feature($0.element, field: "query[\($0.offset)]") }
        event.candidateFeatures = try definition.candidate.enumerated().map { try feature($0.element, field: "candidate[\($0.offset)]") }
        for (side, features) in [("query", definition.query), ("candidate", definition.candidate)] {
            var seen = Set<String>()
            for (i, feature) in features.enumerated() where !seen.insert(feature.name).inserted {
                throw CommandRejected.invalid("\(side)[\(i)].name", "feature '\(feature.name)' appears twice in \(side)")
            }
        }
        return event
    }

    static func feature(_ spec: RecommenderKit.FeatureSpec, field: String) throws -> SlipwayContracts.FeatureSpec {
        guard !spec.name.isEmpty else { throw CommandRejected.invalid("\(field).name", "\(field).name must not be empty") }
        let allowed: [RawFeatureType: Set<FeatureTransform.Kind>] = [
            .string: [.vocabulary], .int: [.vocabulary, .normalize, .bucketize],
            .float: [.normalize, .bucketize], .timestamp: [.cyclical, .normalize, .bucketize],
        ]
        guard allowed[spec.type]?.contains(spec.transform) == true else {
            throw CommandRejected.invalid(
                "\(field).transform", "\(field).transform '\(spec.transform.rawValue)' does not apply to type '\(spec.type.rawValue)'")
        }
        guard (1...512).contains(spec.embeddingDim) else {
            throw CommandRejected.invalid("\(field).embedding_dim", "\(field).embedding_dim must be in 1...512")
        }
        guard (1...1000).contains(spec.oovBuckets) else {
            throw CommandRejected.invalid("\(field).oov_buckets", "\(field).oov_buckets must be in 1...1000")
        }
        guard (2...1000).contains(spec.buckets) else { throw CommandRejected.invalid("\(field).buckets", "\(field).buckets must be in 2...1000") }
        guard spec.minCount >= 1 else { throw CommandRejected.invalid("\(field).min_count", "\(field).min_count must be at least 1") }
        if spec.transform == .cyclical, spec.cycles.isEmpty { throw CommandRejected.invalid("\(field).cycles", "\(field).cycles must not be empty") }
        var out = SlipwayContracts.FeatureSpec()
        out.name = spec.name
        out.sourceColumn = spec.name
        out.rawType = spec.type.rawValue
        out.transform = spec.transform.rawValue
        out.kind =
            switch spec.transform {
            case .vocabulary: .categorical
            case .cyclical: .timestamp
            case .normalize, .bucketize: .numeric
            }
        out.embeddingDim = Int32(spec.embeddingDim)
        out.oovBuckets = Int32(spec.oovBuckets)
        out.bucketCount = Int32(spec.buckets)
        out.logTransform = spec.log
        out.cycles = spec.cycles.map(\.rawValue)
        out.required = spec.required
        out.minCount = Int32(spec.minCount)
        return out
    }
}
