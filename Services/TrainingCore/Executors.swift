/// Where a run's trainer runs.
public enum Executors {
    /// A trainer process on this machine, run by `LocalExecutor`.
    public static let local = "local"
    /// A trainer elsewhere that reports through the webhooks.
    public static let external = "external"
    static let all = [local, external]
}
