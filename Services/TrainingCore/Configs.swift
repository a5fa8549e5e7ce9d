import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayModelBundle
import RecommenderKit

// The API's configuration objects (snake_case JSON), their validation (422 naming the field) and their
// mapping onto the protobuf events. Datasets, feature configs and model configs are immutable once
// created, so a run can refer to them by id and the executor reads them back unchanged.

/// Ids of datasets, configs and model names: what a URL segment and a Kubernetes name can both hold.
enum Names {
    static func validate(_ value: String, field: String) throws {
        guard (1...63).contains(value.count) else {
            throw CommandRejected(.invalid, field: field, "\(field) must be 1 to 63 characters")
        }
        let allowed = value.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
        guard allowed, let first = value.unicodeScalars.first, ("a"..."z").contains(first) else {
            throw CommandRejected(.invalid, field: field, "\(field) '\(value)' must start with a lowercase letter and hold only lowercase letters, digits, '-' and '_'")
        }
    }
}

func invalid(_ field: String, _ message: String) -> CommandRejected { CommandRejected(.invalid, field: field, message) }

// MARK: - Dataset

/// `POST /api/datasets`: files plus how to read them.
public struct DatasetBody: Codable, Sendable {
    public var name: String
    public var description: String?
    public var transactions: String
    public var customers: String?
    public var products: String?
    /// csv | tsv | jsonl | auto (by extension)
    public var format: String?
    /// File column → the name the trainer uses: `{"division_desc": "category", "buyer": "customer_id"}`.
    public var columnAliases: [String: String]?
    public var filters: DatasetFilters?
    public var samplePercent: Double?
    public var split: SplitBody?
}

public struct SplitBody: Codable, Sendable, Equatable {
    public var strategy: String?
    public var holdoutDays: Int?
    public var validationDays: Int?
    public var validationFraction: Double?
    public var testFraction: Double?
    public var seed: Int64?
}

/// What the API shows and the executor reads: every option filled in.
public struct DatasetView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String
    public var transactions: String
    public var customers: String?
    public var products: String?
    public var format: String
    public var columnAliases: [String: String]
    public var filters: DatasetFilters
    public var samplePercent: Double
    public var split: SplitBody
    public var createdAt: Date?

    /// The trainer's dataset spec (its `columns` map goes canonical name → file column).
    public var trainerSpec: DatasetSpec {
        var columns: [String: String] = [:]
        for (column, canonical) in columnAliases { columns[canonical] = column }
        var splitSpec = SplitSpec(strategy: SplitStrategy(rawValue: split.strategy ?? "") ?? .timeHoldout)
        if let v = split.holdoutDays { splitSpec.holdoutDays = v }
        if let v = split.validationDays { splitSpec.validationDays = v }
        if let v = split.validationFraction { splitSpec.validationFraction = v }
        if let v = split.testFraction { splitSpec.testFraction = v }
        if let v = split.seed { splitSpec.seed = UInt64(bitPattern: v) }
        return DatasetSpec(id: id, transactions: transactions, customers: customers, products: products,
                           format: format, columns: columns.isEmpty ? nil : columns, filters: filters,
                           samplePercent: samplePercent >= 100 ? nil : samplePercent, split: splitSpec)
    }
}

extension DatasetBody {
    static let formats = ["auto", "csv", "tsv", "jsonl"]
    static let formatCases: [String: DatasetFormat] = ["csv": .csv, "tsv": .tsv, "jsonl": .jsonl]

