import RecommenderKit
import SlipwayContracts
import SlipwayEventSourcing

extension RunSettings {
    /// A new run's configuration before any setting is applied.
    static var defaultConfig: TrainingRunConfig {
        let defaults = ModelConfig()
        var config = TrainingRunConfig()
        config.trainingParams.epochs = Int32(defaults.epochs)
        config.trainingParams.batchSize = Int32(defaults.batchSize)
        config.trainingParams.learningRate = defaults.learningRate
        config.trainingParams.optimizer = defaults.optimizer.rawValue
        config.trainingParams.earlyStoppingPatience = Int32(defaults.earlyStoppingPatience)
        config.trainingParams.seed = Int64(defaults.seed)
        config.evaluatorConfig.enabled = true
        config.evaluatorConfig.blessingMetric = "recall_at_100"
        config.evaluatorConfig.blessingThreshold = RecommenderKit.EvaluatorConfig().blessingThreshold
        config.executor = Executors.local
        return config
    }

    /// These settings applied over `base` (nil: the defaults), every value checked (422 naming the field).
    /// Whether the datasets and configs referred to exist is the decider's to check, against its facts.
    func config(over base: TrainingRunConfig?) throws -> TrainingRunConfig {
        var config = base ?? Self.defaultConfig
        if let datasetId { config.datasetID = datasetId }
        if let featureConfigId { config.featureConfigID = featureConfigId }
        if let modelConfigId { config.modelConfigID = modelConfigId }
        for (value, field) in [
            (config.datasetID, "dataset_id"), (config.featureConfigID, "feature_config_id"), (config.modelConfigID, "model_config_id"),
        ] {
            guard !value.isEmpty else { throw CommandRejected.invalid(field, "\(field) is required") }
        }
        if let p = trainingParams {
            if let v = p.epochs {
                guard (1...1000).contains(v) else {
                    throw CommandRejected.invalid("training_params.epochs", "training_params.epochs must be in 1...1000")
                }
                config.trainingParams.epochs = Int32(v)
            }
            if let v = p.batchSize {
                guard (2...65536).contains(v) else {
                    throw CommandRejected.invalid("training_params.batch_size", "training_params.batch_size must be in 2...65536")
                }
                config.trainingParams.batchSize = Int32(v)
            }
            if let v = p.learningRate {
                guard v > 0 && v <= 10 else {
                    throw CommandRejected.invalid("training_params.learning_rate", "training_params.learning_rate must be in (0, 10]")
                }
                config.trainingParams.learningRate = v
            }
            if let v = p.optimizer {
                guard OptimizerKind(rawValue: v.lowercased()) != nil else {
                    throw CommandRejected.invalid("training_params.optimizer", "training_params.optimizer must be adagrad, adam or sgd")
                }
                config.trainingParams.optimizer = v.lowercased()
            }
            if let v = p.earlyStoppingPatience {
                guard (0...100).contains(v) else {
                    throw CommandRejected.invalid(
                        "training_params.early_stopping_patience", "training_params.early_stopping_patience must be in 0...100 (0 = off)")
                }
                config.trainingParams.earlyStoppingPatience = Int32(v)
            }
            if let v = p.seed { config.trainingParams.seed = v }
        }
        if let g = gpuConfig {
            if let v = g.gpuCount {
                guard (0...16).contains(v) else { throw CommandRejected.invalid("gpu_config.gpu_count", "gpu_config.gpu_count must be in 0...16") }
                config.gpuConfig.gpuCount = Int32(v)
            }
            if let v = g.gpuType { config.gpuConfig.gpuType = v }
            if let v = g.machineType { config.gpuConfig.machineType = v }
            if let v = g.preemptible { config.gpuConfig.preemptible = v }
        }
        if let e = evaluatorConfig {
            if let v = e.enabled { config.evaluatorConfig.enabled = v }
            if let v = e.blessingMetric {
                let metrics = RecommenderKit.EvaluatorConfig.blessingMetrics
                guard metrics.contains(v) else {
                    throw CommandRejected.invalid(
                        "evaluator_config.blessing_metric", "evaluator_config.blessing_metric must be one of \(metrics.joined(separator: ", "))")
                }
                config.evaluatorConfig.blessingMetric = v
            }
            if let v = e.blessingThreshold {
                guard (0...1).contains(v) else {
                    throw CommandRejected.invalid("evaluator_config.blessing_threshold", "evaluator_config.blessing_threshold must be in [0, 1]")
                }
                config.evaluatorConfig.blessingThreshold = v
            }
            if let v = e.allowBelowPopularity { config.evaluatorConfig.allowBelowPopularity = v }
        }
        if let d = deploymentConfig {
            config.deploymentConfig.enabled = d.enabled ?? false
            if let v = d.serviceName {
                if let problem = EndpointName.problem(v) {
                    throw CommandRejected.invalid("deployment_config.service_name", "deployment_config.service_name \(problem)")
                }
                config.deploymentConfig.endpointName = v
                config.deploymentConfig.customName = true
            }
            if let v = d.preset {
                let presets: [String: EndpointPreset] = [
                    "development": .development, "production": .production, "high_traffic": .highTraffic, "high-traffic": .highTraffic,
                ]
                guard let preset = presets[v.lowercased()] else {
                    throw CommandRejected.invalid(
                        "deployment_config.preset", "deployment_config.preset must be development, production or high_traffic")
                }
                config.deploymentConfig.preset = preset
            }
        }
        if let executor {
            guard Executors.all.contains(executor) else {
                throw CommandRejected.invalid("executor", "executor must be one of \(Executors.all.joined(separator: ", "))")
            }
            config.executor = executor
        }
        if let autoRegister { config.skipAutoRegister = !autoRegister }
        return config
    }
}
