import Foundation
import RecommenderKit
import SlipwayContracts

/// A submitted run made ready for its trainer, whichever executor runs it: the spec file written from the run's
/// configuration (with the dataset's feedback beside it) in the run's artifact directory, and the run's webhook token.
struct PreparedRun {
    let runID: String
    let artifacts: URL
    let specFile: URL
    let token: String

    /// The trainer's log, whatever runs it: the run's `log` artifact.
    var logFile: URL { artifacts.appendingPathComponent("run.log") }

    /// The trainer command, `{spec}` and `{artifacts}` filled in.
    func arguments(_ settings: TrainingSettings) -> [String] {
        settings.trainerCommand.map {
            $0.replacingOccurrences(of: "{spec}", with: specFile.path).replacingOccurrences(of: "{artifacts}", with: artifacts.path)
        }
    }

    /// What the trainer is told beside its arguments (docs/trainer-and-bundle.md); the token, `SLIPWAY_RUN_TOKEN`, is
    /// passed apart: a Kubernetes Job takes it from a Secret.
    func environment(_ settings: TrainingSettings) -> [String: String] {
        [
            "SLIPWAY_RUN_ID": runID, "SLIPWAY_SPEC": specFile.path, "SLIPWAY_ARTIFACT_DIR": artifacts.path,
            "SLIPWAY_WEBHOOK_URL": "\(settings.webhookBaseURL)/api/training-runs/\(runID)/webhook",
        ]
    }

    /// Writes the trainer's spec file from the run's configuration and reads the run's webhook token.
    static func prepare(runID: String, settings: TrainingSettings, queries: TrainingQueries) async throws -> PreparedRun {
        let artifacts = settings.artifactDirectory(for: runID)
        let specFile = artifacts.appendingPathComponent("spec.json")
        guard let run = try await queries.run(runID) else { throw TrainerLaunchError(message: "run \(runID) is not in the read model") }
        let config = run.config
        guard let dataset = try await queries.dataset(config.datasetId) else {
            throw TrainerLaunchError(message: "dataset \(config.datasetId) does not exist")
        }
        guard let features = try await queries.featureConfig(config.featureConfigId) else {
            throw TrainerLaunchError(message: "feature config \(config.featureConfigId) does not exist")
        }
        guard let model = try await queries.modelConfig(config.modelConfigId) else {
            throw TrainerLaunchError(message: "model config \(config.modelConfigId) does not exist")
        }
        var modelConfig = ModelConfig()
        modelConfig.id = model.id
        modelConfig.queryLayers = model.queryLayers
        modelConfig.candidateLayers = model.candidateLayers
        modelConfig.outputDim = model.outputDim
        modelConfig.temperature = model.temperature
        modelConfig.logQCorrection = model.logQCorrection
        modelConfig.algorithm = TrainingAlgorithm(rawValue: model.algorithm) ?? .auto
        modelConfig.factors = model.factors
        modelConfig.iterations = model.iterations
        modelConfig.regularization = model.regularization
        modelConfig.alpha = model.alpha
        let params = config.trainingParams
        modelConfig.epochs = params.epochs ?? modelConfig.epochs
        modelConfig.batchSize = params.batchSize ?? modelConfig.batchSize
        modelConfig.learningRate = params.learningRate ?? modelConfig.learningRate
        modelConfig.optimizer = params.optimizer.flatMap(OptimizerKind.init(rawValue:)) ?? modelConfig.optimizer
        modelConfig.earlyStoppingPatience = params.earlyStoppingPatience ?? modelConfig.earlyStoppingPatience
        modelConfig.seed = params.seed.map { UInt64(bitPattern: $0) } ?? modelConfig.seed
        var datasetSpec = dataset.trainerSpec
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        // The feedback sent to the dataset as of now, kept with the run's artifacts (what it trained on stays known).
        let feedback = try await queries.feedbackRows(datasetID: dataset.id)
        if !feedback.isEmpty {
            let file = artifacts.appendingPathComponent("feedback.csv")
            try Data(DatasetFeedbackRow.csv(feedback).utf8).write(to: file)
            datasetSpec.feedback = file.path
        }
        let spec = RunSpec(
            runId: runID, modelName: run.name, dataset: datasetSpec, featureConfig: features.trainerConfig, modelConfig: modelConfig,
            evaluator: RecommenderKit.EvaluatorConfig(
                enabled: config.evaluatorConfig.enabled ?? true, blessingMetric: config.evaluatorConfig.blessingMetric ?? "recall_at_100",
                blessingThreshold: config.evaluatorConfig.blessingThreshold ?? 0,
                requireBeatingPopularity: !(config.evaluatorConfig.allowBelowPopularity ?? false)))
        try RunSpec.encoder().encode(spec).write(to: specFile)
        // Written at submit (only its hash is in the events), read here by whichever replica runs the job.
        guard let hash = run.tokenSha256, let token = RunToken.read(root: settings.artifactRoot, artifacts: artifacts, sha256: hash) else {
            throw TrainerLaunchError(message: "the run's webhook token file is missing from \(artifacts.path)")
        }
        return PreparedRun(runID: runID, artifacts: artifacts, specFile: specFile, token: token)
    }

}
