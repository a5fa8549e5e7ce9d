/// Everything a run needs besides its name, as the API shows it (`GET/PATCH /api/training-runs/{id}/config`
/// and in every run): every field set.
public struct RunConfigView: Codable, Sendable, Equatable {
    public var datasetId: String
    public var featureConfigId: String
    public var modelConfigId: String
    public var trainingParams: RunSettings.TrainingParams
    public var gpuConfig: RunSettings.GPUConfig
    public var evaluatorConfig: RunSettings.EvaluatorConfig
    public var deploymentConfig: RunSettings.DeploymentConfig
    public var executor: String
    public var autoRegister: Bool
}
