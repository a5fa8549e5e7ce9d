import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import RecommenderKit

/// The spec's training wizard settings. In requests every field is optional (defaults fill in);
/// in responses every field is set.
public struct TrainingParamsBody: Codable, Sendable, Equatable {
    public var epochs: Int?
    public var batchSize: Int?
    public var learningRate: Double?
    public var optimizer: String?
    public var earlyStoppingPatience: Int?
    public var seed: Int64?
}

public struct GPUConfigBody: Codable, Sendable, Equatable {
    public var gpuType: String?
    public var gpuCount: Int?
    public var machineType: String?
    public var preemptible: Bool?
}

public struct EvaluatorConfigBody: Codable, Sendable, Equatable {
    public var enabled: Bool?
    public var blessingMetric: String?
    public var blessingThreshold: Double?
}

public struct DeploymentConfigBody: Codable, Sendable, Equatable {
    public var enabled: Bool?
    public var serviceName: String?
    public var preset: String?
}

/// Everything a run needs besides its name; `GET/PATCH /api/training-runs/{id}/config`.
public struct RunConfigView: Codable, Sendable, Equatable {
    public var datasetId: String
    public var featureConfigId: String
    public var modelConfigId: String
    public var trainingParams: TrainingParamsBody
    public var gpuConfig: GPUConfigBody
    public var evaluatorConfig: EvaluatorConfigBody
    public var deploymentConfig: DeploymentConfigBody
    public var executor: String
    public var autoRegister: Bool
}

/// `POST /api/training-runs` (and `POST /api/models/{name}/training-runs`).
public struct CreateRunBody: Codable, Sendable {
    public var name: String?
    public var description: String?
    public var modelType: String?
    public var datasetId: String?
    public var featureConfigId: String?
    public var modelConfigId: String?
    public var trainingParams: TrainingParamsBody?
    public var gpuConfig: GPUConfigBody?
    public var evaluatorConfig: EvaluatorConfigBody?
    public var deploymentConfig: DeploymentConfigBody?
    /// "local" (default) runs the trainer here; "external" waits for a trainer that reports through the webhooks.
    public var executor: String?
    public var autoRegister: Bool?
    /// false keeps the run `pending` until `POST .../submit`.
    public var submit: Bool?
}

/// `PATCH /api/training-runs/{id}/config`: only the fields given change.
public struct EditConfigBody: Codable, Sendable {
    public var datasetId: String?
    public var featureConfigId: String?
    public var modelConfigId: String?
    public var trainingParams: TrainingParamsBody?
    public var gpuConfig: GPUConfigBody?
    public var evaluatorConfig: EvaluatorConfigBody?
    public var deploymentConfig: DeploymentConfigBody?
    public var executor: String?
    public var autoRegister: Bool?

    var updatedFields: [String] {
        var fields: [String] = []
        if datasetId != nil { fields.append("dataset_id") }
        if featureConfigId != nil { fields.append("feature_config_id") }
        if modelConfigId != nil { fields.append("model_config_id") }
        if trainingParams != nil { fields.append("training_params") }
        if gpuConfig != nil { fields.append("gpu_config") }
        if evaluatorConfig != nil { fields.append("evaluator_config") }
        if deploymentConfig != nil { fields.append("deployment_config") }
        if executor != nil { fields.append("executor") }
        if autoRegister != nil { fields.append("auto_register") }
        return fields
    }
}

public enum Executors {
    public static let local = "local"
    public static let external = "external"
    static let all = [local, external]
}

/// The metrics a run can be blessed on (the evaluator computes each of them).
let blessingMetrics = ["recall_at_5", "recall_at_10", "recall_at_50", "recall_at_100"]

