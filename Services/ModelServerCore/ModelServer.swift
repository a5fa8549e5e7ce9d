import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SlipwayModelBundle
import SlipwayPlatform

/// One loaded model bundle and what the HTTP API needs to know about it.
public struct ServedModel: Sendable {
    public let name: String
    public let version: String
    public let scorer: Scorer
    public let trainingRunID: String?

    public init(bundle: ModelBundle, name: String? = nil, version: String = "1") throws {
        scorer = try Scorer(bundle: bundle)
        self.name = name ?? bundle.manifest.modelName
        self.version = version
        trainingRunID = bundle.manifest.lineage.trainingRunId
    }

    /// The feature the candidate ids come from never arrives in a request; the rest are the query schema.
    var idFeature: String { scorer.manifest.inputSchema.query.first?.name ?? "customer_id" }
}

/// Limits of the API (the spec's numbers).
public enum ServingLimits {
    public static let maxBatch = 1000
    public static let maxTopK = 1000
    public static let defaultPredictTopK = 100
    public static let defaultRecommendTopK = 10
}

/// The model server's routes: TF-Serving-compatible `/v1/models/{name}[:predict]` plus `/recommend`,
/// `/recommend-batch` and `/health`. Every bad input is a 400/404 naming the field; scoring never crashes.
public enum ModelServerRoutes {
    public static func router(model: ServedModel) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestMetricsMiddleware())
        router.add(middleware: ErrorMiddleware())
        router.get("health") { _, _ in
            try snakeCaseJSONResponse(Health(status: "ok", modelName: model.name, modelVersion: model.version, trainingRunId: model.trainingRunID,
                                    candidates: model.scorer.candidateCount, dim: model.scorer.dim))
        }
        router.get("v1/models/:nameAndVerb") { _, context in
            try requireName(try context.parameters.require("nameAndVerb"), model)
            return try snakeCaseJSONResponse(ModelStatus(modelVersionStatus: [.init(version: model.version, state: "AVAILABLE", status: .init(errorCode: "OK", errorMessage: ""))]))
        }
        // `:predict` is part of the last segment (`/v1/models/b2b:predict`), so the segment is split here.
        router.post("v1/models/:nameAndVerb") { request, context in
            let segment = try context.parameters.require("nameAndVerb")
            guard let colon = segment.lastIndex(of: ":"), segment[segment.index(after: colon)...] == "predict" else {
                throw APIError.notFound("POST /v1/models/{name}:predict is the only model verb")
            }
            try requireName(String(segment[..<colon]), model)
            let body = try await request.decodeJSON(as: PredictRequest.self, context: context)
            let topK = try checkedTopK(body.topK, default: ServingLimits.defaultPredictTopK)
            let instances = try checkedBatch(body.instances, field: "instances")
            let predictions = try score(model, instances, topK: topK, field: "instances")
            return rawJSONResponse(RecommendationJSON.predict(predictions))
        }
        router.post("recommend") { request, context in
            let body = try await request.decodeJSON(as: RecommendRequest.self, context: context)
            let topK = try checkedTopK(body.topK, default: ServingLimits.defaultRecommendTopK)
            let result = try score(model, [body.features(idFeature: model.idFeature)], topK: topK, field: nil)[0]
            return rawJSONResponse(RecommendationJSON.recommend(customerID: body.customerID.description, result, model: model))
        }
        router.post("recommend-batch") { request, context in
            let body = try await request.decodeJSON(as: RecommendBatchRequest.self, context: context)
            let topK = try checkedTopK(body.topK, default: ServingLimits.defaultRecommendTopK)
            let customers = try checkedBatch(body.customers, field: "customers")
            let results = try score(model, customers.map { $0.features(idFeature: model.idFeature) }, topK: topK, field: "customers")
            return rawJSONResponse(RecommendationJSON.recommendBatch(zip(customers, results).map { ($0.customerID.description, $1) }, model: model))
        }
        return router
    }

    static func requireName(_ name: String, _ model: ServedModel) throws {
        guard name == model.name else { throw APIError.notFound("no model '\(name)' here; this server serves '\(model.name)'") }
    }

    static func checkedTopK(_ value: Int?, default fallback: Int) throws -> Int {
        let k = value ?? fallback
        guard (1...ServingLimits.maxTopK).contains(k) else {
            throw APIError.badRequest("top_k must be in 1...\(ServingLimits.maxTopK), got \(k)", field: "top_k")
        }
        return k
    }

    static func checkedBatch<T>(_ items: [T], field: String) throws -> [T] {
        guard !items.isEmpty else { throw APIError.badRequest("\(field) must not be empty", field: field) }
        guard items.count <= ServingLimits.maxBatch else {
            throw APIError.badRequest("\(field) holds \(items.count) entries; at most \(ServingLimits.maxBatch) per request", field: field)
        }
        return items
    }

    /// Scores raw feature sets; a bad instance is a 400 naming it and its feature.
    static func score(_ model: ServedModel, _ instances: [[String: FeatureValue]], topK: Int, field: String?) throws -> [Recommendations] {
        do {
            if instances.count == 1 { return [try model.scorer.recommend(instances[0], k: topK)] }
            return try model.scorer.recommendBatch(instances, k: topK)
        } catch {
            var index: Int?
            var inner = error
            if case .instance(let i, let e) = error { index = i; inner = e }
            if field != nil, index == nil, instances.count == 1 { index = 0 }
            let path = [field.map { name in index.map { "\(name)[\($0)]" } ?? name }, inner.feature].compactMap { $0 }.joined(separator: ".")
            throw APIError.badRequest(inner.description, field: path.isEmpty ? nil : path)
        }
    }
}

// MARK: - Bodies

struct PredictRequest: Decodable {
    var instances: [[String: FeatureValue]]
    var topK: Int?
    enum CodingKeys: String, CodingKey { case instances, topK = "top_k" }
}

/// `{"customer_id": "C12", "top_k": 10, "features": {"city": "Warsaw"}}`; features other than the id are optional.
struct RecommendRequest: Decodable {
    var customerID: FeatureValue
    var topK: Int?
    var features: [String: FeatureValue]?
    enum CodingKeys: String, CodingKey { case customerID = "customer_id", topK = "top_k", features }

    func features(idFeature: String) -> [String: FeatureValue] {
        var all = features ?? [:]
        all[idFeature] = customerID
        return all
    }
}

struct RecommendBatchRequest: Decodable {
    struct Customer: Decodable {
        var customerID: FeatureValue
        var features: [String: FeatureValue]?
        enum CodingKeys: String, CodingKey { case customerID = "customer_id", features }

        func features(idFeature: String) -> [String: FeatureValue] {
            var all = features ?? [:]
            all[idFeature] = customerID
            return all
        }
    }
    var customers: [Customer]
    var topK: Int?
    enum CodingKeys: String, CodingKey { case customers, topK = "top_k" }
}

struct Health: Encodable {
    var status: String
    var modelName: String
    var modelVersion: String
    var trainingRunId: String?
    var candidates: Int
    var dim: Int
}

/// TF Serving's model status shape.
struct ModelStatus: Encodable {
    struct Version: Encodable {
        struct Status: Encodable {
            var errorCode: String
            var errorMessage: String
            enum CodingKeys: String, CodingKey { case errorCode = "error_code", errorMessage = "error_message" }
        }
        var version: String
        var state: String
        var status: Status
    }
    var modelVersionStatus: [Version]
    enum CodingKeys: String, CodingKey { case modelVersionStatus = "model_version_status" }
}
