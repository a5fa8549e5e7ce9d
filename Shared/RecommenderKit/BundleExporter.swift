import Foundation
import SlipwayModelBundle

/// Builds the model bundle from a trained model.
public enum BundleExporter {
    /// `trainInteractions[i]` counts `candidateIds[i]` in the train split: what a query the model knows nothing about is answered with.
    public static func makeBundle(
        spec: RunSpec, pipeline: FeaturePipeline, queryTower: Tower, candidateTower: Tower,
        candidateEmbeddings: [Float], candidateIds: [String], metrics: [String: Double],
        trainInteractions: [Double]
    ) throws -> ModelBundle {
        let mc = spec.modelConfig
        let iso = Timestamp.format(Date().timeIntervalSince1970)
        func specs(_ t: [FeatureTransform]) -> [Manifest.FeatureSpec] { t.map { .init(name: $0.name, type: $0.type, required: $0.required) } }
        let summaries =
            pipeline.query.map { Manifest.TransformSummary(name: $0.name, side: "query", kind: $0.kind, outputWidth: $0.inputWidth) }
            + pipeline.candidate.map { Manifest.TransformSummary(name: $0.name, side: "candidate", kind: $0.kind, outputWidth: $0.inputWidth) }
        let manifest = Manifest(
            modelName: spec.modelName, createdAt: iso,
            inputSchema: .init(query: specs(pipeline.query), candidate: specs(pipeline.candidate)),
            transforms: summaries,
            queryTower: .init(layers: mc.queryLayers, outputDim: mc.outputDim, l2Normalize: mc.l2Normalize, weightsFile: "query_tower.bin"),
            candidateTower: .init(
                layers: mc.candidateLayers, outputDim: mc.outputDim, l2Normalize: mc.l2Normalize, weightsFile: "candidate_tower.bin"),
            outputDim: mc.outputDim, temperature: mc.temperature,
            candidates: .init(count: candidateIds.count, dim: mc.outputDim, idFeature: "product_id"),
            metrics: metrics,
            lineage: .init(datasetId: spec.dataset.id, featureConfigId: spec.featureConfig.id, modelConfigId: mc.id, trainingRunId: spec.runId))
        return ModelBundle(
            manifest: manifest, preprocessing: Preprocessing(query: pipeline.query, candidate: pipeline.candidate),
            queryTower: queryTower.tensors(), candidateTower: candidateTower.tensors(),
            candidateEmbeddings: candidateEmbeddings, candidateIds: candidateIds
        ).withPopularityFallback(trainInteractions: trainInteractions)
    }
}