enum RunConfigValidation {
    /// Merges `edit` over `base` (nil base = defaults) and validates the result; references to datasets
    /// and configs are checked by the caller against the read model.
    static func merged(base: TrainingRunConfig?, datasetID: String?, featureConfigID: String?, modelConfigID: String?,
                       trainingParams: TrainingParamsBody?, gpu: GPUConfigBody?, evaluator: EvaluatorConfigBody?,
                       deployment: DeploymentConfigBody?, executor: String?, autoRegister: Bool?) throws -> TrainingRunConfig {
        let defaults = ModelConfig()
        var config = base ?? {
            var c = TrainingRunConfig()
            c.trainingParams.epochs = Int32(defaults.epochs)
            c.trainingParams.batchSize = Int32(defaults.batchSize)
            c.trainingParams.learningRate = defaults.learningRate
            c.trainingParams.optimizer = defaults.optimizer.rawValue
            c.trainingParams.earlyStoppingPatience = Int32(defaults.earlyStoppingPatience)
            c.trainingParams.seed = Int64(defaults.seed)
            c.evaluatorConfig.enabled = true
            c.evaluatorConfig.blessingMetric = "recall_at_100"
            c.evaluatorConfig.blessingThreshold = EvaluatorConfig().minRecallAt100
            c.executor = Executors.local
            return c
        }()
        if let datasetID { config.datasetID = datasetID }
        if let featureConfigID { config.featureConfigID = featureConfigID }
        if let modelConfigID { config.modelConfigID = modelConfigID }
        for (value, field) in [(config.datasetID, "dataset_id"), (config.featureConfigID, "feature_config_id"), (config.modelConfigID, "model_config_id")] {
            guard !value.isEmpty else { throw invalid(field, "\(field) is required") }
        }
        if let p = trainingParams {
            if let v = p.epochs {
                guard (1...1000).contains(v) else { throw invalid("training_params.epochs", "training_params.epochs must be in 1...1000") }
                config.trainingParams.epochs = Int32(v)
            }
            if let v = p.batchSize {
                guard (2...65536).contains(v) else { throw invalid("training_params.batch_size", "training_params.batch_size must be in 2...65536") }
                config.trainingParams.batchSize = Int32(v)
            }
            if let v = p.learningRate {
                guard v > 0 && v <= 10 else { throw invalid("training_params.learning_rate", "training_params.learning_rate must be in (0, 10]") }
                config.trainingParams.learningRate = v
            }
            if let v = p.optimizer {
                guard OptimizerKind(rawValue: v.lowercased()) != nil else {
                    throw invalid("training_params.optimizer", "training_params.optimizer must be adagrad, adam or sgd")
                }
                config.trainingParams.optimizer = v.lowercased()
            }
            if let v = p.earlyStoppingPatience {
                guard (0...100).contains(v) else {
                    throw invalid("training_params.early_stopping_patience", "training_params.early_stopping_patience must be in 0...100 (0 = off)")
                }
                config.trainingParams.earlyStoppingPatience = Int32(v)
            }
            if let v = p.seed { config.trainingParams.seed = v }
        }
        if let g = gpu {
            if let v = g.gpuCount {
                guard (0...16).contains(v) else { throw invalid("gpu_config.gpu_count", "gpu_config.gpu_count must be in 0...16") }
                config.gpuConfig.gpuCount = Int32(v)
            }
            if let v = g.gpuType { config.gpuConfig.gpuType = v }
            if let v = g.machineType { config.gpuConfig.machineType = v }
            if let v = g.preemptible { config.gpuConfig.preemptible = v }
        }
        if let e = evaluator {
            if let v = e.enabled { config.evaluatorConfig.enabled = v }
            if let v = e.blessingMetric {
                guard blessingMetrics.contains(v) else {
                    throw invalid("evaluator_config.blessing_metric", "evaluator_config.blessing_metric must be one of \(blessingMetrics.joined(separator: ", "))")
                }
                config.evaluatorConfig.blessingMetric = v
            }
            if let v = e.blessingThreshold {
                guard (0...1).contains(v) else { throw invalid("evaluator_config.blessing_threshold", "evaluator_config.blessing_threshold must be in [0, 1]") }
                config.evaluatorConfig.blessingThreshold = v
            }
        }
        if let d = deployment {
            config.deploymentConfig.enabled = d.enabled ?? false
            if let v = d.serviceName {
                if let problem = EndpointName.problem(v) { throw invalid("deployment_config.service_name", "deployment_config.service_name \(problem)") }
                config.deploymentConfig.endpointName = v
                config.deploymentConfig.customName = true
            }
            if let v = d.preset {
                let presets: [String: EndpointPreset] = ["development": .development, "production": .production, "high_traffic": .highTraffic,
                                                         "high-traffic": .highTraffic]
                guard let preset = presets[v.lowercased()] else {
                    throw invalid("deployment_config.preset", "deployment_config.preset must be development, production or high_traffic")
                }
                config.deploymentConfig.preset = preset
            }
        }
        if let executor {
            guard Executors.all.contains(executor) else { throw invalid("executor", "executor must be one of \(Executors.all.joined(separator: ", "))") }
            config.executor = executor
        }
        if let autoRegister { config.skipAutoRegister = !autoRegister }
        return config
    }
}

func presetName(_ preset: EndpointPreset) -> String {
    switch preset {
    case .development: "development"
    case .highTraffic: "high_traffic"
    default: "production"
    }
}

extension TrainingRunConfig {
    var view: RunConfigView {
        RunConfigView(
            datasetId: datasetID, featureConfigId: featureConfigID, modelConfigId: modelConfigID,
            trainingParams: TrainingParamsBody(
                epochs: Int(trainingParams.epochs), batchSize: Int(trainingParams.batchSize), learningRate: trainingParams.learningRate,
                optimizer: trainingParams.optimizer, earlyStoppingPatience: Int(trainingParams.earlyStoppingPatience), seed: trainingParams.seed),
            gpuConfig: GPUConfigBody(gpuType: gpuConfig.gpuType, gpuCount: Int(gpuConfig.gpuCount), machineType: gpuConfig.machineType,
                                     preemptible: gpuConfig.preemptible),
            evaluatorConfig: EvaluatorConfigBody(enabled: evaluatorConfig.enabled, blessingMetric: evaluatorConfig.blessingMetric,
                                                 blessingThreshold: evaluatorConfig.blessingThreshold),
            deploymentConfig: DeploymentConfigBody(enabled: deploymentConfig.enabled, serviceName: deploymentConfig.endpointName.isEmpty ? nil : deploymentConfig.endpointName,
                                                   preset: deploymentConfig.preset == .unspecified ? nil : presetName(deploymentConfig.preset)),
            executor: executor.isEmpty ? Executors.local : executor,
            autoRegister: !skipAutoRegister)
    }

    /// The platform decides blessing from the evaluator config, whatever the trainer thinks.
    func blessing(of metrics: [String: Double]) -> Bool {
        guard evaluatorConfig.enabled else { return true }
        let metric = evaluatorConfig.blessingMetric.isEmpty ? "recall_at_100" : evaluatorConfig.blessingMetric
        guard let value = metrics[metric] else { return false }
        return value >= evaluatorConfig.blessingThreshold
    }
}