    func validated() throws -> DatasetRegistered {
        try Names.validate(name, field: "name")
        var event = DatasetRegistered()
        event.datasetID = name
        event.name = name
        event.descriptionText = description ?? ""
        func path(_ value: String?, _ field: String) throws -> String {
            guard let value else { return "" }
            let trimmed = value.hasPrefix("file://") ? String(value.dropFirst(7)) : value
            guard trimmed.hasPrefix("/") else { throw invalid(field, "\(field) must be an absolute path or a file:// URI") }
            return trimmed
        }
        event.transactionsUri = try path(transactions, "transactions")
        guard !event.transactionsUri.isEmpty else { throw invalid("transactions", "transactions must name a file") }
        event.customersUri = try path(customers, "customers")
        event.productsUri = try path(products, "products")
        event.sourceUris = [event.transactionsUri, event.customersUri, event.productsUri].filter { !$0.isEmpty }
        let format = (self.format ?? "auto").lowercased()
        guard Self.formats.contains(format) else { throw invalid("format", "format must be one of \(Self.formats.joined(separator: ", "))") }
        event.format = DatasetBody.formatCases[format] ?? .unspecified
        event.columnAliases = [:]
        for (column, canonical) in columnAliases ?? [:] {
            guard !column.isEmpty, !canonical.isEmpty else { throw invalid("column_aliases", "column_aliases keys and values must not be empty") }
            guard event.columnAliases[canonical] == nil else {
                throw invalid("column_aliases", "two columns are aliased to '\(canonical)'")
            }
            event.columnAliases[canonical] = column
        }
        var selection = DatasetSelection()
        if let f = filters {
            for (value, field) in [(f.startDate, "filters.start_date"), (f.endDate, "filters.end_date")] {
                if let value, Timestamp.parse(value) == nil { throw invalid(field, "\(field) '\(value)' is not a date (YYYY-MM-DD or ISO-8601)") }
            }
            if let s = f.startDate, let e = f.endDate, let a = Timestamp.parse(s), let b = Timestamp.parse(e), a >= b {
                throw invalid("filters.end_date", "filters.end_date must be after filters.start_date")
            }
            if let n = f.topNProducts, n < 1 { throw invalid("filters.top_n_products", "filters.top_n_products must be at least 1") }
            if let n = f.minInteractionsPerCustomer, n < 1 {
                throw invalid("filters.min_interactions_per_customer", "filters.min_interactions_per_customer must be at least 1")
            }
            selection.startDate = f.startDate ?? ""
            selection.endDate = f.endDate ?? ""
            selection.topNProducts = Int32(clamping: f.topNProducts ?? 0)
            selection.minInteractionsPerCustomer = Int32(clamping: f.minInteractionsPerCustomer ?? 0)
        }
        event.selection = selection
        if let p = samplePercent, !(p > 0 && p <= 100) { throw invalid("sample_percent", "sample_percent must be in (0, 100]") }
        event.samplePercent = samplePercent ?? 100
        event.split = try (split ?? SplitBody()).validated()
        return event
    }
}

