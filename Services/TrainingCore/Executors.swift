/// Where a run's trainer runs.
public enum Executors {
    /// A trainer process on this machine, run by `LocalExecutor`.
    public static let local = "local"
    /// A Kubernetes Job per run, run by `KubernetesExecutor`.
    public static let kubernetes = "kubernetes"
    /// A trainer elsewhere that reports through the webhooks.
    public static let external = "external"
    static let all = [local, kubernetes, external]

    /// Whether training-svc runs the run's trainer (and so keeps its webhook token for it).
    static func isManaged(_ executor: String) -> Bool { executor == local || executor == kubernetes }
}
