import SlipwayContracts
import SlipwayPlatform

/// training-svc: datasets, feature and model configs, training runs and the local executor.
public enum TrainingService {
    public static func definition(reader: ConfigReader = ConfigReader()) -> ServiceDefinition {
        ServiceDefinition(context: .training, readModel: TrainingReadModel()) { environment in
            let executor = LocalExecutor(settings: try TrainingSettings.load(reader: reader, config: environment.config), environment: environment)
            return ServiceComponents(
                projections: [ProjectionSubscription(RunRegistrations(), from: [.registry]),
                              ProjectionSubscription(RunDeployOutcomes(), from: [.deploy])],
                routes: [TrainingRoutes(environment: environment, executor: executor).collection],
                workers: [executor, AutoDeployWorker().service(environment)])
        }
    }
}
