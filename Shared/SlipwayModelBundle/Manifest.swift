/// `manifest.json` of a model bundle. All keys are snake_case on disk.
public struct Manifest: Sendable, Codable, Equatable {
    public static let currentFormatVersion = 1

    public struct FeatureSpec: Sendable, Codable, Equatable {
        public var name: String
        public var type: RawFeatureType
        public var required: Bool
        public init(name: String, type: RawFeatureType, required: Bool) {
            self.name = name; self.type = type; self.required = required
        }
    }

    public struct InputSchema: Sendable, Codable, Equatable {
        public var query: [FeatureSpec]
        public var candidate: [FeatureSpec]
        public init(query: [FeatureSpec], candidate: [FeatureSpec]) { self.query = query; self.candidate = candidate }
    }

    public struct TransformSummary: Sendable, Codable, Equatable {
        public var name: String
        public var side: String
        public var kind: FeatureTransform.Kind
        public var outputWidth: Int
        enum CodingKeys: String, CodingKey { case name, side, kind, outputWidth = "output_width" }
        public init(name: String, side: String, kind: FeatureTransform.Kind, outputWidth: Int) {
            self.name = name; self.side = side; self.kind = kind; self.outputWidth = outputWidth
        }
    }

    public struct TowerConfig: Sendable, Codable, Equatable {
        /// Hidden layer sizes (ReLU); a final linear layer maps to `outputDim`.
        public var layers: [Int]
        public var outputDim: Int
        public var activation: String
        public var l2Normalize: Bool
        /// Weights file inside the bundle, or nil when the tower is not shipped.
        public var weightsFile: String?
        enum CodingKeys: String, CodingKey {
            case layers, activation
            case outputDim = "output_dim"
            case l2Normalize = "l2_normalize"
            case weightsFile = "weights_file"
        }
        public init(layers: [Int], outputDim: Int, activation: String = "relu", l2Normalize: Bool, weightsFile: String?) {
            self.layers = layers; self.outputDim = outputDim; self.activation = activation
            self.l2Normalize = l2Normalize; self.weightsFile = weightsFile
        }
    }

    public struct Candidates: Sendable, Codable, Equatable {
        public var count: Int
        public var dim: Int
        public var embeddingsFile: String
        public var idsFile: String
        /// Raw feature whose ORIGINAL values `candidate_ids.json` holds (never vocabulary indices).
        public var idFeature: String
        enum CodingKeys: String, CodingKey {
            case count, dim
            case embeddingsFile = "embeddings_file"
            case idsFile = "ids_file"
            case idFeature = "id_feature"
        }
        public init(
            count: Int, dim: Int, embeddingsFile: String = "candidates.bin",
            idsFile: String = "candidate_ids.json", idFeature: String
        ) {
            self.count = count; self.dim = dim; self.embeddingsFile = embeddingsFile
            self.idsFile = idsFile; self.idFeature = idFeature
        }
    }

    public struct Lineage: Sendable, Codable, Equatable {
        public var datasetId: String?
        public var featureConfigId: String?
        public var modelConfigId: String?
        public var trainingRunId: String?
        enum CodingKeys: String, CodingKey {
            case datasetId = "dataset_id"
            case featureConfigId = "feature_config_id"
            case modelConfigId = "model_config_id"
            case trainingRunId = "training_run_id"
        }
        public init(
            datasetId: String? = nil, featureConfigId: String? = nil, modelConfigId: String? = nil,
            trainingRunId: String? = nil
        ) {
            self.datasetId = datasetId; self.featureConfigId = featureConfigId
            self.modelConfigId = modelConfigId; self.trainingRunId = trainingRunId
        }
    }

    /// What the server answers for a query the model knows nothing about (an unknown id and no other known feature).
    public struct ColdStart: Sendable, Codable, Equatable {
        public enum Policy: String, Sendable, Codable {
            /// The candidates most interacted with in the train split, from `popularity_file`.
            case popularity
        }
        public var policy: Policy
        /// Train-split interaction count per candidate, in `candidate_ids.json` order (a one-tensor weights file).
        public var popularityFile: String
        enum CodingKeys: String, CodingKey { case policy, popularityFile = "popularity_file" }
        public init(policy: Policy = .popularity, popularityFile: String = "candidate_popularity.bin") {
            self.policy = policy; self.popularityFile = popularityFile
        }
    }

    public var formatVersion: Int
    public var modelName: String
    public var modelType: String
    public var createdAt: String
    public var inputSchema: InputSchema
    public var preprocessingFile: String
    public var transforms: [TransformSummary]
    public var queryTower: TowerConfig
    public var candidateTower: TowerConfig
    public var outputDim: Int
    /// Always "dot": scores are raw dot products of the (L2-normalised) embeddings.
    public var similarity: String
    /// Training temperature, informational (ranking is unaffected by it).
    public var temperature: Double?
    public var candidates: Candidates
    public var metrics: [String: Double]
    public var lineage: Lineage
    /// Absent in bundles written before cold start had a policy: such a query is scored from the OOV rows.
    public var coldStart: ColdStart?

    enum CodingKeys: String, CodingKey {
        case transforms, similarity, temperature, candidates, metrics, lineage
        case formatVersion = "format_version"
        case modelName = "model_name"
        case modelType = "model_type"
        case createdAt = "created_at"
        case inputSchema = "input_schema"
        case preprocessingFile = "preprocessing_file"
        case queryTower = "query_tower"
        case candidateTower = "candidate_tower"
        case outputDim = "output_dim"
        case coldStart = "cold_start"
    }

    public init(
        formatVersion: Int = Manifest.currentFormatVersion, modelName: String,
        modelType: String = "two_tower_retrieval", createdAt: String, inputSchema: InputSchema,
        preprocessingFile: String = "preprocessing.json", transforms: [TransformSummary],
        queryTower: TowerConfig, candidateTower: TowerConfig, outputDim: Int, similarity: String = "dot",
        temperature: Double?, candidates: Candidates, metrics: [String: Double], lineage: Lineage, coldStart: ColdStart? = nil
    ) {
        self.formatVersion = formatVersion; self.modelName = modelName; self.modelType = modelType
        self.createdAt = createdAt; self.inputSchema = inputSchema; self.preprocessingFile = preprocessingFile
        self.transforms = transforms; self.queryTower = queryTower; self.candidateTower = candidateTower
        self.outputDim = outputDim; self.similarity = similarity; self.temperature = temperature
        self.candidates = candidates; self.metrics = metrics; self.lineage = lineage; self.coldStart = coldStart
    }
}

/// `preprocessing.json`: every transform with its fitted state (vocabularies, mean/std, boundaries).
public struct Preprocessing: Sendable, Codable, Equatable {
    public var formatVersion: Int
    public var query: [FeatureTransform]
    public var candidate: [FeatureTransform]
    enum CodingKeys: String, CodingKey { case query, candidate, formatVersion = "format_version" }
    public init(formatVersion: Int = 1, query: [FeatureTransform], candidate: [FeatureTransform]) {
        self.formatVersion = formatVersion; self.query = query; self.candidate = candidate
    }
}
