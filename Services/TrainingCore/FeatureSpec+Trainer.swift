import RecommenderKit
import SlipwayContracts
import SlipwayModelBundle

extension SlipwayContracts.FeatureSpec {
    /// The trainer's spec of a recorded feature.
    var trainerSpec: RecommenderKit.FeatureSpec {
        RecommenderKit.FeatureSpec(
            name: name, type: RawFeatureType(rawValue: rawType) ?? .string, transform: FeatureTransform.Kind(rawValue: transform),
            embeddingDim: Int(embeddingDim), oovBuckets: Int(max(oovBuckets, 1)), buckets: Int(max(bucketCount, 2)), log: logTransform,
            cycles: cycles.compactMap(FeatureTransform.Cycle.init(rawValue:)), required: required, minCount: Int(max(minCount, 1)))
    }
}
