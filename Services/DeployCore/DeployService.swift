import Hummingbird
import Logging
import SlipwayContracts
import SlipwayPlatform

/// deploy-svc: endpoints, deployments (immediate or gated gradual rollouts, instant rollback, traffic
/// split, undeploy), API keys, and the local serving target that runs model-server revisions.
public enum DeployService {
    public static func definition(reader: ConfigReader = ConfigReader()) throws -> ServiceDefinition {
        let settings = try DeploySettings.load(reader: reader)
        return ServiceDefinition(context: .deploy, readModel: DeployReadModel()) { environment in
            let target = LocalServingTarget(root: settings.servingRoot, modelServer: settings.modelServer,
                                            readinessTimeout: .seconds(settings.readinessTimeoutSeconds), logger: environment.logger)
            let routes = RouteCollection(context: SlipwayRequestContext.self)
            ApiKeyRoutes(environment: environment).add(to: routes)
            DeployRoutes(environment: environment, settings: settings).add(to: routes)
            return ServiceComponents(
                projections: [ProjectionSubscription(KnownModels(), from: [.registry, .training])],
                routes: [routes],
                workers: [DeploymentController(settings: settings, target: target, environment: environment)])
        }
    }
}
