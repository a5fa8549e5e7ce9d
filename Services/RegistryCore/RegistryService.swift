import SlipwayContracts
import SlipwayPlatform

/// registry-svc on the common service shell: registered models, their versions and aliases.
public enum RegistryService {
    /// Its own read model; projections of training runs (with the reactions that register versions),
    /// of schedules and of what serves; its routes.
    public static let definition = ServiceDefinition(context: .registry, readModel: RegistryReadModel()) { environment in
        ServiceComponents(
            projections: [
                ProjectionSubscription(TrainingRunsProjection(store: environment.store), from: [.training]),
                ProjectionSubscription(ModelSchedulesProjection(), from: [.schedule]),
                ProjectionSubscription(ServingVersionsProjection(), from: [.deploy]),
            ],
            routes: [RegistryRoutes(environment: environment).collection])
    }
}
