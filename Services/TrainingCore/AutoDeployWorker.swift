import Foundation
import SlipwayEventSourcing
import SlipwayPlatform

/// Auto-deploy (`deployment_config.enabled`): once a completed run's version is registered, ask deploy-svc
/// to deploy it (`TrainingRunDeployRequested`, status `deploying`); once deploy-svc reports the outcome,
/// end the run `deployed` or `deploy_failed`. Both steps are idempotent commands, so replicas may race.
public struct AutoDeployWorker: Sendable {
    public init() {}

    /// The worker as a service of training-svc: a step every 250 ms until graceful shutdown (a step in
    /// progress finishes first).
    public func service(_ environment: ServiceEnvironment) -> PollingWorker {
        PollingWorker("auto-deploy", every: .milliseconds(250), logger: environment.logger) { try await step(environment) }
    }

    func step(_ environment: ServiceEnvironment) async throws {
        let queries = TrainingQueries(postgres: environment.postgres, logger: environment.logger)
        for (runID, version) in try await queries.registeredRunsToDeploy() {
            try await execute(environment, runID, .requestDeploy(version))
        }
        for (runID, outcome) in try await queries.deployOutcomes() {
            try await execute(environment, runID, .recordDeployment(outcome))
        }
    }

    func execute(_ environment: ServiceEnvironment, _ runID: String, _ command: TrainingRunDecider.Command) async throws {
        do {
            try await environment.execute(
                TrainingRunDecider.self, aggregateID: runID, command: command,
                metadata: CommandMetadata(causationID: "auto-deploy", actor: "auto-deploy"))
        } catch let rejected as CommandRejected where rejected.kind == .conflict {
            environment.logger.debug(
                "auto-deploy command not applied", metadata: [LogKey.runID: "\(runID)", LogKey.rejection: "\(rejected.message)"])
        }
    }
}
