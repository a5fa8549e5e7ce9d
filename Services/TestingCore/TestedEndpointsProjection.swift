import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// The endpoints testing-svc can test, from deploy-svc's events: each endpoint's model and the deployment that
/// serves it now (activated, rolled back to, or none after an undeploy), with the bundle that deployment serves —
/// where a test finds the training data to sample.
///
/// Its reaction: a deployment that has just been activated gets a smoke test through serving-router (`smoke-<id>`,
/// started once, run by the check runner); an activation older than `smokeWindow` (history being caught up) gets none.
public struct TestedEndpointsProjection: Projection {
    public let name = "tested_endpoints"
    let smokeTests: EndpointTests?
    let now: @Sendable () -> Date

    /// Without `smokeTests` (a replay), the projection only keeps its tables.
    init(smokeTests: EndpointTests? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        self.smokeTests = smokeTests
        self.now = now
    }

    public init() { self.init(smokeTests: nil) }

    static let smokeWindow: TimeInterval = 600

    public var migrations: [Migration] {
        [
            Migration(
                1, "endpoints and their serving deployment",
                [
                    """
                    CREATE TABLE tested_endpoints (name text PRIMARY KEY, endpoint_id text NOT NULL UNIQUE, model_name text NOT NULL,
                        deleted boolean NOT NULL DEFAULT false, serving_deployment_id text, created_at timestamptz NOT NULL)
                    """,
                    """
                    CREATE TABLE tested_deployments (deployment_id text PRIMARY KEY, endpoint_id text NOT NULL, model_version_id text NOT NULL,
                        version_number integer NOT NULL, artifact_uri text NOT NULL, source_run_id text NOT NULL)
                    """,
                ])
        ]
    }

    public func apply(_ events: [Recorded<DeployEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        var activated: [TestedEndpoint] = []
        for recorded in events {
            func serving(_ endpointID: String, _ deploymentID: String?) async throws {
                try await connection.query(
                    "UPDATE tested_endpoints SET serving_deployment_id = \(deploymentID) WHERE endpoint_id = \(endpointID)", logger: logger)
            }
            switch recorded.event {
            case .endpointCreated(let e):
                try await connection.query(
                    """
                    INSERT INTO tested_endpoints (name, endpoint_id, model_name, created_at)
                    VALUES (\(e.name), \(e.endpointID), \(e.modelName.isEmpty ? e.registeredModelID : e.modelName), \(recorded.occurredAt))
                    ON CONFLICT (name) DO UPDATE SET endpoint_id = EXCLUDED.endpoint_id, model_name = EXCLUDED.model_name, deleted = false,
                        serving_deployment_id = NULL, created_at = EXCLUDED.created_at
                    """, logger: logger)
            case .endpointDeleted(let e):
                try await connection.query(
                    "UPDATE tested_endpoints SET deleted = true, serving_deployment_id = NULL WHERE endpoint_id = \(e.endpointID)", logger: logger)
            case .deploymentRequested(let e):
                try await connection.query(
                    """
                    INSERT INTO tested_deployments (deployment_id, endpoint_id, model_version_id, version_number, artifact_uri, source_run_id)
                    VALUES (\(e.deploymentID), \(e.endpointID), \(e.modelVersionID), \(Int(e.versionNumber)), \(e.artifactUri), \(e.sourceRunID))
                    ON CONFLICT (deployment_id) DO NOTHING
                    """, logger: logger)
            case .deploymentActivated(let e):
                try await serving(e.endpointID, e.deploymentID)
                if smokeTests != nil, now().timeIntervalSince(recorded.occurredAt) < Self.smokeWindow,
                    let endpoint = try await Self.deployment(e.deploymentID, on: connection, logger: logger)
                {
                    activated.append(endpoint)
                }
            case .rolledBack(let e):
                try await serving(e.endpointID, e.toDeploymentID)
            case .undeployed(let e):
                try await serving(e.endpointID, nil)
            case .endpointUpdated, .revisionStarted, .revisionReady, .revisionScaled, .revisionFailed, .revisionStopped, .trafficShifted,
                .rolloutStepStarted,
                .rolloutStepPassed, .rolloutGateFailed, .rolloutStepHeld, .deploymentFailed, .apiKeyCreated, .apiKeyRevoked, .apiKeyUsed:
                break  // a test needs only which version serves, and from which bundle
            }
        }
        guard let smokeTests, !activated.isEmpty, try await connection.isLiveSchema(logger: logger) else { return }
        for endpoint in activated {
            let options = EndpointTests.Options(
                sampleCount: smokeTests.settings.smokeTestSamples, timeoutSeconds: 30, batchSize: 1, topK: 10, seed: EndpointTests.defaultSeed)
            do {
                _ = try await smokeTests.start(
                    endpoint, options: options, id: "smoke-\(endpoint.deploymentID)", trigger: .deployment,
                    metadata: CommandMetadata(causationID: "deployment-activated", actor: "smoke-tests"))
                smokeTests.wake()
            } catch let rejected as CommandRejected where rejected.kind == .conflict {
                continue  // started already (a redelivery, or another replica)
            }
        }
    }

    /// The deployment as this transaction sees it (its request may be in the same batch, not yet committed).
    static func deployment(_ id: String, on connection: PostgresConnection, logger: Logger) async throws -> TestedEndpoint? {
        let rows = try await connection.query(
            """
            SELECT e.name, e.endpoint_id, e.model_name, d.model_version_id, d.version_number, d.artifact_uri
            FROM tested_deployments d JOIN tested_endpoints e ON e.endpoint_id = d.endpoint_id WHERE d.deployment_id = \(id)
            """, logger: logger)
        for try await (name, endpointID, model, version, number, artifact) in rows.decode((String, String, String, String, Int, String).self) {
            return TestedEndpoint(
                name: name, endpointID: endpointID, modelName: model, deploymentID: id, modelVersionID: version, versionNumber: number,
                artifactURI: artifact)
        }
        return nil
    }
}

/// An endpoint as a test sees it: the version serving it now and its bundle.
public struct TestedEndpoint: Sendable, Equatable {
    public var name: String
    public var endpointID: String
    public var modelName: String
    public var deploymentID: String
    public var modelVersionID: String
    public var versionNumber: Int
    public var artifactURI: String

    public init(
        name: String, endpointID: String, modelName: String, deploymentID: String, modelVersionID: String, versionNumber: Int, artifactURI: String
    ) {
        self.name = name
        self.endpointID = endpointID
        self.modelName = modelName
        self.deploymentID = deploymentID
        self.modelVersionID = modelVersionID
        self.versionNumber = versionNumber
        self.artifactURI = artifactURI
    }
}
