import SlipwayEventSourcing

/// serving-router's own log metadata keys.
extension LogKey {
    static let aggregateVersion = "slipway.aggregate.version"
    static let revisionID = "slipway.revision.id"
    static let deployURL = "deploy.url"
    static let httpAdminPort = "http.admin_port"
    /// What applying a stream event did (`RoutingState.Outcome`).
    static let routerOutcome = "router.outcome"
    static let routerEndpoints = "router.endpoints"
    static let routerApiKeys = "router.api_keys"
    /// API keys in a usage report.
    static let routerKeys = "router.keys"
    /// Request logs in a batch.
    static let routerCount = "router.count"
}
