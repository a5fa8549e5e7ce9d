import Foundation
import SlipwayModelBundle

/// The JSON run spec read by `slipway-trainer run --spec` (snake_case keys; every field but
/// `dataset.transactions` has a default).
public struct RunSpec: Sendable, Codable, Equatable {
    public var runId: String
    public var modelName: String
    public var dataset: DatasetSpec
    public var featureConfig: FeatureConfig
    public var modelConfig: ModelConfig
    public var evaluator: EvaluatorConfig

    public init(
        runId: String = "local-run", modelName: String = "two-tower", dataset: DatasetSpec,
        featureConfig: FeatureConfig = .b2bDefault, modelConfig: ModelConfig = .init(),
        evaluator: EvaluatorConfig = .init()
    ) {
        self.runId = runId; self.modelName = modelName; self.dataset = dataset
        self.featureConfig = featureConfig; self.modelConfig = modelConfig; self.evaluator = evaluator
    }

    enum CodingKeys: String, CodingKey { case runId, modelName, dataset, featureConfig, modelConfig, evaluator }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        runId = try c.decodeIfPresent(String.self, forKey: .runId) ?? "local-run"
        modelName = try c.decodeIfPresent(String.self, forKey: .modelName) ?? "two-tower"
        dataset = try c.decode(DatasetSpec.self, forKey: .dataset)
        featureConfig = try c.decodeIfPresent(FeatureConfig.self, forKey: .featureConfig) ?? .b2bDefault
        modelConfig = try c.decodeIfPresent(ModelConfig.self, forKey: .modelConfig) ?? .init()
        evaluator = try c.decodeIfPresent(EvaluatorConfig.self, forKey: .evaluator) ?? .init()
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }

    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }

    /// Loads a spec; relative dataset paths are resolved against the spec file's directory.
    public static func load(from url: URL) throws -> RunSpec {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DatasetError.fileNotFound(path: url.path, role: "run spec")
        }
        let data = try Data(contentsOf: url)
        var spec: RunSpec
        do { spec = try decoder().decode(RunSpec.self, from: data) } catch let e as DecodingError {
            throw SpecError.invalid(path: url.path, reason: describeDecodingError(e))
        }
        spec.dataset.resolvePaths(relativeTo: url.absoluteURL.deletingLastPathComponent())
        return spec
    }
}

public enum SpecError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(path: String, reason: String)
    case invalidValue(String)
    public var description: String {
        switch self {
        case .invalid(let p, let r): "invalid run spec \(p): \(r)"
        case .invalidValue(let r): "invalid run spec: \(r)"
        }
    }
}

func describeDecodingError(_ e: DecodingError) -> String {
    func path(_ c: DecodingError.Context) -> String {
        c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch e {
    case .keyNotFound(let k, let c): return "missing key '\(k.stringValue)' in '\(path(c))'"
    case .typeMismatch(_, let c): return "wrong type at '\(path(c))': \(c.debugDescription)"
    case .valueNotFound(_, let c): return "null at '\(path(c))'"
    case .dataCorrupted(let c): return "malformed at '\(path(c))': \(c.debugDescription)"
    @unknown default: return "\(e)"
    }
}

public enum SplitStrategy: String, Sendable, Codable, CaseIterable {
    /// Each customer's latest interactions are held out: per customer, by time (file order breaks ties), the last
    /// `test_fraction` of their interactions are test and the last `validation_fraction` of the rest validation.
    /// The evaluation protocol of the README; every customer evaluated has a history to be recommended from.
    case perCustomerTemporal = "per_customer_temporal"
    /// Rows shuffled (seeded); `test_fraction` test, `validation_fraction` validation.
    case random
    /// Last `holdout_days` days (by the newest timestamp) are test; validation is a random fraction of the rest.
    case timeHoldout = "time_holdout"
    /// Train < validation (`validation_days`) < test (`holdout_days`) strictly by time.
    case strictTemporal = "strict_temporal"
}

public struct SplitSpec: Sendable, Codable, Equatable {
    public var strategy: SplitStrategy = .perCustomerTemporal
    public var holdoutDays: Int = 30
    public var validationDays: Int = 14
    public var validationFraction: Double = 0.1
    public var testFraction: Double = 0.2
    public var seed: UInt64 = 7
    public init(strategy: SplitStrategy = .perCustomerTemporal) { self.strategy = strategy }
    enum CodingKeys: String, CodingKey { case strategy, holdoutDays, validationDays, validationFraction, testFraction, seed }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SplitSpec()
        strategy = try c.decodeIfPresent(SplitStrategy.self, forKey: .strategy) ?? d.strategy
        holdoutDays = try c.decodeIfPresent(Int.self, forKey: .holdoutDays) ?? d.holdoutDays
        validationDays = try c.decodeIfPresent(Int.self, forKey: .validationDays) ?? d.validationDays
        validationFraction = try c.decodeIfPresent(Double.self, forKey: .validationFraction) ?? d.validationFraction
        testFraction = try c.decodeIfPresent(Double.self, forKey: .testFraction) ?? d.testFraction
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
    }
}

