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
        [
            Migration(
                1, "run deploy outcomes",
                [
                    """
                    CREATE TABLE run_deploy_outcomes (run_id text PRIMARY KEY, outcome text NOT NULL, endpoint_name text NOT NULL,
                        deployment_id text NOT NULL, endpoint_url text NOT NULL, error text NOT NULL, recorded_at timestamptz NOT NULL)
                    """
                ])
        ]
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
                .revisionScaled, .revisionFailed, .revisionStopped, .trafficShifted, .rolloutStepStarted, .rolloutStepPassed, .rolloutGateFailed,
                .rolloutStepHeld,
                .rolledBack, .undeployed, .apiKeyCreated, .apiKeyRevoked, .apiKeyUsed:
                continue  // a run's deployment ends activated or failed; nothing else is its outcome
            }
            guard !outcome.run.isEmpty else { continue }
            // The first outcome is the run's: a later rollback or redeploy of the same version does not change it.
            try await connection.query(
                """
                INSERT INTO run_deploy_outcomes (run_id, outcome, endpoint_name, deployment_id, endpoint_url, error, recorded_at)
                VALUES (\(outcome.run), \(outcome.outcome), \(outcome.endpoint), \(outcome.deployment), \(outcome.url), \(outcome.error),
                        \(recorded.occurredAt))
                ON CONFLICT (run_id) DO NOTHING
                """, logger: logger)
        }
    }
}