extension SplitBody {
    func validated() throws -> SplitConfig {
        var config = SplitConfig()
        let strategy = strategy ?? SplitStrategy.timeHoldout.rawValue
        guard SplitStrategy(rawValue: strategy) != nil else {
            throw invalid("split.strategy", "split.strategy must be one of \(SplitStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        config.strategy = strategy
        let defaults = SplitSpec()
        config.holdoutDays = Int32(clamping: holdoutDays ?? defaults.holdoutDays)
        config.validationDays = Int32(clamping: validationDays ?? defaults.validationDays)
        config.validationFraction = validationFraction ?? defaults.validationFraction
        config.testFraction = testFraction ?? defaults.testFraction
        config.seed = seed ?? Int64(defaults.seed)
        guard config.holdoutDays >= 1 else { throw invalid("split.holdout_days", "split.holdout_days must be at least 1") }
        guard config.validationDays >= 1 else { throw invalid("split.validation_days", "split.validation_days must be at least 1") }
        guard (0..<0.5).contains(config.validationFraction) else { throw invalid("split.validation_fraction", "split.validation_fraction must be in [0, 0.5)") }
        guard config.testFraction > 0 && config.testFraction < 0.5 else { throw invalid("split.test_fraction", "split.test_fraction must be in (0, 0.5)") }
        return config
    }

    init(_ config: SplitConfig) {
        self.init(strategy: config.strategy, holdoutDays: Int(config.holdoutDays), validationDays: Int(config.validationDays),
                  validationFraction: config.validationFraction, testFraction: config.testFraction, seed: config.seed)
    }
}

extension DatasetRegistered {
    func view(createdAt: Date?) -> DatasetView {
        var aliases: [String: String] = [:]
        for (canonical, column) in columnAliases { aliases[column] = canonical }
        let filters = DatasetFilters(
            startDate: selection.startDate.isEmpty ? nil : selection.startDate,
            endDate: selection.endDate.isEmpty ? nil : selection.endDate,
            topNProducts: selection.topNProducts > 0 ? Int(selection.topNProducts) : nil,
            minInteractionsPerCustomer: selection.minInteractionsPerCustomer > 0 ? Int(selection.minInteractionsPerCustomer) : nil)
        return DatasetView(id: datasetID, name: name, description: descriptionText, transactions: transactionsUri,
                           customers: customersUri.isEmpty ? nil : customersUri, products: productsUri.isEmpty ? nil : productsUri,
                           format: DatasetBody.formatCases.first { $0.value == format }?.key ?? "auto", columnAliases: aliases, filters: filters, samplePercent: samplePercent,
                           split: SplitBody(split), createdAt: createdAt)
    }
}

// MARK: - Feature config

/// `POST /api/feature-configs`: the buyer (query) and product (candidate) towers' features.
public struct FeatureConfigBody: Codable, Sendable {
    public var name: String
    public var description: String?
    public var query: [RecommenderKit.FeatureSpec]
    public var candidate: [RecommenderKit.FeatureSpec]
}

public struct FeatureConfigView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String
    public var query: [RecommenderKit.FeatureSpec]
    public var candidate: [RecommenderKit.FeatureSpec]
    public var createdAt: Date?

    public var trainerConfig: FeatureConfig { FeatureConfig(id: id, query: query, candidate: candidate) }
}

extension FeatureConfigBody {
    func validated() throws -> FeatureConfigCreated {
        try Names.validate(name, field: "name")
        guard !query.isEmpty else { throw invalid("query", "query needs at least one feature (e.g. customer_id)") }
        guard !candidate.isEmpty else { throw invalid("candidate", "candidate needs at least one feature") }
        guard candidate.contains(where: { $0.name == "product_id" }) else {
            throw invalid("candidate", "candidate must include product_id: serving returns product ids")
        }
        var event = FeatureConfigCreated()
        event.featureConfigID = name
        event.name = name
        event.descriptionText = description ?? ""
        event.queryFeatures = try query.enumerated().map { try Self.validated($0.element, field: "query[\($0.offset)]") }
        event.candidateFeatures = try candidate.enumerated().map { try Self.validated($0.element, field: "candidate[\($0.offset)]") }
        for (side, features) in [("query", query), ("candidate", candidate)] {
            var seen = Set<String>()
            for (i, feature) in features.enumerated() where !seen.insert(feature.name).inserted {
                throw invalid("\(side)[\(i)].name", "feature '\(feature.name)' appears twice in \(side)")
            }
        }
        return event
    }