public struct DatasetFilters: Sendable, Codable, Equatable {
    /// Inclusive, `YYYY-MM-DD` or ISO-8601.
    public var startDate: String?
    /// Exclusive upper bound: rows strictly before this instant (a date means its midnight).
    public var endDate: String?
    public var topNProducts: Int?
    public var minInteractionsPerCustomer: Int?
    public init(startDate: String? = nil, endDate: String? = nil, topNProducts: Int? = nil, minInteractionsPerCustomer: Int? = nil) {
        self.startDate = startDate; self.endDate = endDate; self.topNProducts = topNProducts
        self.minInteractionsPerCustomer = minInteractionsPerCustomer
    }
}

public struct DatasetSpec: Sendable, Codable, Equatable {
    public var id: String?
    public var transactions: String
    public var customers: String?
    public var products: String?
    /// "csv", "jsonl" or "auto" (by extension).
    public var format: String?
    /// Canonical name (customer_id, product_id, revenue, timestamp) → column in the files.
    public var columns: [String: String]?
    public var filters: DatasetFilters?
    public var samplePercent: Double?
    public var split: SplitSpec?
    /// A CSV of feedback interactions (`customer_id,product_id,timestamp`): users' positive ratings sent to
    /// training. They join the train split only (never validation or test: they are not held-out purchases),
    /// pass the date filter and sampling (someone chose each of them), and count toward the other filters.
    public var feedback: String?
    /// The share of a file's rows that may be skipped as unusable (empty or unparseable key column, broken
    /// line, empty or duplicate attribute key) before the load fails; nil means `defaultMaxBadRowFraction`.
    public var maxBadRowFraction: Double?

    /// A few broken lines in a large export should not cost a run; more than 1 % suggests a wrong file or column.
    public static let defaultMaxBadRowFraction = 0.01

    public init(
        id: String? = nil, transactions: String, customers: String? = nil, products: String? = nil,
        format: String? = nil, columns: [String: String]? = nil, filters: DatasetFilters? = nil,
        samplePercent: Double? = nil, split: SplitSpec? = nil, feedback: String? = nil, maxBadRowFraction: Double? = nil
    ) {
        self.id = id; self.transactions = transactions; self.customers = customers; self.products = products
        self.format = format; self.columns = columns; self.filters = filters; self.samplePercent = samplePercent
        self.split = split; self.feedback = feedback; self.maxBadRowFraction = maxBadRowFraction
    }

    /// `max_bad_row_fraction`, or its default; a value outside [0, 1] is an error.
    func validatedMaxBadRowFraction() throws(DatasetError) -> Double {
        let fraction = maxBadRowFraction ?? DatasetSpec.defaultMaxBadRowFraction
        guard (0...1).contains(fraction) else { throw .invalidOption("max_bad_row_fraction must be in [0, 1], got \(fraction)") }
        return fraction
    }

