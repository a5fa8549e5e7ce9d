import SlipwayEventSourcing

/// training-svc's log metadata keys.
extension LogKey {
    /// A training run's id (`<model>-<number>`).
    public static let runID = "training.run.id"
    /// A trainer process's pid.
    public static let processID = "process.pid"
    /// A trainer process's exit status.
    public static let exitStatus = "process.exit.code"
    /// Why a command was not applied (its rejection's message).
    public static let rejection = "training.rejection"
}
