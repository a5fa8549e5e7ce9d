import SlipwayModelBundle
import SlipwayPlatform

/// One loaded model bundle and what the HTTP API needs to know about it.
public struct ServedModel: Sendable {
    public let name: String
    public let version: String
    public let scorer: Scorer
    public let trainingRunID: String?
    /// The feature the candidate ids come from never arrives in a request; the rest are the query schema.
    let idFeature: String

    public init(bundle: ModelBundle, name: String? = nil, version: String = "1") throws {
        scorer = try Scorer(bundle: bundle)
        self.name = name ?? bundle.manifest.modelName
        self.version = version
        trainingRunID = bundle.manifest.lineage.trainingRunId
        idFeature = bundle.manifest.inputSchema.query.first?.name ?? "customer_id"
    }
}

/// Limits of the API (the spec's numbers).
public enum ServingLimits {
    public static let maxBatch = 1000
    public static let maxTopK = 1000
    public static let defaultPredictTopK = 100
    public static let defaultRecommendTopK = 10
    /// Larger request bodies are answered 413.
    public static let maxBodyBytes = 8 * 1024 * 1024
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

/// `{"customers": [{"customer_id", "features"}], "top_k"}`, or the spec's `{"customer_ids": [...], "top_k"}`.
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
    var customers: [Customer]?
    var customerIDs: [FeatureValue]?
    var topK: Int?
    enum CodingKeys: String, CodingKey { case customers, customerIDs = "customer_ids", topK = "top_k" }
}

/// Which answer shape a client asked for: Slipway's (`product_ids` and `scores` side by side; the default) or the
/// specification's (`recommendations: [{"product_id", "score"}]`, `results` for a batch, `status: healthy`), by
/// `?format=spec` — or, for `/recommend-batch`, by sending the spec's `customer_ids`.
enum AnswerFormat {
    case slipway, spec

    /// From the request URI's query; another `format` value is a 400 naming it.
    static func of(uri: String) throws(APIError) -> AnswerFormat {
        guard let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return .slipway }
        for pair in uri[uri.index(after: mark)...].split(separator: "&") where pair.hasPrefix("format=") {
            switch pair.dropFirst("format=".count) {
            case "spec": return .spec
            case "slipway": return .slipway
            default: throw APIError.badRequest("format is spec or slipway", field: "format")
            }
        }
        return .slipway
    }
}

/// The spec's `/health`: `{"status": "healthy", "model_version", "training_run"}`.
struct SpecHealth: Encodable {
    var status = "healthy"
    var modelVersion: String
    var trainingRun: String?
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
