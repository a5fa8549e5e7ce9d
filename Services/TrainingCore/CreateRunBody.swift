/// `POST /api/training-runs` (and `POST /api/models/{name}/training-runs`): the wizard's payload.
struct CreateRunBody: Decodable {
    var name: String?
    var description: String?
    var modelType: String?
    var datasetId: String?
    var featureConfigId: String?
    var modelConfigId: String?
    var trainingParams: RunSettings.TrainingParams?
    var gpuConfig: RunSettings.GPUConfig?
    var evaluatorConfig: RunSettings.EvaluatorConfig?
    var deploymentConfig: RunSettings.DeploymentConfig?
    /// "local" runs the trainer as a process of training-svc's, "kubernetes" as a Job; "external" waits for a trainer that
    /// reports through the webhooks. The default is the installation's executor (`--executor`).
    var executor: String?
    var autoRegister: Bool?
    /// false keeps the run `pending` until `POST .../submit`.
    var submit: Bool?

    var settings: RunSettings {
        RunSettings(
            datasetId: datasetId, featureConfigId: featureConfigId, modelConfigId: modelConfigId, trainingParams: trainingParams,
            gpuConfig: gpuConfig,
            evaluatorConfig: evaluatorConfig, deploymentConfig: deploymentConfig, executor: executor, autoRegister: autoRegister)
    }
}
