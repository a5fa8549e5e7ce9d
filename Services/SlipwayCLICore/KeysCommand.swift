import ArgumentParser
import Foundation

/// `slipway keys`: API keys of a registered model (deploy-svc).
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "API keys for the prediction endpoints of a registered model.",
        subcommands: [List.self, Create.self, Revoke.self])

    struct List: AsyncParsableCommand {
        @Argument(help: "Registered model name.") var model: String
        @Option var gateway: String?
        func run() async throws {
            let json = try await APIClient(gateway: gateway).expect(.GET, "/api/models/\(model)/api-keys")
            for key in json["api_keys"] as? [[String: Any]] ?? [] {
                let state = key["is_active"] as? Bool == true ? "active" : "revoked"
                say("\(key["id"] ?? "")\t\(key["key_prefix"] ?? "")…\t\(state)\t\(key["name"] ?? "")\tlast used \(key["last_used_at"] ?? "never")")
            }
        }
    }

    struct Create: AsyncParsableCommand {
        @Argument(help: "Registered model name.") var model: String
        @Option(help: "What the key is for.") var name: String
        @Option var gateway: String?
        func run() async throws {
            let json = try await APIClient(gateway: gateway).expect(.POST, "/api/models/\(model)/api-keys", ["name": name])
            say("key \((json["api_key"] as? [String: Any])?["id"] ?? "") created; store it now, it is not shown again:")
            say(json["key"] as? String ?? "")
        }
    }

    struct Revoke: AsyncParsableCommand {
        @Argument(help: "API key id.") var id: String
        @Option var reason: String?
        @Option var gateway: String?
        func run() async throws {
            _ = try await APIClient(gateway: gateway).expect(.DELETE, "/api/api-keys/\(id)", ["reason": reason ?? ""])
            say("key \(id) revoked")
        }
    }
}
