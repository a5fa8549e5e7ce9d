import SlipwayPlatform

/// training-svc: datasets, feature and model configs, training runs and the local executor.
public enum TrainingService {
    public static let name = "training"

    public static func definition(reader: ConfigReader = ConfigReader()) throws -> ServiceDefinition {
        let port = ServiceDirectory.defaultPorts[name]!
        let config = try ServiceConfig.load(service: name, defaultPort: port, reader: reader)
        let executor = LocalExecutor(settings: try TrainingSettings.load(reader: reader, config: config))
        return ServiceDefinition(
            name: name, defaultPort: port,
            readModel: TrainingReadModel(),
            projections: [ProjectionSubscription(RunRegistrations(), from: ["registry"]),
                          ProjectionSubscription(RunDeployOutcomes(), from: ["deploy"])],
            routes: { router, environment in TrainingRoutes(environment: environment, executor: executor).add(to: router) },
            workers: [("local executor", { environment in try await executor.run(environment) }),
                      ("auto-deploy", { environment in try await AutoDeployWorker().run(environment) })])
    }
}
