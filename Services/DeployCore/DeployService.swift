import Logging
import SlipwayPlatform

/// deploy-svc: endpoints, deployments (immediate or gated gradual rollouts, instant rollback, traffic
/// split, undeploy), API keys, and the local serving target that runs model-server revisions.
public enum DeployService {
    public static let name = "deploy"

    public static func definition(reader: ConfigReader = ConfigReader()) throws -> ServiceDefinition {
        let port = ServiceDirectory.defaultPorts[name]!
        let settings = try DeploySettings.load(reader: reader)
        let target = LocalServingTarget(root: settings.servingRoot, modelServer: settings.modelServer,
                                        readinessTimeout: .seconds(settings.readinessTimeoutSeconds), logger: Logger(label: "slipway.deploy.target"))
        let controller = DeploymentController(settings: settings, target: target)
        return ServiceDefinition(
            name: name, defaultPort: port,
            readModel: DeployReadModel(),
            projections: [ProjectionSubscription(KnownModels(), from: ["registry", "training"])],
            routes: { router, environment in
                ApiKeyRoutes(environment: environment).add(to: router)
                DeployRoutes(environment: environment, settings: settings).add(to: router)
            },
            workers: [("deployment controller", { environment in try await controller.run(environment) })])
    }
}
