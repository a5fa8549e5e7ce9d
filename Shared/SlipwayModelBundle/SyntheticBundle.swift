import Foundation

/// A random but well-formed bundle shaped like a trained B2B model: a query tower over customer id,
/// city and segment (48 → hidden → dim), unit-length candidate rows with ids `P100000…`. Used by the
/// scoring and serving benchmarks and by tests that need a bundle of a given size without training.
public enum SyntheticBundle {
    public static let cities = 20
    public static let segments = ["enterprise", "mid_market", "small_business", "horeca"]

    public static func customerID(_ index: Int) -> String { "C\(index)" }

    public static func make(
        candidates n: Int = 10_000, dim d: Int = 64, customers: Int = 5_000, hidden: Int = 128,
        modelName: String = "synthetic", seed: UInt64 = 42
    ) -> ModelBundle {
        var state = seed
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(state >> 11) * 0x1.0p-53) * 2 - 1
        }
        func tensor(_ shape: [Int]) -> Tensor { Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in next() * 0.2 }) }
        let query: [FeatureTransform] = [
            .vocabulary("customer_id", values: (0..<customers).map(customerID), embeddingDim: 32, required: true),
            .vocabulary("city", values: (0..<cities).map { "city\($0)" }, embeddingDim: 8),
            .vocabulary("segment", values: segments, embeddingDim: 8),
        ]
        let tensors: [String: Tensor] = [
            "embedding/customer_id": tensor([customers + 1, 32]), "embedding/city": tensor([cities + 1, 8]),
            "embedding/segment": tensor([segments.count + 1, 8]),
            "dense_0/kernel": tensor([48, hidden]), "dense_0/bias": tensor([hidden]),
            "dense_1/kernel": tensor([hidden, d]), "dense_1/bias": tensor([d]),
        ]
        var embeddings = (0..<(n * d)).map { _ in next() }
        for i in 0..<n {  // unit rows, like a trained bundle's L2-normalised candidate tower
            var sum: Float = 0
            for j in 0..<d { sum += embeddings[i * d + j] * embeddings[i * d + j] }
            let inverse = 1 / sum.squareRoot()
            for j in 0..<d { embeddings[i * d + j] *= inverse }
        }
        let manifest = Manifest(
            modelName: modelName, createdAt: Timestamp.format(Date().timeIntervalSince1970),
            inputSchema: .init(
                query: query.map { .init(name: $0.name, type: $0.type, required: $0.required) },
                candidate: [.init(name: "product_id", type: .string, required: true)]),
            transforms: [], queryTower: .init(layers: [hidden], outputDim: d, l2Normalize: true, weightsFile: "query_tower.bin"),
            candidateTower: .init(layers: [hidden], outputDim: d, l2Normalize: true, weightsFile: nil), outputDim: d, temperature: 0.1,
            candidates: .init(count: n, dim: d, idFeature: "product_id"), metrics: [:], lineage: .init())
        return ModelBundle(
            manifest: manifest, preprocessing: Preprocessing(query: query, candidate: []), queryTower: tensors,
            candidateEmbeddings: embeddings, candidateIds: (0..<n).map { "P\(100_000 + $0)" })
    }
}
