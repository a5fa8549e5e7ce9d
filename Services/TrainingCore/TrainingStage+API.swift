import SlipwayContracts

extension TrainingStage {
    /// The nine stages in pipeline order.
    public static let pipeline: [TrainingStage] = [.compile, .examples, .stats, .schema, .transform, .train, .evaluate, .register, .deploy]

    /// The API's name of the stage (`stats`, `train`, …).
    public var apiName: String {
        switch self {
        case .compile: "compile"
        case .examples: "examples"
        case .stats: "stats"
        case .schema: "schema"
        case .transform: "transform"
        case .train: "train"
        case .evaluate: "evaluate"
        case .register: "register"
        case .deploy: "deploy"
        default: "unknown"
        }
    }

    /// A stage of the pipeline by its API name.
    public init?(apiName: String) {
        guard let stage = Self.pipeline.first(where: { $0.apiName == apiName }) else { return nil }
        self = stage
    }
}