    mutating func resolvePaths(relativeTo base: URL) {
        func r(_ p: String) -> String {
            p.hasPrefix("/") ? p : URL(fileURLWithPath: p, relativeTo: base.absoluteURL).standardizedFileURL.path
        }
        transactions = r(transactions)
        customers = customers.map(r)
        products = products.map(r)
        feedback = feedback.map(r)
    }
}

/// One feature of the feature config.
public struct FeatureSpec: Sendable, Codable, Equatable {
    public var name: String
    public var type: RawFeatureType
    /// vocabulary | normalize | bucketize | cyclical (default by type).
    public var transform: FeatureTransform.Kind
    public var embeddingDim: Int
    public var oovBuckets: Int
    /// Quantile buckets for `bucketize`.
    public var buckets: Int
    public var log: Bool
    public var cycles: [FeatureTransform.Cycle]
    public var required: Bool
    /// Vocabulary keeps values seen at least this often in train.
    public var minCount: Int

    public init(
        name: String, type: RawFeatureType = .string, transform: FeatureTransform.Kind? = nil, embeddingDim: Int = 16,
        oovBuckets: Int = 1, buckets: Int = 10, log: Bool = false, cycles: [FeatureTransform.Cycle] = [.dayOfWeek, .month],
        required: Bool = false, minCount: Int = 1
    ) {
        self.name = name; self.type = type
        self.transform = transform ?? FeatureSpec.defaultTransform(type)
        self.embeddingDim = embeddingDim; self.oovBuckets = oovBuckets; self.buckets = buckets; self.log = log
        self.cycles = cycles; self.required = required; self.minCount = minCount
    }

    static func defaultTransform(_ t: RawFeatureType) -> FeatureTransform.Kind {
        switch t {
        case .string: .vocabulary
        case .int, .float: .normalize
        case .timestamp: .cyclical
        }
    }

    enum CodingKeys: String, CodingKey { case name, type, transform, embeddingDim, oovBuckets, buckets, log, cycles, required, minCount }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decodeIfPresent(RawFeatureType.self, forKey: .type) ?? .string
        self.init(
            name: try c.decode(String.self, forKey: .name), type: type,
            transform: try c.decodeIfPresent(FeatureTransform.Kind.self, forKey: .transform),
            embeddingDim: try c.decodeIfPresent(Int.self, forKey: .embeddingDim) ?? 16,
            oovBuckets: try c.decodeIfPresent(Int.self, forKey: .oovBuckets) ?? 1,
            buckets: try c.decodeIfPresent(Int.self, forKey: .buckets) ?? 10,
            log: try c.decodeIfPresent(Bool.self, forKey: .log) ?? false,
            cycles: try c.decodeIfPresent([FeatureTransform.Cycle].self, forKey: .cycles) ?? [.dayOfWeek, .month],
            required: try c.decodeIfPresent(Bool.self, forKey: .required) ?? false,
            minCount: try c.decodeIfPresent(Int.self, forKey: .minCount) ?? 1)
    }
}

public struct FeatureConfig: Sendable, Codable, Equatable {
    public var id: String?
    /// Buyer / query tower features (customer_id, customer attributes, transaction columns, timestamp).
    public var query: [FeatureSpec]
    /// Product / candidate tower features (product_id, product attributes).
    public var candidate: [FeatureSpec]
    public init(id: String? = nil, query: [FeatureSpec], candidate: [FeatureSpec]) {
        self.id = id; self.query = query; self.candidate = candidate
    }

    public static let b2bDefault = FeatureConfig(
        id: "fc-b2b-default",
        query: [
            FeatureSpec(name: "customer_id", embeddingDim: 32, required: true),
            FeatureSpec(name: "city", embeddingDim: 8),
            FeatureSpec(name: "segment", embeddingDim: 8),
        ],
        candidate: [
            FeatureSpec(name: "product_id", embeddingDim: 32, required: true),
            FeatureSpec(name: "category", embeddingDim: 8),
            FeatureSpec(name: "sub_category", embeddingDim: 16),
            FeatureSpec(name: "price", type: .float, transform: .bucketize, embeddingDim: 8, buckets: 10),
        ])
}