    static func validated(_ spec: RecommenderKit.FeatureSpec, field: String) throws -> SlipwayContracts.FeatureSpec {
        guard !spec.name.isEmpty else { throw invalid("\(field).name", "\(field).name must not be empty") }
        let allowed: [RawFeatureType: Set<FeatureTransform.Kind>] = [
            .string: [.vocabulary], .int: [.vocabulary, .normalize, .bucketize],
            .float: [.normalize, .bucketize], .timestamp: [.cyclical, .normalize, .bucketize],
        ]
        guard allowed[spec.type]?.contains(spec.transform) == true else {
            throw invalid("\(field).transform", "\(field).transform '\(spec.transform.rawValue)' does not apply to type '\(spec.type.rawValue)'")
        }
        guard (1...512).contains(spec.embeddingDim) else { throw invalid("\(field).embedding_dim", "\(field).embedding_dim must be in 1...512") }
        guard (1...1000).contains(spec.oovBuckets) else { throw invalid("\(field).oov_buckets", "\(field).oov_buckets must be in 1...1000") }
        guard (2...1000).contains(spec.buckets) else { throw invalid("\(field).buckets", "\(field).buckets must be in 2...1000") }
        guard spec.minCount >= 1 else { throw invalid("\(field).min_count", "\(field).min_count must be at least 1") }
        if spec.transform == .cyclical, spec.cycles.isEmpty { throw invalid("\(field).cycles", "\(field).cycles must not be empty") }
        var out = SlipwayContracts.FeatureSpec()
        out.name = spec.name
        out.sourceColumn = spec.name
        out.rawType = spec.type.rawValue
        out.transform = spec.transform.rawValue
        out.kind = switch spec.transform {
        case .vocabulary: .categorical
        case .cyclical: .timestamp
        case .normalize, .bucketize: .numeric
        }
        out.embeddingDim = Int32(spec.embeddingDim)
        out.oovBuckets = Int32(spec.oovBuckets)
        out.bucketCount = Int32(spec.buckets)
        out.logTransform = spec.log
        out.cycles = spec.cycles.map(\.rawValue)
        out.required = spec.required
        out.minCount = Int32(spec.minCount)
        return out
    }
}

extension SlipwayContracts.FeatureSpec {
    var trainerSpec: RecommenderKit.FeatureSpec {
        RecommenderKit.FeatureSpec(
            name: name, type: RawFeatureType(rawValue: rawType) ?? .string, transform: FeatureTransform.Kind(rawValue: transform),
            embeddingDim: Int(embeddingDim), oovBuckets: Int(max(oovBuckets, 1)), buckets: Int(max(bucketCount, 2)), log: logTransform,
            cycles: cycles.compactMap(FeatureTransform.Cycle.init(rawValue:)), required: required, minCount: Int(max(minCount, 1)))
    }
}

extension FeatureConfigCreated {
    func view(createdAt: Date?) -> FeatureConfigView {
        FeatureConfigView(id: featureConfigID, name: name, description: descriptionText,
                          query: queryFeatures.map(\.trainerSpec), candidate: candidateFeatures.map(\.trainerSpec), createdAt: createdAt)
    }
}

// MARK: - Model config

/// `POST /api/model-configs`: the towers' architecture. Optimisation settings are per run (`training_params`).
public struct ModelConfigBody: Codable, Sendable {
    public var name: String
    public var description: String?
    public var modelType: String?
    public var queryLayers: [Int]?
    public var candidateLayers: [Int]?
    public var outputDim: Int?
    public var temperature: Double?
    public var logQCorrection: Bool?
}

public struct ModelConfigView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String
    public var modelType: String
    public var queryLayers: [Int]
    public var candidateLayers: [Int]
    public var outputDim: Int
    public var temperature: Double
    public var logQCorrection: Bool
    public var createdAt: Date?
}

enum ModelTypes {
    static let names: [String: ModelType] = ["retrieval": .retrieval, "ranking": .ranking, "multitask": .multitask]
    static func name(_ type: ModelType) -> String { names.first { $0.value == type }?.key ?? "retrieval" }

    static func parse(_ value: String?, field: String) throws -> ModelType {
        let text = value ?? "retrieval"
        guard let type = names[text] else { throw invalid(field, "\(field) must be one of retrieval, ranking, multitask") }
        return type
    }
}

extension ModelConfigBody {
    func validated() throws -> ModelConfigCreated {
        try Names.validate(name, field: "name")
        let defaults = ModelConfig()
        var event = ModelConfigCreated()
        event.modelConfigID = name
        event.name = name
        event.descriptionText = description ?? ""
        event.modelType = try ModelTypes.parse(modelType, field: "model_type")
        for (layers, field) in [(queryLayers, "query_layers"), (candidateLayers, "candidate_layers")] {
            if let layers, layers.count > 4 || layers.contains(where: { !(1...4096).contains($0) }) {
                throw invalid(field, "\(field) takes up to 4 hidden layers of 1...4096 units")
            }
        }
        event.queryTowerLayers = (queryLayers ?? defaults.queryLayers).map { Int32($0) }
        event.candidateTowerLayers = (candidateLayers ?? defaults.candidateLayers).map { Int32($0) }
        let dim = outputDim ?? defaults.outputDim
        guard (2...1024).contains(dim) else { throw invalid("output_dim", "output_dim must be in 2...1024") }
        event.outputEmbeddingDim = Int32(dim)
        let temperature = temperature ?? defaults.temperature
        guard temperature > 0 && temperature <= 10 else { throw invalid("temperature", "temperature must be in (0, 10]") }
        event.temperature = temperature
        event.disableLogQCorrection = !(logQCorrection ?? true)
        return event
    }
}

extension ModelConfigCreated {
    func view(createdAt: Date?) -> ModelConfigView {
        ModelConfigView(id: modelConfigID, name: name, description: descriptionText, modelType: ModelTypes.name(modelType),
                        queryLayers: queryTowerLayers.map(Int.init), candidateLayers: candidateTowerLayers.map(Int.init),
                        outputDim: Int(outputEmbeddingDim), temperature: temperature, logQCorrection: !disableLogQCorrection,
                        createdAt: createdAt)
    }
}
