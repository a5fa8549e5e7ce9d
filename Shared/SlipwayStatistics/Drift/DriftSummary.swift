/// A verdict over several features of one model.
///
/// Only features with `status == .ok` take part; features with too little data neither raise nor dilute the score.
///
/// `driftScore` is the severity-weighted share of drifted-ness over the analysed features:
///
///     driftScore = Σ weight(severity_i) / analysedFeatureCount
///     weight: none 0, low 0.25, medium 0.5, high 0.75, critical 1
///
/// It is in 0...1, 0 when nothing moved and 1 only when every analysed feature is critical, and it never decreases when
/// any feature's severity rises. It is built from severities rather than raw PSI so that it agrees with the per-feature
/// verdicts (which already account for sample size, KS and unseen categories) and one exploding PSI cannot dominate.
public struct DriftSummary: Codable, Equatable, Sendable {
    /// The per-feature results, in the order given.
    public let results: [FeatureDriftResult]
    /// `.insufficientData` when no feature had enough data for a verdict (including when there are no features).
    public let status: DriftStatus
    /// See the type documentation; 0 when `status` is `.insufficientData`.
    public let driftScore: Double
    /// The worst severity among analysed features.
    public let severity: DriftSeverity
    /// Whether any analysed feature drifted (severity ≥ medium).
    public let driftDetected: Bool
    /// Names of the drifted features, in the order given.
    public let affectedFeatures: [String]

    public init(results: [FeatureDriftResult]) {
        let analysed = results.filter { $0.status == .ok }
        self.results = results
        self.status = analysed.isEmpty ? .insufficientData : .ok
        let weightTotal = analysed.reduce(0.0) { $0 + Self.scoreWeight(of: $1.severity) }
        self.driftScore = analysed.isEmpty ? 0 : min(1, max(0, weightTotal / Double(analysed.count)))
        self.severity = analysed.map(\.severity).max() ?? .none
        self.affectedFeatures = analysed.filter(\.drifted).map(\.feature)
        self.driftDetected = !affectedFeatures.isEmpty
    }

    static func scoreWeight(of severity: DriftSeverity) -> Double {
        Double(severity.rank) / Double(DriftSeverity.critical.rank)
    }
}
