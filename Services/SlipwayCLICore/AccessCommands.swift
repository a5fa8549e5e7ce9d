import ArgumentParser
import Foundation

/// `slipway whoami`, `slipway tokens`, `slipway users`: who the CLI acts as, personal API tokens, and users (the gateway).
struct WhoAmICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "whoami", abstract: "The user and role the CLI's token acts as.")

    @Option var gateway: String?

    func run() async throws {
        let me = try await APIClient(gateway: gateway).expect(.GET, "/api/me")
        say("\(me["username"] ?? "")\t\(me["role"] ?? "")\ttoken \(me["token_id"] ?? "")")
    }
}

struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens", abstract: "Personal API tokens (your own; an admin's --user for someone else's).",
        subcommands: [List.self, Create.self, Revoke.self])

    struct List: AsyncParsableCommand {
        @Option(help: "Another user's tokens (admins).") var user: String?
        @Option var gateway: String?
        func run() async throws {
            let path = "/api/tokens" + (user.map { "?username=\($0)" } ?? "")
            for token in try await APIClient(gateway: gateway).expect(.GET, path)["tokens"] as? [[String: Any]] ?? [] {
                let state = token["is_active"] as? Bool == true ? "active" : "inactive"
                say(
                    "\(token["id"] ?? "")\t\(token["token_prefix"] ?? "")…\t\(state)\t\(token["username"] ?? "")\t\(token["name"] ?? "")"
                        + "\tlast used \(token["last_used_at"] as? String ?? "never")")
            }
        }
    }

    struct Create: AsyncParsableCommand {
        @Option(help: "What the token is for.") var name: String
        @Option(help: "For another user (admins).") var user: String?
        @Option(help: "When it stops working (ISO-8601).") var expiresAt: String?
        @Option var gateway: String?
        func run() async throws {
            var body: [String: Any] = ["name": name]
            if let user { body["username"] = user }
            if let expiresAt { body["expires_at"] = expiresAt }
            let json = try await APIClient(gateway: gateway).expect(.POST, "/api/tokens", body)
            say("token \((json["token_info"] as? [String: Any])?["id"] ?? "") created; store it now, it is not shown again:")
            say(json["token"] as? String ?? "")
        }
    }

    struct Revoke: AsyncParsableCommand {
        @Argument(help: "Token id.") var id: String
        @Option var reason: String?
        @Option var gateway: String?
        func run() async throws {
            _ = try await APIClient(gateway: gateway).expect(.DELETE, "/api/tokens/\(id)", ["reason": reason ?? ""])
            say("token \(id) revoked")
        }
    }
}

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Users of the API and their roles: viewer, editor, admin (admins).",
        subcommands: [List.self, Create.self, SetRole.self, SetPassword.self, Disable.self])

    struct List: AsyncParsableCommand {
        @Option var gateway: String?
        func run() async throws {
            for user in try await APIClient(gateway: gateway).expect(.GET, "/api/users")["users"] as? [[String: Any]] ?? [] {
                let state = user["disabled"] as? Bool == true ? "disabled" : "active"
                say("\(user["username"] ?? "")\t\(user["role"] ?? "")\t\(state)\tcreated by \(user["created_by"] ?? "")")
            }
        }
    }

    struct Create: AsyncParsableCommand {
        @Argument(help: "Username: lowercase letters, digits, '.', '_', '-'.") var username: String
        @Option(help: "viewer, editor or admin.") var role: String
        @Option var displayName: String?
        @Option var gateway: String?
        func run() async throws {
            var body: [String: Any] = ["username": username, "role": role]
            if let displayName { body["display_name"] = displayName }
            _ = try await APIClient(gateway: gateway).expect(.POST, "/api/users", body)
            say("user \(username) created (\(role)); give them a token: slipway tokens create --user \(username) --name …")
        }
    }

    struct SetRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-role")
        @Argument var username: String
        @Option(help: "viewer, editor or admin.") var role: String
        @Option var gateway: String?
        func run() async throws {
            _ = try await APIClient(gateway: gateway).expect(.PATCH, "/api/users/\(username)", ["role": role])
            say("\(username) is \(role)")
        }
    }

    /// The password is read from standard input (one line), never from the command line, where `ps` and the shell's
    /// history would show it.
    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password", abstract: "Set a user's password for browser logins (admins; your own with --current).")
        @Argument var username: String
        @Flag(help: "Your own password: reads the current one first (a line before the new one), if you have one.") var current = false
        @Option var gateway: String?
        func run() async throws {
            let interactive = isatty(STDIN_FILENO) == 1
            func line(_ prompt: String) throws -> String {
                if interactive, let typed = getpass(prompt) { return String(cString: typed) }
                guard let read = readLine(strippingNewline: true) else { throw ValidationErrorMessage("expected a password on standard input") }
                return read
            }
            let client = try APIClient(gateway: gateway)
            if current {
                let me = try await client.expect(.GET, "/api/me")["username"] as? String
                guard me == username else { throw ValidationErrorMessage("--current sets your own password; the CLI acts as \(me ?? "nobody")") }
                let existing = try line("Current password (empty if none): ")
                let new = try line("New password: ")
                var body: [String: Any] = ["password": new]
                if !existing.isEmpty { body["current_password"] = existing }
                _ = try await client.expect(.PUT, "/api/me/password", body)
            } else {
                _ = try await client.expect(.PUT, "/api/users/\(username)/password", ["password": try line("Password for \(username): ")])
            }
            say("\(username) can log in from a browser")
        }
    }

    struct Disable: AsyncParsableCommand {
        @Argument var username: String
        @Option var reason: String?
        @Option var gateway: String?
        func run() async throws {
            _ = try await APIClient(gateway: gateway).expect(.POST, "/api/users/\(username)/disable", ["reason": reason ?? ""])
            say("\(username) disabled; their tokens no longer work")
        }
    }
}
