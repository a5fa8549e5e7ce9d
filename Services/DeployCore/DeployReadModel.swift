import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// deploy-svc's read model of its own events: API keys, endpoints, deployments (history per endpoint)
/// and revisions with their traffic share. Updated inline with every command and rebuilt by replay.
public struct DeployReadModel: Projection {
    public let name = "deploy"
    public init() {}

    public var migrations: [Migration] {
        [
            Migration(
                1, "api keys",
                [
                    """
                    CREATE TABLE api_keys (id text PRIMARY KEY, model_name text NOT NULL, name text NOT NULL, key_prefix text NOT NULL,
                        key_sha256 text NOT NULL UNIQUE, is_active boolean NOT NULL, created_by text NOT NULL, created_at timestamptz NOT NULL,
                        expires_at timestamptz, revoked_at timestamptz, revoke_reason text, last_used_at timestamptz)
                    """,
                    "CREATE INDEX api_keys_model ON api_keys (model_name, created_at)",
                ]),
            Migration(
                2, "endpoints, deployments, revisions",
                [
                    "ALTER TABLE api_keys ADD COLUMN version bigint NOT NULL DEFAULT 1, ADD COLUMN request_count bigint NOT NULL DEFAULT 0",
                    """
                    CREATE TABLE endpoints (name text PRIMARY KEY, model_name text NOT NULL, preset text NOT NULL, resources text NOT NULL,
                        target text NOT NULL, url text NOT NULL, description text NOT NULL, created_by text NOT NULL,
                        created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, deleted boolean NOT NULL DEFAULT false,
                        active_deployment_id text, version bigint NOT NULL)
                    """,
                    "CREATE INDEX endpoints_model ON endpoints (model_name)",
                    """
                    CREATE TABLE deployments (id text PRIMARY KEY, endpoint_name text NOT NULL, number int NOT NULL, model_name text NOT NULL,
                        model_version_id text NOT NULL, version_number int NOT NULL, artifact_uri text NOT NULL, strategy text NOT NULL,
                        steps text NOT NULL, force boolean NOT NULL, requested_by text NOT NULL, reason text NOT NULL, source_run_id text NOT NULL,
                        metrics text NOT NULL, status text NOT NULL, traffic_percent int NOT NULL DEFAULT 0, revision_id text,
                        step_index int NOT NULL DEFAULT -1, step_started_at timestamptz, error text NOT NULL DEFAULT '',
                        created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, activated_at timestamptz, ended_at timestamptz)
                    """,
                    "CREATE INDEX deployments_endpoint ON deployments (endpoint_name, number)",
                    "CREATE INDEX deployments_model ON deployments (model_name, created_at)",
                    "CREATE INDEX deployments_status ON deployments (status)",
                    """
                    CREATE TABLE revisions (id text PRIMARY KEY, endpoint_name text NOT NULL, deployment_id text NOT NULL,
                        model_name text NOT NULL, model_version_id text NOT NULL, version_number int NOT NULL, artifact_uri text NOT NULL,
                        target text NOT NULL, resources text NOT NULL, address text, status text NOT NULL, traffic_percent int NOT NULL DEFAULT 0,
                        startup_ms bigint, error text NOT NULL DEFAULT '', log_tail text NOT NULL DEFAULT '',
                        started_at timestamptz NOT NULL, ready_at timestamptz, stopped_at timestamptz)
                    """,
                    "CREATE INDEX revisions_endpoint ON revisions (endpoint_name, status)",
                ]),
            Migration(
                3, "auto-deploy rejections",
                [
                    """
                    CREATE TABLE run_deploy_rejections (run_id text PRIMARY KEY, endpoint_name text NOT NULL, error text NOT NULL,
                        rejected_at timestamptz NOT NULL)
                    """
                ]),
            Migration(4, "API key purposes", ["ALTER TABLE api_keys ADD COLUMN purpose text NOT NULL DEFAULT 'client'"]),
            Migration(
                5, "revision instances: every instance's address (`address` stays the first one's)",
                [
                    "ALTER TABLE revisions ADD COLUMN addresses text[] NOT NULL DEFAULT '{}', ADD COLUMN scaled_at timestamptz",
                    "UPDATE revisions SET addresses = ARRAY[address] WHERE address IS NOT NULL",
                    """
                    CREATE TABLE revision_scalings (position bigserial PRIMARY KEY, endpoint_name text NOT NULL, revision_id text NOT NULL,
                        deployment_id text NOT NULL, instances int NOT NULL, previous_instances int NOT NULL, cause text NOT NULL,
                        reason text NOT NULL, startup_ms bigint NOT NULL, at timestamptz NOT NULL)
                    """,
                    "CREATE INDEX revision_scalings_endpoint ON revision_scalings (endpoint_name, at DESC)",
                ]),
        ]
    }