public enum OptimizerKind: String, Sendable, Codable { case adagrad, adam, sgd }

public enum TrainingAlgorithm: String, Sendable, Codable, CaseIterable {
    /// The measured default: matrix factorisation.
    case auto
    case twoTower = "two_tower"
    /// Implicit ALS: customer factors as the query side, item factors as the candidates; attributes answer the
    /// customers and items it never saw.
    case matrixFactorization = "matrix_factorization"
}

public struct ModelConfig: Sendable, Codable, Equatable {
    public var id: String?
    public var algorithm: TrainingAlgorithm = .auto
    /// Matrix factorisation: latent factors, ALS iterations, and λ / confidence alpha (nil: each chosen on the
    /// validation split from a small grid, the run's details say which).
    public var factors: Int = 64
    public var iterations: Int = 15
    public var regularization: Double?
    public var alpha: Double?
    public var queryLayers: [Int] = [64]
    public var candidateLayers: [Int] = [64]
    public var outputDim: Int = 64
    public var epochs: Int = 8
    public var batchSize: Int = 256
    public var learningRate: Double = 0.05
    public var optimizer: OptimizerKind = .adagrad
    /// Logits are `u·v / temperature` on L2-normalised embeddings.
    public var temperature: Double = 0.1
    public var l2Normalize: Bool = true
    /// Subtract log(sampling probability) of the in-batch candidate (popularity correction).
    public var logQCorrection: Bool = true
    /// Stop after this many epochs without a validation improvement (0 = off): Recall@10 × Recall@100, or the loss
    /// without a validation set to rank for.
    public var earlyStoppingPatience: Int = 2
    public var seed: UInt64 = 1
    public init() {}

    enum CodingKeys: String, CodingKey {
        case id, algorithm, factors, iterations, regularization, alpha
        case queryLayers, candidateLayers, outputDim, epochs, batchSize, learningRate, optimizer, temperature
        case l2Normalize, logQCorrection, earlyStoppingPatience, seed
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ModelConfig()
        id = try c.decodeIfPresent(String.self, forKey: .id)
        algorithm = try c.decodeIfPresent(TrainingAlgorithm.self, forKey: .algorithm) ?? d.algorithm
        factors = try c.decodeIfPresent(Int.self, forKey: .factors) ?? d.factors
        iterations = try c.decodeIfPresent(Int.self, forKey: .iterations) ?? d.iterations
        regularization = try c.decodeIfPresent(Double.self, forKey: .regularization)
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha)
        queryLayers = try c.decodeIfPresent([Int].self, forKey: .queryLayers) ?? d.queryLayers
        candidateLayers = try c.decodeIfPresent([Int].self, forKey: .candidateLayers) ?? d.candidateLayers
        outputDim = try c.decodeIfPresent(Int.self, forKey: .outputDim) ?? d.outputDim
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
        optimizer = try c.decodeIfPresent(OptimizerKind.self, forKey: .optimizer) ?? d.optimizer
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature) ?? d.temperature
        l2Normalize = try c.decodeIfPresent(Bool.self, forKey: .l2Normalize) ?? d.l2Normalize
        logQCorrection = try c.decodeIfPresent(Bool.self, forKey: .logQCorrection) ?? d.logQCorrection
        earlyStoppingPatience = try c.decodeIfPresent(Int.self, forKey: .earlyStoppingPatience) ?? d.earlyStoppingPatience
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
    }

    public func validate() throws {
        func bad(_ s: String) -> SpecError { .invalidValue("model_config.\(s)") }
        guard outputDim > 0 else { throw bad("output_dim must be > 0") }
        guard epochs >= 1 else { throw bad("epochs must be >= 1") }
        guard batchSize >= 2 else { throw bad("batch_size must be >= 2") }
        guard learningRate > 0 else { throw bad("learning_rate must be > 0") }
        guard temperature > 0 else { throw bad("temperature must be > 0") }
        guard (queryLayers + candidateLayers).allSatisfy({ $0 > 0 }) else { throw bad("layer sizes must be > 0") }
        guard factors >= 1 else { throw bad("factors must be >= 1") }
        guard iterations >= 1 else { throw bad("iterations must be >= 1") }
        if let regularization { guard regularization >= 0 else { throw bad("regularization must be >= 0") } }
        if let alpha { guard alpha > 0 else { throw bad("alpha must be > 0") } }
    }

    /// The model a run trains: `auto` is matrix factorisation, which uses the attributes to answer the customers
    /// and items it never saw (measured better than the two-tower on MovieLens-100K and the demo data, attributes
    /// or not: docs/trainer-and-bundle.md, "Why this default").
    public var resolvedAlgorithm: TrainingAlgorithm { algorithm == .twoTower ? .twoTower : .matrixFactorization }
}

