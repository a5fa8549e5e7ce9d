import SlipwayContracts
import SlipwayPlatform

/// deploy-svc: endpoints, deployments (immediate or gated gradual rollouts, instant rollback, traffic
/// split, undeploy), API keys, and the local serving target that runs model-server revisions.
public enum DeployService {
    public static func definition(reader: ConfigReader = ConfigReader()) throws -> ServiceDefinition {
        let settings = try DeploySettings.load(reader: reader)
        return ServiceDefinition(context: .deploy, readModel: DeployReadModel()) { environment in
            let target: any ServingTarget =
                if let kubernetes = settings.kubernetes {
                    KubernetesServingTarget(
                        settings: kubernetes, readinessTimeout: .seconds(settings.readinessTimeoutSeconds), httpClient: environment.httpClient,
                        logger: environment.logger)
                } else {
                    LocalServingTarget(
                        root: settings.servingRoot, modelServer: settings.modelServer,
                        readinessTimeout: .seconds(settings.readinessTimeoutSeconds), bindHost: settings.servingBindHost,
                        advertiseHost: settings.servingAdvertiseHost, logger: environment.logger)
                }
            let deployRoutes = DeployRoutes(environment: environment, settings: settings)
            let controller = DeploymentController(settings: settings, target: target, environment: environment)
            return ServiceComponents(
                projections: [ProjectionSubscription(KnownModelsProjection(), from: [.registry, .training])],
                routes: [
                    ApiKeyRoutes(environment: environment).collection, deployRoutes.collection, DeploymentV1Routes(deploy: deployRoutes).collection,
                    RevisionRoutes(controller: controller, environment: environment).collection,
                ],
                workers: [controller])
        }
    }
}
