import RecommenderKit
import SlipwayContracts

extension TrainingRunConfig {
    /// The configuration as the API shows it.
    var view: RunConfigView {
        RunConfigView(
            datasetId: datasetID, featureConfigId: featureConfigID, modelConfigId: modelConfigID,
            trainingParams: RunSettings.TrainingParams(
                epochs: Int(trainingParams.epochs), batchSize: Int(trainingParams.batchSize), learningRate: trainingParams.learningRate,
                optimizer: trainingParams.optimizer, earlyStoppingPatience: Int(trainingParams.earlyStoppingPatience), seed: trainingParams.seed),
            gpuConfig: RunSettings.GPUConfig(
                gpuType: gpuConfig.gpuType, gpuCount: Int(gpuConfig.gpuCount), machineType: gpuConfig.machineType, preemptible: gpuConfig.preemptible),
            evaluatorConfig: RunSettings.EvaluatorConfig(
                enabled: evaluatorConfig.enabled, blessingMetric: evaluatorConfig.blessingMetric,
                blessingThreshold: evaluatorConfig.blessingThreshold,
                allowBelowPopularity: evaluatorConfig.allowBelowPopularity),
            deploymentConfig: RunSettings.DeploymentConfig(
                enabled: deploymentConfig.enabled, serviceName: deploymentConfig.endpointName.isEmpty ? nil : deploymentConfig.endpointName,
                preset: deploymentConfig.preset == .unspecified ? nil : Self.presetName(deploymentConfig.preset)),
            executor: executor.isEmpty ? Executors.local : executor,
            autoRegister: !skipAutoRegister)
    }

    static func presetName(_ preset: EndpointPreset) -> String {
        switch preset {
        case .development: "development"
        case .highTraffic: "high_traffic"
        default: "production"
        }
    }

    /// The platform decides blessing from the evaluator config, whatever the trainer thinks.
    func blessing(of metrics: [String: Double]) -> Bool { evaluator.blesses(metrics) }

    /// The run's evaluator settings as the trainer's one blessing rule takes them.
    var evaluator: RecommenderKit.EvaluatorConfig {
        RecommenderKit.EvaluatorConfig(
            enabled: evaluatorConfig.enabled,
            blessingMetric: evaluatorConfig.blessingMetric.isEmpty ? "recall_at_100" : evaluatorConfig.blessingMetric,
            blessingThreshold: evaluatorConfig.blessingThreshold, requireBeatingPopularity: !evaluatorConfig.allowBelowPopularity)
    }
}
