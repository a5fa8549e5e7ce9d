import SlipwayPlatform

/// registry-svc on the common service shell: registered models, their versions and aliases.
public enum RegistryService {
    public static let definition = buildRegistryDefinition()
}

/// The registry's definition: its own read model, projections of training runs (with the reactions
/// that register versions) and of schedules, and its routes. Tests that run the projections without
/// the routes pass their own reactor and attach a store to it.
public func buildRegistryDefinition(reactor: RegistryReactor = RegistryReactor()) -> ServiceDefinition {
    ServiceDefinition(
        name: "registry",
        defaultPort: ServiceDirectory.defaultPorts["registry"]!,
        readModel: RegistryReadModel(),
        projections: [
            ProjectionSubscription(TrainingRunsProjection(reactor: reactor), from: ["training"]),
            ProjectionSubscription(ModelSchedulesProjection(), from: ["schedule"]),
            ProjectionSubscription(ServingVersionsProjection(), from: ["deploy"]),
        ],
        routes: { router, environment in
            // The shell builds the routes before it starts any projector: the earliest point where the
            // event store exists, and early enough for the training projection's first reaction.
            reactor.attach(environment.store)
            addRegistryRoutes(to: router, environment: environment)
        })
}
