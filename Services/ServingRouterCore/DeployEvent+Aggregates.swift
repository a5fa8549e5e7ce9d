import SlipwayContracts

/// Which aggregate a deploy event belongs to, as the router sorts the stream.
extension DeployEvent {
    var isEndpointCreated: Bool {
        if case .endpointCreated = self { return true }
        return false
    }

    var isApiKeyCreated: Bool {
        if case .apiKeyCreated = self { return true }
        return false
    }

    /// An event of the ApiKey aggregate.
    var isApiKeyEvent: Bool {
        switch self {
        case .apiKeyCreated, .apiKeyRevoked, .apiKeyUsed:
            true
        case .endpointCreated, .endpointUpdated, .endpointDeleted, .deploymentRequested, .revisionStarted, .revisionReady, .revisionScaled,
            .revisionFailed,
            .revisionStopped, .trafficShifted, .rolloutStepStarted, .rolloutStepPassed, .rolloutGateFailed, .rolloutStepHeld, .deploymentActivated,
            .deploymentFailed, .rolledBack, .undeployed:
            false
        }
    }
}
