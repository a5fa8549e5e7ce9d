import SlipwayContracts

extension TrainingRunStatus {
    /// The API's status words (the spec's).
    public var apiName: String {
        switch self {
        case .pending: "pending"
        case .scheduled: "scheduled"
        case .submitting: "submitting"
        case .running: "running"
        case .completed: "completed"
        case .failed: "failed"
        case .cancelled: "cancelled"
        case .notBlessed: "not_blessed"
        case .deploying: "deploying"
        case .deployed: "deployed"
        case .deployFailed: "deploy_failed"
        default: "unknown"
        }
    }

    /// A status by its API name.
    init?(apiName: String) {
        guard let status = Self.listable.first(where: { $0.apiName == apiName }) else { return nil }
        self = status
    }

    /// Every status a run can be listed by.
    static let listable: [TrainingRunStatus] = [
        .pending, .scheduled, .submitting, .running, .completed, .failed, .cancelled, .notBlessed, .deploying, .deployed, .deployFailed,
    ]

    /// A run in one of these has ended (a deployment after it is the run's epilogue).
    var isTerminal: Bool { [.completed, .notBlessed, .failed, .cancelled, .deploying, .deployed, .deployFailed].contains(self) }
}
