/// A stage's artifacts (file paths by kind) and metrics, as stored with the stage and shown in `stages[].details`.
public struct StageDetails: Codable, Sendable {
    public var artifacts: [String: String]
    public var metrics: [String: Double]
}
