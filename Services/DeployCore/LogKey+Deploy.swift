import SlipwayEventSourcing

/// deploy-svc's own log metadata keys.
extension LogKey {
    /// A training run's id (an auto-deploy's).
    static let runID = "slipway.run.id"
    static let deploymentID = "slipway.deployment.id"
    static let revisionID = "slipway.revision.id"
    /// The loopback port a local revision listens on.
    static let revisionPort = "slipway.revision.port"
    /// Why a rollout gate failed.
    static let reason = "slipway.reason"
}
