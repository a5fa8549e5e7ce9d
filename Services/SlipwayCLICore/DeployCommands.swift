import ArgumentParser
import Foundation

/// `slipway deploy | rollback | traffic | undeploy | endpoints`: deploy-svc through the gateway.
struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy", abstract: "Deploy a registered model version to an endpoint (immediately, or as a gated gradual rollout).",
        discussion: """
            Without --endpoint: the model's only endpoint, or a new one named <model>-serving.
            --rollout 10,50,100 moves traffic in steps of --step-seconds each; every step is gated on the new
            revision's health, and its server-error rate and p99 as metrics-svc counts them once the step has
            served --min-requests (until then it waits; still short after three step lengths, it fails). A failed
            gate rolls back.
            """)

    @Argument(help: "Registered model name.") var model: String
    @Option(help: "Version number to deploy.") var version: Int
    @Option(help: "Endpoint name (lowercase letters, digits, hyphens).") var endpoint: String?
    @Option(help: "Preset for a new endpoint: development, production, high_traffic.") var preset: String?
    @Option(help: "Gradual rollout steps in percent, e.g. 10,50,100.") var rollout: String?
    @Option(help: "Seconds per rollout step.") var stepSeconds: Int?
    @Option(help: "Requests a step needs before its error-rate and latency gates judge (default 20; 0: judge without traffic).")
    var minRequests: Int?
    @Flag(help: "Roll the rollout back at once when an alert fires on the endpoint.") var rollbackOnAlert = false
    @Option(help: "What a step still unjudgeable at its deadline does: fail (default) or hold.") var onInconclusive: String?
    @Flag(help: "The first step waits for testing-svc's endpoint test of the new revision; a failed test rolls back.")
    var endpointTest = false
    @Flag(help: "Deploy even if the version is not blessed or already serving.") var force = false
    @Option(help: "Why (kept in the history).") var reason: String?
    @Flag(help: "Return once the deployment is accepted instead of waiting for its outcome.") var noWait = false
    @Option var gateway: String?

    func run() async throws {
        let client = try APIClient(gateway: gateway)
        var body: [String: Any] = ["version": version, "force": force]
        if let endpoint { body["endpoint"] = endpoint }
        if let preset { body["preset"] = preset }
        if let reason { body["reason"] = reason }
        if let rollout {
            let steps = rollout.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard steps.allSatisfy({ $0 != nil }) else { throw ValidationError("--rollout takes percentages such as 10,50,100") }
            body["strategy"] = "gradual"
            body["steps"] = steps.compactMap { $0 }
        }
        if let stepSeconds { body["step_seconds"] = stepSeconds }
        if let minRequests { body["min_requests"] = minRequests }
        if rollbackOnAlert { body["rollback_on_alert"] = true }
        if let onInconclusive { body["on_inconclusive"] = onInconclusive }
        if endpointTest { body["endpoint_test"] = true }
        let deployment = try await client.deploy(model, body)
        let id = deployment["id"] as? String ?? ""
        let name = deployment["endpoint"] as? String ?? ""
        say("deployment \(id): v\(version) → \(name) (\(deployment["strategy"] ?? "immediate"))")
        if noWait { return }
        let outcome = try await waitForOutcome(client, endpoint: name, deployment: id)
        say(outcome)
    }
}

/// Polls the endpoint until the deployment ends up serving, failed or rolled back; prints each change.
func waitForOutcome(_ client: APIClient, endpoint: String, deployment id: String, timeout: Duration = .seconds(900)) async throws -> String {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    var last = ""
    while ContinuousClock.now < deadline {
        let view = try await client.expect(.GET, "/api/endpoints/\(endpoint)")
        let deployments = view["deployments"] as? [[String: Any]] ?? []
        guard let deployment = deployments.first(where: { $0["id"] as? String == id }) else {
            throw ValidationErrorMessage("deployment \(id) vanished")
        }
        let status = deployment["status"] as? String ?? ""
        let held = (deployment["held_step"] as? Int).map { " (step \($0 + 1) holds: too little to judge it; roll back or wait)" } ?? ""
        let line = "  \(status) \(trafficLine(view))\(held)"
        if line != last { say(line); last = line }
        switch status {
        case "active": return "v\(deployment["version"] ?? "") serves \(view["url"] ?? endpoint)"
        case "failed", "rolled_back", "undeployed":
            throw ValidationErrorMessage("deployment \(id) \(status): \(deployment["error"] as? String ?? "")")
        default: try await Task.sleep(for: .milliseconds(250))
        }
    }
    throw ValidationErrorMessage("deployment \(id) did not finish within \(timeout)")
}

