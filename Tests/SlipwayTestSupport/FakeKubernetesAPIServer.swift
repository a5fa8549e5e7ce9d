import Foundation
import Testing

/// `scripts/fake-kube-apiserver` on a free port: a stand-in Kubernetes API server on loopback that validates every
/// object it is sent against the official Kubernetes 1.30 schemas (kubernetes-validate, from the venv
/// scripts/validate-topology makes), follows the API's semantics for create, get, list and delete, makes Deployments
/// available 0.3 s after they are created, and runs a Job's container command on this machine as its one Pod.
public final class FakeKubernetesAPIServer: Sendable {
    let process: Launched
    public let url: String

    public init() async throws {
        let infrastructure = TestInfrastructure.shared
        let work = URL(fileURLWithPath: infrastructure.workDirectory).appendingPathComponent("kube-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let venv = ProcessInfo.processInfo.environment["SLIPWAY_VALIDATE_VENV"] ?? "/tmp/slipway-validate-venv"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/fake-kube-apiserver")
        let portFile = work.appendingPathComponent("port")
        process = try Launched(
            URL(fileURLWithPath: "\(venv)/bin/python"), [script.path, "--port-file", portFile.path, "--ready-after", "0.3"],
            log: work.appendingPathComponent("apiserver.log"))
        try await process.waitUntil("the fake API server listening") {
            ((try? String(contentsOf: portFile, encoding: .utf8)).flatMap { Int($0) }) != nil
        }
        url = "http://127.0.0.1:\(try String(contentsOf: portFile, encoding: .utf8))"
    }

    public var api: APITestClient { APITestClient(baseURL: url) }

    /// Every request it received: "METHOD path?query".
    public func requests() async throws -> [String] {
        try await api.get("/_requests").jsonArray().compactMap { entry in
            (entry as? [String: String]).map { request in
                let query = request["query"].map { $0.isEmpty ? "" : "?" + $0 } ?? ""
                return "\(request["method"] ?? "") \(request["path"] ?? "")\(query)"
            }
        }
    }
}
