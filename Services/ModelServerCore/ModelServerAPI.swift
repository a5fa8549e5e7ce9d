import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SlipwayModelBundle
import SlipwayPlatform

import enum SlipwayContracts.PredictionRoute

/// One answer of the API: a status and a JSON body, already encoded.
public struct APIAnswer: Sendable {
    public var status: HTTPResponseStatus
    public var body: ByteBuffer
}

/// The model server's routes: TF-Serving-compatible `/v1/models/{name}[:predict]` plus `/recommend`,
/// `/recommend-batch` and `/health`. Every bad input is a 400/404 naming the field; scoring never crashes.
///
/// Everything here is synchronous and runs on the connection's event loop: a request is parsed, scored
/// and answered without leaving the thread that read it (a hop to the concurrency pool and back cost
/// more CPU than the HTTP parsing, and its queueing showed up in p99).
public final class ModelServerAPI: Sendable {
    public let model: ServedModel
    /// Coalesces concurrent `:predict` requests when configured; `nil` scores each request inline.
    let batcher: PredictBatcher?
    private let healthBody: [UInt8]
    private let specHealthBody: [UInt8]
    private let statusBody: [UInt8]

    public init(model: ServedModel, batcher: PredictBatcher? = nil) {
        self.model = model
        self.batcher = batcher
        healthBody =
            ((try? PlatformJSON.encode(
                Health(
                    status: "ok", modelName: model.name, modelVersion: model.version, trainingRunId: model.trainingRunID,
                    candidates: model.scorer.candidateCount, dim: model.scorer.dim))) ?? [])
        specHealthBody = (try? PlatformJSON.encode(SpecHealth(modelVersion: model.version, trainingRun: model.trainingRunID))) ?? []
        statusBody =
            (try? PlatformJSON.encode(
                ModelStatus(modelVersionStatus: [
                    .init(version: model.version, state: "AVAILABLE", status: .init(errorCode: "OK", errorMessage: ""))
                ]))) ?? []
    }

    /// An answer now, or later when the request waits for a `:predict` batch.
    public enum Outcome {
        case now(APIAnswer)
        case later(EventLoopFuture<APIAnswer>)
    }

    /// Routes and answers one request. `eventLoop` is the connection's (a batched answer completes on it).
    public func handle(method: HTTPMethod, uri: String, body: ByteBuffer?, allocator: ByteBufferAllocator, eventLoop: any EventLoop) -> Outcome {
        let path = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { uri[..<$0] } ?? uri[...]
        do throws(APIError) {
            guard let (route, model) = PredictionRoute.match(method: method.rawValue, path: path) else { throw Self.noRoute }
            switch route {
            case .recommend:
                return .now(try recommend(body, format: try AnswerFormat.of(uri: uri), allocator: allocator))
            case .recommendBatch:
                return .now(try recommendBatch(body, format: try AnswerFormat.of(uri: uri), allocator: allocator))
            case .health:
                return .now(ok(try AnswerFormat.of(uri: uri) == .spec ? specHealthBody : healthBody, allocator))
            case .modelStatus:
                try requireName(model ?? "")
                return .now(ok(statusBody, allocator))
            case .predict:
                try requireName(model ?? "")
                return try predict(body, allocator: allocator, eventLoop: eventLoop)
            }
        } catch {
            return .now(Self.errorAnswer(error, allocator: allocator))
        }
    }

    static let noRoute = APIError.notFound(
        "no route for this path; the API is " + PredictionRoute.allCases.map { "\($0.method) \($0.template)" }.joined(separator: ", "))
    static let tooLarge = APIError(.contentTooLarge, code: "too_large", message: "request body is larger than \(ServingLimits.maxBodyBytes) bytes")

    // MARK: - Routes

    func recommend(_ body: ByteBuffer?, format: AnswerFormat, allocator: ByteBufferAllocator) throws(APIError) -> APIAnswer {
        let request = try RequestBody.decodeRecommend(body)
        let topK = try Self.checkedTopK(request.topK, default: ServingLimits.defaultRecommendTopK)
        let result = try Self.score(model, [request.features(idFeature: model.idFeature)], topK: topK, field: nil)[0]
        var out = allocator.buffer(capacity: 128 + result.productIds.count * 40)
        RecommendationJSON.recommend(customerID: request.customerID.description, result, model: model, format: format, into: &out)
        return APIAnswer(status: .ok, body: out)
    }

    /// Customers as Slipway sends them (`customers`, with features) or as the spec does (`customer_ids`, which also
    /// asks for the spec's answer).
    func recommendBatch(_ body: ByteBuffer?, format: AnswerFormat, allocator: ByteBufferAllocator) throws(APIError) -> APIAnswer {
        let request = try RequestBody.decode(RecommendBatchRequest.self, from: body)
        let topK = try Self.checkedTopK(request.topK, default: ServingLimits.defaultRecommendTopK)
        let customers: [(id: FeatureValue, features: [String: FeatureValue])]
        let field: String
        switch (request.customers, request.customerIDs) {
        case (let listed?, nil):
            field = "customers"
            customers = try Self.checkedBatch(listed, field: field).map { ($0.customerID, $0.features(idFeature: model.idFeature)) }
        case (nil, let ids?):
            field = "customer_ids"
            customers = try Self.checkedBatch(ids, field: field).map { ($0, [model.idFeature: $0]) }
        case (nil, nil):
            throw APIError.badRequest("customers (or the spec's customer_ids) is required", field: "customers")
        case (_?, _?):
            throw APIError.badRequest("send customers or customer_ids, not both", field: "customer_ids")
        }
        let results = try Self.score(model, customers.map(\.features), topK: topK, field: field)
        let entries = zip(customers, results).map { ($0.id.description, $1) }
        var out = allocator.buffer(capacity: 128 + results.count * (32 + topK * 40))
        RecommendationJSON.recommendBatch(entries, model: model, format: request.customerIDs != nil ? .spec : format, into: &out)
        return APIAnswer(status: .ok, body: out)
    }