public struct EvaluatorConfig: Sendable, Codable, Equatable {
    /// The test metrics a blessing threshold may name.
    public static let blessingMetrics = ["recall_at_5", "recall_at_10", "recall_at_50", "recall_at_100", "ndcg_at_10", "map_at_10"]
    public var enabled = true
    /// The test metric `blessingThreshold` applies to.
    public var blessingMetric = "recall_at_100"
    /// Minimum test value of `blessingMetric` for the model to be blessed.
    public var blessingThreshold = 0.1
    /// A model must also beat the popularity baseline's test Recall@10 to be blessed; false forces past that rule.
    public var requireBeatingPopularity = true

    public init(
        enabled: Bool = true, blessingMetric: String = "recall_at_100", blessingThreshold: Double = 0.1, requireBeatingPopularity: Bool = true
    ) {
        self.enabled = enabled; self.blessingMetric = blessingMetric; self.blessingThreshold = blessingThreshold
        self.requireBeatingPopularity = requireBeatingPopularity
    }

    public func validate() throws {
        guard Self.blessingMetrics.contains(blessingMetric) else {
            throw SpecError.invalidValue("evaluator.blessing_metric must be one of \(Self.blessingMetrics.joined(separator: ", "))")
        }
    }

    /// Whether a run's test metrics bless its model: the blessing metric reported and at least the threshold and,
    /// unless forced, Recall@10 above popularity's on the same split (when the metrics carry that baseline: an
    /// external trainer's may not).
    public func blesses(_ metrics: [String: Double]) -> Bool {
        guard enabled else { return true }
        guard let value = metrics[blessingMetric], value >= blessingThreshold else { return false }
        return !requireBeatingPopularity || !Self.trailsPopularity(metrics)
    }

    /// Recall@10 at or under the popularity baseline's, both reported.
    public static func trailsPopularity(_ metrics: [String: Double]) -> Bool {
        guard let model = metrics["recall_at_10"], let popularity = metrics["popularity_recall_at_10"] else { return false }
        return model <= popularity
    }

    enum CodingKeys: String, CodingKey { case enabled, blessingMetric, blessingThreshold, minRecallAt100, requireBeatingPopularity }
    /// The older object form of the threshold, `{"min_recall_at_100": 0.1}`.
    struct Threshold: Codable { var minRecallAt100: Double? }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        requireBeatingPopularity = try c.decodeIfPresent(Bool.self, forKey: .requireBeatingPopularity) ?? true
        blessingMetric = try c.decodeIfPresent(String.self, forKey: .blessingMetric) ?? "recall_at_100"
        if let v = try? c.decodeIfPresent(Double.self, forKey: .blessingThreshold) {
            blessingThreshold = v
        } else if let t = try c.decodeIfPresent(Threshold.self, forKey: .blessingThreshold), let v = t.minRecallAt100 {
            blessingThreshold = v; blessingMetric = "recall_at_100"
        } else if let v = try c.decodeIfPresent(Double.self, forKey: .minRecallAt100) {
            blessingThreshold = v; blessingMetric = "recall_at_100"
        }
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(enabled, forKey: .enabled)
        try c.encode(blessingMetric, forKey: .blessingMetric)
        try c.encode(blessingThreshold, forKey: .blessingThreshold)
        try c.encode(requireBeatingPopularity, forKey: .requireBeatingPopularity)
    }
}
