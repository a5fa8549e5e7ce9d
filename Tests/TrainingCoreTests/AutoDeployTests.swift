import Foundation
import HTTPTypes
import SlipwayContracts
import SlipwayTestSupport
import Testing

@testable import TrainingCore

/// Auto-deploy across the services: the registry's version and deploy-svc's outcome arrive as events
/// (fed to the projections as their projectors would), the worker moves the run along.
@Suite("auto-deploy", .serialized, .timeLimit(.minutes(2)))
struct AutoDeployTests {
    @Test("a completed run's registered version is deployed, and the run ends deployed")
    func deployed() async throws {
        try await withTraining { training in
            let api = training.api
            let body =
                #"{"name": "ad", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "executor": "external", "deployment_config": {"enabled": true, "service_name": "shop"}}"#
            let created = try await api.post("/api/training-runs", body, expect: .created).json()
            let token = try #require((created["webhook"] as? [String: Any])?["token"] as? String)
            try await api.post(
                "/api/training-runs/ad-1/webhook/completed", #"{"metrics": {"recall_at_100": 0.9}, "artifact_uri": "s3://models/ad-1"}"#,
                headers: [.authorization: "Bearer \(token)"], expect: .ok)
            let completed = try await training.run("ad-1")
            #expect(completed["status"] as? String == "completed" && completed["deployment_status"] as? String == "pending")

            var registered = ModelVersionRegistered()
            registered.modelID = "ad"
            registered.modelName = "ad"
            registered.versionID = "v-1"
            registered.versionNumber = 1
            registered.sourceRunID = "ad-1"
            var registry = EnvelopeBuilder(service: "registry")
            try await training.service.project(
                [try registry.envelope(registered, aggregateType: "RegisteredModel", aggregateID: "ad")], into: "run_registrations")
            try await training.waitForRun("ad-1", "deploying") { $0["status"] as? String == "deploying" }
            let deploying = try await training.run("ad-1")
            #expect((deploying["registered_model"] as? [String: Any])?["version_id"] as? String == "v-1")
            #expect(deploying["deployment_status"] as? String == "deploying")

            var activated = DeploymentActivated()
            activated.endpointName = "shop"
            activated.deploymentID = "shop-1"
            activated.endpointURL = "http://127.0.0.1:8081/shop"
            activated.sourceRunID = "ad-1"
            var deploy = EnvelopeBuilder(service: "deploy")
            try await training.service.project(
                [try deploy.envelope(activated, aggregateType: "Endpoint", aggregateID: "shop")], into: "run_deploy_outcomes")
            try await training.waitForRun("ad-1", "deployed") { $0["status"] as? String == "deployed" }
            let deployed = try await training.run("ad-1")
            #expect(deployed["deployment_status"] as? String == "deployed")
            #expect(deployed["deployed_endpoint_url"] as? String == "http://127.0.0.1:8081/shop")
        }
    }
}
