/// One raw input feature and how it is turned into tower input.
///
/// Two families:
/// - *table* transforms (`vocabulary`, `bucketize`) map the value to a row of an embedding table
///   (`embedding/<name>` in the tower weights, `tableRows × embeddingDim`);
/// - *dense* transforms (`normalize`, `cyclical`) write floats straight into the input vector.
public struct FeatureTransform: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// string/int value → vocabulary index; unknown values → one of `oovBuckets` OOV rows
        /// (FNV-1a 64 hash of the UTF-8 text mod `oovBuckets`); a missing optional value → first OOV row.
        case vocabulary
        /// numeric value → `(log1p? (x) - mean) / std`, missing → 0.
        case normalize
        /// numeric value → bucket index `i` with `boundaries[i-1] <= x < boundaries[i]`
        /// (`boundaries.count + 1` buckets), missing → extra last row.
        case bucketize
        /// timestamp → `(sin, cos)` of each listed cycle; missing → zeros.
        case cyclical
    }

    public enum Cycle: String, Sendable, Codable, CaseIterable {
        case dayOfWeek = "day_of_week"
        case month
        case hourOfDay = "hour_of_day"
        case dayOfMonth = "day_of_month"
    }

    public var name: String
    public var type: RawFeatureType
    public var kind: Kind
    public var required: Bool
    public var vocabulary: [String]?
    public var oovBuckets: Int?
    public var embeddingDim: Int?
    public var mean: Double?
    public var std: Double?
    public var logTransform: Bool?
    public var boundaries: [Double]?
    public var cycles: [Cycle]?

    enum CodingKeys: String, CodingKey {
        case name, type, kind, required, vocabulary, mean, std, boundaries, cycles
        case oovBuckets = "oov_buckets"
        case embeddingDim = "embedding_dim"
        case logTransform = "log_transform"
    }

    public init(
        name: String, type: RawFeatureType, kind: Kind, required: Bool = false,
        vocabulary: [String]? = nil, oovBuckets: Int? = nil, embeddingDim: Int? = nil,
        mean: Double? = nil, std: Double? = nil, logTransform: Bool? = nil,
        boundaries: [Double]? = nil, cycles: [Cycle]? = nil
    ) {
        self.name = name; self.type = type; self.kind = kind; self.required = required
        self.vocabulary = vocabulary; self.oovBuckets = oovBuckets; self.embeddingDim = embeddingDim
        self.mean = mean; self.std = std; self.logTransform = logTransform
        self.boundaries = boundaries; self.cycles = cycles
    }

    public static func vocabulary(
        _ name: String, type: RawFeatureType = .string, values: [String],
        oovBuckets: Int = 1, embeddingDim: Int, required: Bool = false
    ) -> Self {
        .init(
            name: name, type: type, kind: .vocabulary, required: required, vocabulary: values,
            oovBuckets: oovBuckets, embeddingDim: embeddingDim)
    }

    public var isTable: Bool { kind == .vocabulary || kind == .bucketize }

    /// Rows of the embedding table for table transforms, 0 otherwise.
    public var tableRows: Int {
        switch kind {
        case .vocabulary: (vocabulary?.count ?? 0) + max(1, oovBuckets ?? 1)
        case .bucketize: (boundaries?.count ?? 0) + 2
        default: 0
        }
    }

    /// Floats written for dense transforms, 0 for table transforms.
    public var denseWidth: Int {
        switch kind {
        case .normalize: 1
        case .cyclical: 2 * (cycles?.count ?? 0)
        default: 0
        }
    }

    /// Width this feature contributes to the tower's input vector.
    public var inputWidth: Int { isTable ? (embeddingDim ?? 0) : denseWidth }

    /// Structural validation used by bundle loading and by the trainer.
    public func validate() throws(BundleError) {
        func bad(_ why: String) -> BundleError { .invalidPreprocessing("feature '\(name)': \(why)") }
        switch kind {
        case .vocabulary:
            guard let v = vocabulary else { throw bad("vocabulary transform without 'vocabulary'") }
            guard Set(v).count == v.count else { throw bad("vocabulary has duplicate entries") }
            guard (embeddingDim ?? 0) > 0 else { throw bad("'embedding_dim' must be > 0") }
            guard (oovBuckets ?? 1) >= 1 else { throw bad("'oov_buckets' must be >= 1") }
        case .bucketize:
            guard let b = boundaries, !b.isEmpty else { throw bad("bucketize transform without 'boundaries'") }
            guard zip(b, b.dropFirst()).allSatisfy({ $0 < $1 }) else { throw bad("boundaries must be strictly increasing") }
            guard (embeddingDim ?? 0) > 0 else { throw bad("'embedding_dim' must be > 0") }
            guard type != .string else { throw bad("bucketize needs a numeric or timestamp feature") }
        case .normalize:
            guard type != .string else { throw bad("normalize needs a numeric or timestamp feature") }
            guard let s = std, s > 0, s.isFinite, (mean ?? 0).isFinite else { throw bad("'std' must be a positive finite number") }
        case .cyclical:
            guard type == .timestamp else { throw bad("cyclical encoding needs a timestamp feature") }
            guard let c = cycles, !c.isEmpty else { throw bad("cyclical transform without 'cycles'") }
        }
    }
}
