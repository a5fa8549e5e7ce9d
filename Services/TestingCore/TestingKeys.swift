import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayEventSourcing
import SlipwayPlatform

/// testing-svc's own API key per registered model, so a test goes through serving-router as any client does.
/// Each is made through deploy-svc's API (named `slipway-testing`, listed and revocable like any key); the key
/// itself is kept in a file readable by the owner only (`--key-dir`), never in an event or an answer. A key that
/// is no longer active (revoked, expired) is replaced by a new one.
///
/// A new key is used only once serving-router lists it (its admin `GET /internal/routing`): a request with a key the
/// router has not learned yet is a 401 it logs as a client's, which would count as a client error in the endpoint's
/// serving figures.
actor TestingKeys {
    let directory: URL
    let environment: ServiceEnvironment
    /// serving-router's admin address.
    let routerAdminURL: String

    static let keyName = "slipway-testing"
    /// How long a new key may take to reach the router (deploy-svc's event, the router's projector).
    static let routerLearnsWithin: Duration = .seconds(10)

    init(settings: TestingSettings, environment: ServiceEnvironment) {
        self.directory = settings.keyDirectory
        self.environment = environment
        self.routerAdminURL = settings.routerAdminURL
    }

    /// The model's key: the kept one while deploy-svc says it is active, else a new one.
    func key(model: String) async throws -> String {
        let file = directory.appendingPathComponent(Self.fileName(model))
        if let text = try? String(contentsOf: file, encoding: .utf8) {
            let parts = text.split(separator: "\n").map(String.init)
            if parts.count == 2, try await isActive(id: parts[0]) { return parts[1] }
        }
        let (id, key) = try await create(model: model)
        await waitUntilRouterKnows(id)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = file.appendingPathExtension("new")
        guard FileManager.default.createFile(atPath: temporary.path, contents: Data("\(id)\n\(key)".utf8), attributes: [.posixPermissions: 0o600])
        else { throw APIError(.internalServerError, code: "key_store", message: "cannot write \(temporary.path)") }
        // rename(2) replaces a kept key at once, so a test running beside this one reads the old key or the new.
        guard rename(temporary.path, file.path) == 0 else {
            throw APIError(.internalServerError, code: "key_store", message: "cannot write \(file.path) (errno \(errno))")
        }
        return key
    }

    /// A file name for any model name (they are path-safe already; this keeps it so whatever they become).
    static func fileName(_ model: String) -> String {
        model.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" ? String($0) : "_" }.joined() + ".key"
    }

    private func isActive(id: String) async throws -> Bool {
        let (status, body) = try await call(.GET, "/api/api-keys/\(id)", body: nil)
        guard status == 200 else { return false }
        return (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?["is_active"] as? Bool ?? false
    }

    private func create(model: String) async throws -> (id: String, key: String) {
        let (status, body) = try await call(
            .POST, "/api/models/\(model)/api-keys", body: Array(#"{"name": "\#(Self.keyName)", "purpose": "testing"}"#.utf8))
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        guard status == 201, let key = object["key"] as? String, let id = (object["api_key"] as? [String: Any])?["id"] as? String else {
            let message = ((object["error"] as? [String: Any])?["message"] as? String) ?? "answered \(status)"
            throw APIError(.badGateway, code: "no_test_key", message: "deploy-svc did not make a test key for model '\(model)': \(message)")
        }
        return (id, key)
    }

    /// Returns once the router's routing table lists the key, or when the router's admin API cannot say (not
    /// reachable) — the test's own retries then cover the gap — or after `routerLearnsWithin`.
    private func waitUntilRouterKnows(_ id: String) async {
        struct Routing: Decodable {
            struct Key: Decodable { let api_key_id: String }
            let api_keys: [Key]
        }
        let deadline = ContinuousClock.now + Self.routerLearnsWithin
        while ContinuousClock.now < deadline {
            do {
                let response = try await environment.httpClient.execute(
                    HTTPClientRequest(url: "\(routerAdminURL)/internal/routing"), timeout: .seconds(2))
                let body = try await response.body.collect(upTo: 64 << 20)
                let routing = try? JSONDecoder().decode(Routing.self, from: Data(buffer: body))
                if response.status == .ok, routing?.api_keys.contains(where: { $0.api_key_id == id }) == true { return }
            } catch {
                return
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        environment.logger.warning("serving-router did not learn testing-svc's new key in time", metadata: [LogKey.aggregateID: "\(id)"])
    }

    private func call(_ method: HTTPMethod, _ path: String, body: [UInt8]?) async throws -> (UInt, [UInt8]) {
        do {
            let answer = try await environment.callPeer("deploy", method, path, json: body, actor: "testing-svc")
            return (answer.status, answer.body)
        } catch let unreachable as PeerUnreachable {
            throw unreachable.unavailable()
        }
    }
}
