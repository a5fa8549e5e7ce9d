import SlipwayEventSourcing

/// deploy-svc's own log metadata keys.
extension LogKey {
    /// A training run's id (an auto-deploy's).
    static let runID = "slipway.run.id"
    static let model = "slipway.model.name"
    static let version = "slipway.model.version"
    static let deploymentID = "slipway.deployment.id"
    static let revisionID = "slipway.revision.id"
    /// The loopback port a local revision listens on.
    static let revisionPort = "slipway.revision.port"
    /// Why a rollout gate failed, or why a revision scaled.
    static let reason = "slipway.reason"
    /// A revision's instances before and after a change ("1->2").
    static let instances = "slipway.revision.instances"
    /// How long a revision instance took to start.
    static let startupMs = "slipway.revision.startup_ms"
}
