import SlipwayContracts
import SlipwayPlatform

/// training-svc: datasets, feature and model configs, training runs and the local executor.
public enum TrainingService {
    /// Its own read model; projections of the registry's versions (a run's register stage), of deploy-svc's
    /// outcomes (auto-deploy), of the feedback metrics-svc sent to datasets (a run's extra training rows) and of
    /// schedule-svc's triggers (the slot's run); its routes; the local executor and auto-deploy as workers.
    public static func definition(reader: ConfigReader = ConfigReader()) -> ServiceDefinition {
        ServiceDefinition(context: .training, readModel: TrainingReadModel()) { environment in
            let executor = LocalExecutor(settings: try TrainingSettings.load(reader: reader, config: environment.config), environment: environment)
            let creation = RunCreation(environment: environment, executor: executor)
            return ServiceComponents(
                projections: [
                    ProjectionSubscription(RunRegistrations(), from: [.registry]),
                    ProjectionSubscription(RunDeployOutcomes(), from: [.deploy]),
                    ProjectionSubscription(DatasetFeedbackProjection(), from: [.metrics]),
                    ProjectionSubscription(ScheduleTriggers(creation: creation), from: [.schedule]),
                ],
                routes: [TrainingRoutes(environment: environment, executor: executor, creation: creation).collection],
                workers: [executor, AutoDeployWorker().service(environment)])
        }
    }
}