    public func apply(_ events: [Recorded<DeployEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        for recorded in events {
            let at = recorded.occurredAt
            let version = recorded.version
            func query(_ sql: PostgresQuery) async throws { try await connection.query(sql, logger: logger) }
            switch recorded.event {
            case .apiKeyCreated(let e):
                try await query(
                    """
                    INSERT INTO api_keys (id, model_name, name, key_prefix, key_sha256, is_active, created_by, created_at, expires_at, version,
                        purpose)
                    VALUES (\(e.apiKeyID), \(e.registeredModelID), \(e.name), \(e.keyPrefix), \(e.keySha256), true, \(e.createdBy), \(at),
                            \(e.hasExpiresAt ? e.expiresAt.date : nil), \(version), \(ApiKeyPurposes.name(e.purpose)))
                    """)
            case .apiKeyRevoked(let e):
                try await query(
                    """
                    UPDATE api_keys SET is_active = false, revoked_at = \(at), revoke_reason = \(e.reason), version = \(version) WHERE id = \(e.apiKeyID)
                    """)
            case .apiKeyUsed(let e):
                try await query(
                    """
                    UPDATE api_keys SET last_used_at = GREATEST(last_used_at, \(e.lastUsedAt.date.microsecondAligned)),
                        request_count = request_count + \(e.requestCount), version = \(version) WHERE id = \(e.apiKeyID)
                    """)

            case .endpointCreated(let e):
                try await query(
                    """
                    INSERT INTO endpoints (name, model_name, preset, resources, target, url, description, created_by, created_at, updated_at, version)
                    VALUES (\(e.name), \(e.registeredModelID), \(ServingPresets.name(of: e.preset)), \(try DeployColumns.resources(e.resources)),
                            \(DeployColumns.name(of: e.target)), \(e.url), \(e.descriptionText), \(e.createdBy), \(at), \(at), \(version))
                    ON CONFLICT (name) DO UPDATE SET model_name = EXCLUDED.model_name, preset = EXCLUDED.preset, resources = EXCLUDED.resources,
                        target = EXCLUDED.target, url = EXCLUDED.url, description = EXCLUDED.description, created_by = EXCLUDED.created_by,
                        created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, deleted = false, active_deployment_id = NULL,
                        version = EXCLUDED.version
                    """)
            case .endpointUpdated(let e):
                try await query(
                    """
                    UPDATE endpoints SET preset = \(ServingPresets.name(of: e.preset)), resources = \(try DeployColumns.resources(e.resources)),
                        description = \(e.descriptionText) WHERE name = \(e.endpointID)
                    """)
            case .endpointDeleted(let e):
                try await query("UPDATE endpoints SET deleted = true WHERE name = \(e.endpointID)")

            case .deploymentRequested(let e):
                try await query(
                    """
                    INSERT INTO deployments (id, endpoint_name, number, model_name, model_version_id, version_number, artifact_uri, strategy,
                        steps, force, requested_by, reason, source_run_id, metrics, status, created_at, updated_at)
                    VALUES (\(e.deploymentID), \(e.endpointID), \(Int(e.deploymentNumber)), \(e.registeredModelID), \(e.modelVersionID),
                            \(Int(e.versionNumber)), \(e.artifactUri), \(e.strategy == .gradual ? "gradual" : "immediate"),
                            \(try DeployColumns.steps(e.steps)), \(e.force), \(e.requestedBy), \(e.reason), \(e.sourceRunID),
                            \(try DeployColumns.metrics(e.metrics)), 'requested', \(at), \(at))
                    """)
            case .revisionStarted(let e):
                try await query(
                    """
                    INSERT INTO revisions (id, endpoint_name, deployment_id, model_name, model_version_id, version_number, artifact_uri, target,
                        resources, status, started_at)
                    SELECT \(e.revisionID), \(e.endpointID), \(e.deploymentID), d.model_name, \(e.modelVersionID), \(Int(e.versionNumber)),
                           \(e.artifactUri), \(DeployColumns.name(of: e.target)), \(try DeployColumns.resources(e.resources)), 'starting', \(at)
                    FROM deployments d WHERE d.id = \(e.deploymentID)
                    """)
                try await query(
                    "UPDATE deployments SET status = 'deploying', revision_id = \(e.revisionID), updated_at = \(at) WHERE id = \(e.deploymentID)")
            case .revisionReady(let e):
                try await query(
                    """
                    UPDATE revisions SET status = 'ready', address = \(e.address), startup_ms = \(e.startupMs), ready_at = \(at), error = '',
                        addresses = ARRAY[\(e.address)] || addresses[2:]
                    WHERE id = \(e.revisionID)
                    """)
            case .revisionScaled(let e):
                try await query(
                    """
                    UPDATE revisions SET status = 'ready', addresses = \(e.addresses), address = COALESCE(\(e.addresses.first), address),
                        scaled_at = \(at)
                    WHERE id = \(e.revisionID)
                    """)
                try await query(
                    """
                    INSERT INTO revision_scalings (endpoint_name, revision_id, deployment_id, instances, previous_instances, cause, reason, startup_ms, at)
                    VALUES (\(e.endpointID), \(e.revisionID), \(e.deploymentID), \(e.addresses.count), \(Int(e.previousInstances)),
                            \(DeployColumns.name(of: e.cause)), \(e.reason), \(e.startupMs), \(at))
                    """)
            case .revisionFailed(let e):
                try await query("UPDATE revisions SET status = 'failed', error = \(e.error), log_tail = \(e.logTail) WHERE id = \(e.revisionID)")
            case .revisionStopped(let e):
                try await query(
                    """
                    UPDATE revisions SET status = 'stopped', stopped_at = \(at), traffic_percent = 0,
                        error = CASE WHEN \(e.reason) = '' THEN error ELSE \(e.reason) END WHERE id = \(e.revisionID)
                    """)
            case .trafficShifted(let e):
                try await query("UPDATE revisions SET traffic_percent = 0 WHERE endpoint_name = \(e.endpointID) AND traffic_percent <> 0")
                try await query("UPDATE deployments SET traffic_percent = 0 WHERE endpoint_name = \(e.endpointID) AND traffic_percent <> 0")
                for (revision, percent) in e.traffic {
                    try await query("UPDATE revisions SET traffic_percent = \(Int(percent)) WHERE id = \(revision)")
                    try await query(
                        """
                        UPDATE deployments SET traffic_percent = \(Int(percent)) WHERE id = (SELECT deployment_id FROM revisions WHERE id = \(revision))
                        """)
                }
                if e.reason == .manualSplit {
                    try await query(
                        """
                        UPDATE deployments SET status = CASE WHEN traffic_percent > 0 THEN 'active' ELSE 'inactive' END, updated_at = \(at),
                            ended_at = CASE WHEN traffic_percent > 0 THEN NULL ELSE COALESCE(ended_at, \(at)) END
                        WHERE endpoint_name = \(e.endpointID) AND (traffic_percent > 0 OR status = 'active')
                        """)
                    try await query(
                        """
                        UPDATE endpoints SET active_deployment_id = (SELECT id FROM deployments WHERE endpoint_name = \(e.endpointID)
                            ORDER BY traffic_percent DESC, id DESC LIMIT 1) WHERE name = \(e.endpointID)
                        """)
                }
            case .rolloutStepStarted(let e):
                try await query(
                    """
                    UPDATE deployments SET status = 'rolling_out', step_index = \(Int(e.stepIndex)), step_started_at = \(at), updated_at = \(at)
                    WHERE id = \(e.deploymentID)
                    """)
            case .rolloutGateFailed(let e):
                try await query("UPDATE deployments SET error = \(e.reason), updated_at = \(at) WHERE id = \(e.deploymentID)")
            case .deploymentActivated(let e):
                try await query(
                    """
                    UPDATE deployments SET status = 'inactive', ended_at = \(at), updated_at = \(at)
                    WHERE endpoint_name = \(e.endpointID) AND status = 'active' AND id <> \(e.deploymentID)
                    """)
                try await query(
                    """
                    UPDATE deployments SET status = 'active', activated_at = \(at), ended_at = NULL, updated_at = \(at) WHERE id = \(e.deploymentID)
                    """)
                try await query("UPDATE endpoints SET active_deployment_id = \(e.deploymentID) WHERE name = \(e.endpointID)")
            case .deploymentFailed(let e) where e.deploymentID.isEmpty:
                try await query(
                    """
                    INSERT INTO run_deploy_rejections (run_id, endpoint_name, error, rejected_at) VALUES (\(e.sourceRunID), \(e.endpointID), \(e.error), \(at))
                    ON CONFLICT (run_id) DO NOTHING
                    """)
            case .deploymentFailed(let e):
                try await query(
                    """
                    UPDATE deployments SET status = 'failed', error = \(e.error), ended_at = \(at), updated_at = \(at) WHERE id = \(e.deploymentID)
                    """)
            case .rolledBack(let e):
                // As `EndpointState` folds it: the deployment rolled back from ends, unless the rollback deployed its
                // version again and that activation superseded it already.
                try await query(
                    """
                    UPDATE deployments SET status = 'rolled_back', ended_at = \(at), updated_at = \(at),
                        error = CASE WHEN error = '' THEN \(e.reason) ELSE error END
                    WHERE id = \(e.fromDeploymentID) AND status IN ('requested', 'deploying', 'rolling_out', 'active')
                    """)
                try await query("UPDATE deployments SET status = 'active', ended_at = NULL, updated_at = \(at) WHERE id = \(e.toDeploymentID)")
                try await query("UPDATE endpoints SET active_deployment_id = \(e.toDeploymentID) WHERE name = \(e.endpointID)")
            case .undeployed(let e):
                try await query(
                    """
                    UPDATE deployments SET status = 'undeployed', ended_at = \(at), updated_at = \(at)
                    WHERE endpoint_name = \(e.endpointID) AND status IN ('requested', 'deploying', 'rolling_out', 'active')
                    """)
                try await query("UPDATE endpoints SET active_deployment_id = NULL WHERE name = \(e.endpointID)")
            case .rolloutStepPassed, .rolloutStepHeld:
                break  // progress the deployment and revision rows do not show (a held step is read from the endpoint's fold)
            }
            // Every endpoint event moves the endpoint's version (what serving-router compares) and updated_at.
            if recorded.aggregateType == EndpointDecider.aggregateType {
                try await query("UPDATE endpoints SET version = \(version), updated_at = \(at) WHERE name = \(recorded.aggregateID)")
            }
        }
    }
}
