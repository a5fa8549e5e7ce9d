/// The settings of a run a client asks for (the spec's training wizard): on create, defaults fill in
/// what is left out; on `PATCH /api/training-runs/{id}/config`, only the fields given change. In
/// `RunConfigView` (an answer) every field is set.
public struct RunSettings: Codable, Sendable, Equatable {
    public struct TrainingParams: Codable, Sendable, Equatable {
        public var epochs: Int?
        public var batchSize: Int?
        public var learningRate: Double?
        public var optimizer: String?
        public var earlyStoppingPatience: Int?
        public var seed: Int64?

        public init(
            epochs: Int? = nil, batchSize: Int? = nil, learningRate: Double? = nil, optimizer: String? = nil,
            earlyStoppingPatience: Int? = nil, seed: Int64? = nil
        ) {
            self.epochs = epochs
            self.batchSize = batchSize
            self.learningRate = learningRate
            self.optimizer = optimizer
            self.earlyStoppingPatience = earlyStoppingPatience
            self.seed = seed
        }
    }

    public struct GPUConfig: Codable, Sendable, Equatable {
        public var gpuType: String?
        public var gpuCount: Int?
        public var machineType: String?
        public var preemptible: Bool?

        public init(gpuType: String? = nil, gpuCount: Int? = nil, machineType: String? = nil, preemptible: Bool? = nil) {
            self.gpuType = gpuType
            self.gpuCount = gpuCount
            self.machineType = machineType
            self.preemptible = preemptible
        }
    }

    public struct EvaluatorConfig: Codable, Sendable, Equatable {
        public var enabled: Bool?
        public var blessingMetric: String?
        public var blessingThreshold: Double?
        /// Forces blessing a model whose test Recall@10 does not beat the popularity baseline's.
        public var allowBelowPopularity: Bool?

        public init(enabled: Bool? = nil, blessingMetric: String? = nil, blessingThreshold: Double? = nil, allowBelowPopularity: Bool? = nil) {
            self.enabled = enabled
            self.blessingMetric = blessingMetric
            self.blessingThreshold = blessingThreshold
            self.allowBelowPopularity = allowBelowPopularity
        }
    }

    public struct DeploymentConfig: Codable, Sendable, Equatable {
        public var enabled: Bool?
        public var serviceName: String?
        public var preset: String?

        public init(enabled: Bool? = nil, serviceName: String? = nil, preset: String? = nil) {
            self.enabled = enabled
            self.serviceName = serviceName
            self.preset = preset
        }
    }

    public var datasetId: String?
    public var featureConfigId: String?
    public var modelConfigId: String?
    public var trainingParams: TrainingParams?
    public var gpuConfig: GPUConfig?
    public var evaluatorConfig: EvaluatorConfig?
    public var deploymentConfig: DeploymentConfig?
    /// "local" runs the trainer here; "external" waits for a trainer that reports through the webhooks.
    public var executor: String?
    public var autoRegister: Bool?

    public init(
        datasetId: String? = nil, featureConfigId: String? = nil, modelConfigId: String? = nil, trainingParams: TrainingParams? = nil,
        gpuConfig: GPUConfig? = nil, evaluatorConfig: EvaluatorConfig? = nil, deploymentConfig: DeploymentConfig? = nil,
        executor: String? = nil, autoRegister: Bool? = nil
    ) {
        self.datasetId = datasetId
        self.featureConfigId = featureConfigId
        self.modelConfigId = modelConfigId
        self.trainingParams = trainingParams
        self.gpuConfig = gpuConfig
        self.evaluatorConfig = evaluatorConfig
        self.deploymentConfig = deploymentConfig
        self.executor = executor
        self.autoRegister = autoRegister
    }

    /// A run's whole configuration as settings: applied over the defaults, it gives the same config back.
    init(_ view: RunConfigView) {
        self.init(
            datasetId: view.datasetId, featureConfigId: view.featureConfigId, modelConfigId: view.modelConfigId,
            trainingParams: view.trainingParams, gpuConfig: view.gpuConfig, evaluatorConfig: view.evaluatorConfig,
            deploymentConfig: view.deploymentConfig, executor: view.executor, autoRegister: view.autoRegister)
    }

    /// The API names of the fields given, in the order of the body's fields.
    public var givenFields: [String] {
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
