import SlipwayContracts
import SlipwayPlatform

/// training-svc: datasets, feature and model configs, training runs and their executors.
public enum TrainingService {
    /// Its own read model; projections of the registry's versions (a run's register stage), of deploy-svc's
    /// outcomes (auto-deploy), of the feedback metrics-svc sent to datasets (a run's extra training rows) and of
    /// schedule-svc's triggers (the slot's run); its routes; the executors and auto-deploy as workers.
    public static func definition(reader: ConfigReader = ConfigReader()) -> ServiceDefinition {
        ServiceDefinition(context: .training, readModel: TrainingReadModel()) { environment in
            let executors = TrainerExecutors(
                settings: try TrainingSettings.load(reader: reader, config: environment.config), environment: environment)
            let creation = RunCreation(environment: environment, executors: executors)
            return ServiceComponents(
                projections: [
                    ProjectionSubscription(RunRegistrations(), from: [.registry]),
                    ProjectionSubscription(RunDeployOutcomes(), from: [.deploy]),
                    ProjectionSubscription(DatasetFeedbackProjection(), from: [.metrics]),
                    ProjectionSubscription(ScheduleTriggers(creation: creation), from: [.schedule]),
                ],
                routes: [TrainingRoutes(environment: environment, executors: executors, creation: creation).collection],
                workers: executors.services + [AutoDeployWorker().service(environment)])
        }
    }
}
