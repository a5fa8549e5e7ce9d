import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// What deploy-svc did with the deployments auto-deploy asked for (its events that carry a
/// `source_run_id`), so the run can end `deployed` or `deploy_failed`.
public struct RunDeployOutcomes: Projection {
    public let name = "run_deploy_outcomes"
    public init() {}

    public var migrations: [Migration] {
        [Migration(1, "run deploy outcomes", [
            """
            CREATE TABLE run_deploy_outcomes (run_id text PRIMARY KEY, outcome text NOT NULL, endpoint_name text NOT NULL,
                deployment_id text NOT NULL, endpoint_url text NOT NULL, error text NOT NULL, recorded_at timestamptz NOT NULL)
            """,
        ])]
    }

    public func apply(_ events: [Recorded<DeployEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            let outcome: (run: String, outcome: String, endpoint: String, deployment: String, url: String, error: String)
            switch recorded.event {
            case .deploymentActivated(let e):
                outcome = (e.sourceRunID, "deployed", e.endpointName, e.deploymentID, e.endpointURL, "")
            case .deploymentFailed(let e):
                outcome = (e.sourceRunID, "failed", e.endpointID, e.deploymentID, "", e.error)
            case .endpointCreated, .endpointUpdated, .endpointDeleted, .deploymentRequested, .revisionStarted, .revisionReady,
                 .revisionFailed, .revisionStopped, .trafficShifted, .rolloutStepStarted, .rolloutStepPassed, .rolloutGateFailed,
                 .rolledBack, .undeployed, .apiKeyCreated, .apiKeyRevoked, .apiKeyUsed:
                continue  // a run's deployment ends activated or failed; nothing else is its outcome
            }
            guard !outcome.run.isEmpty else { continue }
            // The first outcome is the run's: a later rollback or redeploy of the same version does not change it.
            try await connection.query("""
                INSERT INTO run_deploy_outcomes (run_id, outcome, endpoint_name, deployment_id, endpoint_url, error, recorded_at)
                VALUES (\(outcome.run), \(outcome.outcome), \(outcome.endpoint), \(outcome.deployment), \(outcome.url), \(outcome.error),
                        \(recorded.occurredAt))
                ON CONFLICT (run_id) DO NOTHING
                """, logger: logger)
        }
    }
}

/// Auto-deploy (`deployment_config.enabled`): once a completed run's version is registered, ask deploy-svc
/// to deploy it (`TrainingRunDeployRequested`, status `deploying`); once deploy-svc reports the outcome,
/// end the run `deployed` or `deploy_failed`. Both steps are idempotent commands, so replicas may race.
public struct AutoDeployWorker: Sendable {
    public init() {}

    /// The worker as a service of training-svc: a step every 250 ms.
    public func service(_ environment: ServiceEnvironment) -> PollingWorker {
        PollingWorker("auto-deploy", every: .milliseconds(250), logger: environment.logger) { try await step(environment) }
    }

    func step(_ environment: ServiceEnvironment) async throws {
        let registered = try await environment.postgres.query("""
            SELECT r.id, g.model_name, g.version_number, g.version_id FROM training_runs r JOIN run_registrations g ON g.run_id = r.id
            WHERE r.status = 'completed' AND COALESCE((r.config -> 'deployment_config' ->> 'enabled')::boolean, false)
            """, logger: environment.logger)
        var toRequest: [(String, String, Int, String)] = []
        for try await row in registered.decode((String, String, Int, String).self) { toRequest.append(row) }
        for (runID, model, version, versionID) in toRequest {
            var requested = TrainingRunDeployRequested()
            requested.registeredModelID = model
            requested.versionNumber = Int32(version)
            requested.modelVersionID = versionID
            try await execute(environment, runID, .requestDeploy(requested))
        }

        let outcomes = try await environment.postgres.query("""
            SELECT r.id, o.outcome, o.endpoint_name, o.deployment_id, o.endpoint_url, o.error
            FROM training_runs r JOIN run_deploy_outcomes o ON o.run_id = r.id WHERE r.status = 'deploying'
            """, logger: environment.logger)
        var finished: [(String, String, String, String, String, String)] = []
        for try await row in outcomes.decode((String, String, String, String, String, String).self) { finished.append(row) }
        for (runID, outcome, endpoint, deployment, url, error) in finished {
            if outcome == "deployed" {
                var deployed = TrainingRunDeployed()
                deployed.endpointID = endpoint
                deployed.endpointName = endpoint
                deployed.deploymentID = deployment
                deployed.endpointURL = url
                try await execute(environment, runID, .deployed(deployed))
            } else {
                var failed = TrainingRunDeployFailed()
                failed.endpointID = endpoint
                failed.deploymentID = deployment
                failed.error = error
                try await execute(environment, runID, .deployFailed(failed))
            }
        }
    }

    func execute(_ environment: ServiceEnvironment, _ runID: String, _ command: TrainingRunDecider.Command) async throws {
        do {
            try await environment.execute(TrainingRunDecider.self, aggregateID: runID, command: command,
                                          metadata: CommandMetadata(causationID: "auto-deploy"))
        } catch let rejected as CommandRejected where rejected.kind == .conflict {
            environment.logger.debug("auto-deploy command not applied", metadata: ["run": "\(runID)", "reason": "\(rejected.message)"])
        }
    }
}