func trafficLine(_ view: [String: Any]) -> String {
    let split = (view["traffic"] as? [[String: Any]] ?? []).map { "v\($0["version"] ?? "?") \($0["percent"] ?? 0)%" }
    return split.isEmpty ? "(no traffic)" : split.joined(separator: ", ")
}

struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback", abstract: "Roll an endpoint back: instant while the earlier version's revision is warm.")
    @Argument(help: "Endpoint name.") var endpoint: String
    @Option(help: "Version to return to (default: the one that served before).") var toVersion: Int?
    @Option(help: "Deployment id to return to.") var toDeployment: String?
    @Option var reason: String?
    @Option var gateway: String?
    func run() async throws {
        var body: [String: Any] = [:]
        if let toVersion { body["to_version"] = toVersion }
        if let toDeployment { body["to_deployment"] = toDeployment }
        if let reason { body["reason"] = reason }
        let client = try APIClient(gateway: gateway)
        let view = try await client.expect(.POST, "/api/endpoints/\(endpoint)/rollback", body)
        if view["instant"] as? Bool == true {
            say("rolled back: \(trafficLine(view))")
        } else {
            say(view["message"] as? String ?? "redeploying")
            say(try await waitForOutcome(client, endpoint: endpoint, deployment: view["id"] as? String ?? ""))
        }
    }
}

struct TrafficCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traffic", abstract: "Split an endpoint's traffic between running versions (A/B), e.g. `traffic shop v1=50 v2=50`.")
    @Argument(help: "Endpoint name.") var endpoint: String
    @Argument(help: "vN=percent or <deployment id>=percent, summing to 100.") var split: [String]
    @Option var gateway: String?
    func run() async throws {
        var traffic: [String: Int] = [:]
        for part in split {
            let pieces = part.split(separator: "=")
            guard pieces.count == 2, let percent = Int(pieces[1]) else { throw ValidationError("'\(part)' is not vN=percent") }
            traffic[String(pieces[0])] = percent
        }
        let view = try await APIClient(gateway: gateway).expect(.POST, "/api/endpoints/\(endpoint)/traffic", ["traffic": traffic])
        say("traffic: \(trafficLine(view))")
    }
}

struct UndeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "undeploy", abstract: "Stop serving an endpoint (its revisions are stopped).")
    @Argument(help: "Endpoint name.") var endpoint: String
    @Option var reason: String?
    @Option var gateway: String?
    func run() async throws {
        _ = try await APIClient(gateway: gateway).expect(.POST, "/api/endpoints/\(endpoint)/undeploy", ["reason": reason ?? ""])
        say("\(endpoint) undeployed")
    }
}

struct EndpointsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoints", abstract: "Serving endpoints and their deployment history.", subcommands: [List.self, Show.self])

    struct List: AsyncParsableCommand {
        @Argument(help: "Registered model name.") var model: String
        @Option var gateway: String?
        func run() async throws {
            let json = try await APIClient(gateway: gateway).expect(.GET, "/api/models/\(model)/endpoints")
            for endpoint in json["endpoints"] as? [[String: Any]] ?? [] {
                say("\(endpoint["name"] ?? "")\t\(endpoint["status"] ?? "")\t\(trafficLine(endpoint))\t\(endpoint["url"] ?? "")")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        @Argument(help: "Endpoint name.") var endpoint: String
        @Option var gateway: String?
        func run() async throws {
            let view = try await APIClient(gateway: gateway).expect(.GET, "/api/endpoints/\(endpoint)")
            say("\(view["name"] ?? "") (model \(view["model_name"] ?? ""), \(view["preset"] ?? "")) \(view["status"] ?? "") — \(view["url"] ?? "")")
            say("traffic: \(trafficLine(view))")
            for deployment in view["deployments"] as? [[String: Any]] ?? [] {
                let revision = deployment["revision"] as? [String: Any]
                say(
                    "  \(deployment["id"] ?? "")\tv\(deployment["version"] ?? "")\t\(deployment["status"] ?? "")\t\(deployment["traffic_percent"] ?? 0)%\t"
                        + "\(deployment["strategy"] ?? "")\trevision \(revision?["status"] ?? "-")\t\(deployment["created_at"] ?? "")\t\(deployment["error"] ?? "")"
                )
            }
        }
    }
}
