import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// The registered models and versions deploy-svc may attach keys and endpoints to, from registry-svc's
/// events (a deployment needs the version's bundle, its blessing and its metrics), and the auto-deploys
/// training-svc asks for.
public struct KnownModelsProjection: Projection {
    public let name = "known_models"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(1, "known models", ["CREATE TABLE known_models (name text PRIMARY KEY, deleted boolean NOT NULL DEFAULT false)"]),
            Migration(
                2, "known versions",
                [
                    """
                    CREATE TABLE known_versions (model_name text NOT NULL, version_number int NOT NULL, version_id text NOT NULL,
                        artifact_uri text NOT NULL, blessed boolean NOT NULL, metrics text NOT NULL, source_run_id text NOT NULL,
                        PRIMARY KEY (model_name, version_number))
                    """
                ]),
            Migration(
                3, "auto-deploy requests",
                [
                    """
                    CREATE TABLE run_deploy_requests (run_id text PRIMARY KEY, model_name text NOT NULL, version_number int NOT NULL,
                        endpoint_name text NOT NULL, preset text NOT NULL, requested_at timestamptz NOT NULL)
                    """
                ]),
        ]
    }

    public func apply(_ events: [Recorded<SlipwayEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            switch recorded.event {
            case .registry(.registeredModelCreated(let e)):
                try await connection.query("INSERT INTO known_models (name) VALUES (\(e.name)) ON CONFLICT (name) DO NOTHING", logger: logger)
            case .registry(.registeredModelDeleted(let e)):
                try await connection.query("UPDATE known_models SET deleted = true WHERE name = \(e.name)", logger: logger)
            case .training(.trainingRunDeployRequested(let e)):
                // None named: a new endpoint gets the default preset, an existing one keeps its own.
                let preset = e.deploymentConfig.preset == .unspecified ? "" : ServingPresets.name(of: e.deploymentConfig.preset)
                try await connection.query(
                    """
                    INSERT INTO run_deploy_requests (run_id, model_name, version_number, endpoint_name, preset, requested_at)
                    VALUES (\(e.runID), \(e.registeredModelID), \(Int(e.versionNumber)), \(e.deploymentConfig.endpointName), \(preset),
                            \(recorded.occurredAt))
                    ON CONFLICT (run_id) DO NOTHING
                    """, logger: logger)
            case .registry(.modelVersionRegistered(let e)):
                try await connection.query(
                    """
                    INSERT INTO known_versions (model_name, version_number, version_id, artifact_uri, blessed, metrics, source_run_id)
                    VALUES (\(e.modelName), \(Int(e.versionNumber)), \(e.versionID), \(e.artifactUri), \(e.blessed),
                            \(try DeployColumns.metrics(e.metrics)), \(e.sourceRunID))
                    ON CONFLICT (model_name, version_number) DO NOTHING
                    """, logger: logger)
            case .registry(.registeredModelUpdated), .registry(.modelAliasSet), .registry(.modelAliasDeleted), .registry(.modelVersionStatusChanged):
                break  // names, versions and blessing are all a deployment needs of the registry
            case .training(.datasetRegistered), .training(.featureConfigCreated), .training(.modelConfigCreated),
                .training(.trainingRunCreated), .training(.trainingRunSubmitted), .training(.trainingRunStarted),
                .training(.trainingRunConfigEdited), .training(.stageStarted), .training(.stageCompleted), .training(.stageFailed),
                .training(.stageSkipped), .training(.epochCompleted), .training(.trainingRunCompleted), .training(.trainingRunFailed),
                .training(.trainingRunCancelled), .training(.trainingRunDeployed), .training(.trainingRunDeployFailed):
                break  // of training, only a run's request to deploy its version
            case .schedule, .deploy, .testing, .metrics, .gateway, .serving:
                break  // not subscribed
            }
        }
    }
}
