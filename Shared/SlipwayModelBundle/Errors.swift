/// Errors raised while reading or writing a model bundle.
public enum BundleError: Error, Sendable, Equatable, CustomStringConvertible {
    case notADirectory(path: String)
    case missingFile(path: String)
    case invalidManifest(path: String, reason: String)
    case unsupportedFormatVersion(found: Int, supported: Int)
    case invalidPreprocessing(String)
    case corruptFile(path: String, reason: String)
    case shapeMismatch(String)
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .notADirectory(let p): "model bundle path is not a directory: \(p)"
        case .missingFile(let p): "model bundle file is missing: \(p)"
        case .invalidManifest(let p, let r): "invalid manifest \(p): \(r)"
        case .unsupportedFormatVersion(let f, let s): "unsupported bundle format_version \(f) (this reader supports \(s))"
        case .invalidPreprocessing(let r): "invalid preprocessing: \(r)"
        case .corruptFile(let p, let r): "corrupt bundle file \(p): \(r)"
        case .shapeMismatch(let r): "bundle shape mismatch: \(r)"
        case .writeFailed(let p, let r): "cannot write \(p): \(r)"
        }
    }
}

/// Errors raised for a bad scoring request; each names the feature at fault where there is one.
public indirect enum ScoringError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingFeature(name: String)
    case typeMismatch(feature: String, expected: RawFeatureType, got: String)
    case invalidValue(feature: String, reason: String)
    case invalidK(Int)
    case invalidQuery(String)
    case instance(index: Int, error: ScoringError)

    /// The feature the error is about, if any.
    public var feature: String? {
        switch self {
        case .missingFeature(let n): n
        case .typeMismatch(let f, _, _): f
        case .invalidValue(let f, _): f
        case .instance(_, let e): e.feature
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .missingFeature(let n): "missing required feature '\(n)'"
        case .typeMismatch(let f, let e, let g): "feature '\(f)' must be of type \(e.rawValue), got \(g)"
        case .invalidValue(let f, let r): "feature '\(f)' has an invalid value: \(r)"
        case .invalidK(let k): "k must be >= 1, got \(k)"
        case .invalidQuery(let r): "invalid query: \(r)"
        case .instance(let i, let e): "instance \(i): \(e.description)"
        }
    }
}
