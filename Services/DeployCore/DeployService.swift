import SlipwayPlatform

/// deploy-svc on the common service shell. Today: API keys per registered model (and the registry's
/// model names they hang on). Endpoints, deployments, rollouts and targets arrive with the rest of the
/// deploy domain.
public enum DeployService {
    public static let definition = ServiceDefinition(
        name: "deploy", defaultPort: ServiceDirectory.defaultPorts["deploy"]!,
        readModel: DeployReadModel(),
        projections: [ProjectionSubscription(KnownModels(), from: ["registry"])],
        routes: { router, environment in ApiKeyRoutes(environment: environment).add(to: router) })
}