    /// `POST /v1/models/{name}:predict`: `:predict` is part of the last segment, so the segment is split here.
    func predict(_ body: ByteBuffer?, allocator: ByteBufferAllocator, eventLoop: any EventLoop) throws(APIError) -> Outcome {
        let request = try RequestBody.decode(PredictRequest.self, from: body)
        let topK = try Self.checkedTopK(request.topK, default: ServingLimits.defaultPredictTopK)
        let instances = try Self.checkedBatch(request.instances, field: "instances")
        if let batcher {
            let answer = batcher.submit(instances, k: topK, on: eventLoop).map { result -> APIAnswer in
                do throws(APIError) {
                    return Self.predictAnswer(
                        try Self.mapScoringResult(result, instanceCount: instances.count, field: "instances"), allocator: allocator)
                } catch {
                    return Self.errorAnswer(error, allocator: allocator)
                }
            }
            return .later(answer)
        }
        let predictions = try Self.score(model, instances, topK: topK, field: "instances")
        return .now(Self.predictAnswer(predictions, allocator: allocator))
    }

    static func predictAnswer(_ predictions: [Recommendations], allocator: ByteBufferAllocator) -> APIAnswer {
        var out = allocator.buffer(capacity: 32 + predictions.count * (32 + (predictions.first?.productIds.count ?? 1) * 24))
        RecommendationJSON.predict(predictions, into: &out)
        return APIAnswer(status: .ok, body: out)
    }

    func requireName(_ name: Substring) throws(APIError) {
        guard name == model.name else { throw APIError.notFound("no model '\(name)' here; this server serves '\(model.name)'") }
    }

    func ok(_ bytes: [UInt8], _ allocator: ByteBufferAllocator) -> APIAnswer {
        var out = allocator.buffer(capacity: bytes.count)
        out.writeBytes(bytes)
        return APIAnswer(status: .ok, body: out)
    }

    // MARK: - Checks shared by the routes

    static func checkedTopK(_ value: Int?, default fallback: Int) throws(APIError) -> Int {
        let k = value ?? fallback
        guard (1...ServingLimits.maxTopK).contains(k) else {
            throw APIError.badRequest("top_k must be in 1...\(ServingLimits.maxTopK), got \(k)", field: "top_k")
        }
        return k
    }

    static func checkedBatch<T>(_ items: [T], field: String) throws(APIError) -> [T] {
        guard !items.isEmpty else { throw APIError.badRequest("\(field) must not be empty", field: field) }
        guard items.count <= ServingLimits.maxBatch else {
            throw APIError.badRequest("\(field) holds \(items.count) entries; at most \(ServingLimits.maxBatch) per request", field: field)
        }
        return items
    }

    /// Scores raw feature sets; a bad instance is a 400 naming it and its feature.
    static func score(_ model: ServedModel, _ instances: [[String: FeatureValue]], topK: Int, field: String?) throws(APIError) -> [Recommendations] {
        let result: Result<[Recommendations], ScoringError>
        do throws(ScoringError) {
            if instances.count == 1 {
                result = .success([try model.scorer.recommend(instances[0], k: topK)])
            } else {
                result = .success(try model.scorer.recommendBatch(instances, k: topK))
            }
        } catch {
            result = .failure(error)
        }
        return try mapScoringResult(result, instanceCount: instances.count, field: field)
    }

    /// A scoring error becomes a 400 whose field is `instances[i].feature` (or `customer_id` for `/recommend`).
    static func mapScoringResult(_ result: Result<[Recommendations], ScoringError>, instanceCount: Int, field: String?) throws(APIError)
        -> [Recommendations]
    {
        switch result {
        case .success(let recommendations):
            return recommendations
        case .failure(let error):
            var index: Int?
            var inner = error
            if case .instance(let i, let e) = error { index = i; inner = e }
            if field != nil, index == nil, instanceCount == 1 { index = 0 }
            let path = [field.map { name in index.map { "\(name)[\($0)]" } ?? name }, inner.feature].compactMap { $0 }.joined(separator: ".")
            throw APIError.badRequest(inner.description, field: path.isEmpty ? nil : path)
        }
    }

    // MARK: - Errors

    /// `{"error": {"code", "details", "message"}}`, keys sorted: byte for byte what the platform's error middleware writes.
    public static func errorAnswer(_ error: APIError, allocator: ByteBufferAllocator) -> APIAnswer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes =
            (try? encoder.encode(ErrorBody(error: .init(code: error.code, message: error.message, details: error.details))))
            ?? Data(#"{"error":{"code":"internal","details":{},"message":"internal error"}}"#.utf8)
        var out = allocator.buffer(capacity: bytes.count)
        out.writeBytes(bytes)
        return APIAnswer(status: HTTPResponseStatus(statusCode: error.status.code), body: out)
    }

    struct ErrorBody: Encodable {
        struct Inner: Encodable {
            let code: String
            let message: String
            let details: [String: String]
        }
        let error: Inner
    }
}
