import Hummingbird
import SlipwayPlatform

/// Datasets, feature configs and model configs: created once, then read.
extension TrainingRoutes {
    @Sendable func createDataset(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<DatasetView> {
        let definition = try await request.decode(as: DatasetDefinition.self, context: context)
        try await execute(DatasetDecider.self, definition.name, .register(definition), request)
        guard let created = try await queries.dataset(definition.name) else { throw APIError.notFound("\(definition.name) vanished") }
        return EditedResponse(status: .created, response: created)
    }

    @Sendable func datasets(_ request: Request, context: SlipwayRequestContext) async throws -> DatasetList {
        DatasetList(datasets: try await queries.datasets())
    }

    @Sendable func dataset(_ request: Request, context: SlipwayRequestContext) async throws -> DatasetView {
        let id = try context.parameters.require("id")
        guard let dataset = try await queries.dataset(id) else { throw APIError.notFound("no dataset '\(id)'") }
        return dataset
    }

    struct DatasetFeedbackList: ResponseEncodable, Decodable, Sendable {
        let datasetId: String
        /// What the next run on the dataset adds to its train split.
        let feedbackRows: [DatasetFeedbackRow]
    }

    /// Feedback sent to the dataset's training rows (metrics-svc's `to-training`), oldest first.
    @Sendable func datasetFeedback(_ request: Request, context: SlipwayRequestContext) async throws -> DatasetFeedbackList {
        let id = try context.parameters.require("id")
        guard try await queries.dataset(id) != nil else { throw APIError.notFound("no dataset '\(id)'") }
        return DatasetFeedbackList(datasetId: id, feedbackRows: try await queries.feedbackRows(datasetID: id))
    }

    @Sendable func createFeatureConfig(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<FeatureConfigView> {
        let definition = try await request.decode(as: FeatureConfigDefinition.self, context: context)
        try await execute(FeatureConfigDecider.self, definition.name, .create(definition), request)
        guard let created = try await queries.featureConfig(definition.name) else { throw APIError.notFound("\(definition.name) vanished") }
        return EditedResponse(status: .created, response: created)
    }

    @Sendable func featureConfigs(_ request: Request, context: SlipwayRequestContext) async throws -> FeatureConfigList {
        FeatureConfigList(featureConfigs: try await queries.featureConfigs())
    }

    @Sendable func featureConfig(_ request: Request, context: SlipwayRequestContext) async throws -> FeatureConfigView {
        let id = try context.parameters.require("id")
        guard let config = try await queries.featureConfig(id) else { throw APIError.notFound("no feature-config '\(id)'") }
        return config
    }

    @Sendable func createModelConfig(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<ModelConfigView> {
        let definition = try await request.decode(as: ModelConfigDefinition.self, context: context)
        try await execute(ModelConfigDecider.self, definition.name, .create(definition), request)
        guard let created = try await queries.modelConfig(definition.name) else { throw APIError.notFound("\(definition.name) vanished") }
        return EditedResponse(status: .created, response: created)
    }

    @Sendable func modelConfigs(_ request: Request, context: SlipwayRequestContext) async throws -> ModelConfigList {
        ModelConfigList(modelConfigs: try await queries.modelConfigs())
    }

    @Sendable func modelConfig(_ request: Request, context: SlipwayRequestContext) async throws -> ModelConfigView {
        let id = try context.parameters.require("id")
        guard let config = try await queries.modelConfig(id) else { throw APIError.notFound("no model-config '\(id)'") }
        return config
    }
}
