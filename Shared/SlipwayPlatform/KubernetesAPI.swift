import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayEventSourcing
import SlipwayStatistics

/// The calls Slipway makes to a Kubernetes API server, in one namespace: deploy-svc's kubernetes serving target and
/// training-svc's kubernetes executor share them.
///
/// It speaks plain HTTP to `url`: in a pod, a `kubectl proxy` sidecar on loopback does the TLS and the service
/// account's credentials (k8s/README.md); `tokenFile`, when given, is sent as a bearer token.
public struct KubernetesAPI: Sendable {
    /// Where the API is and which namespace Slipway's objects live in.
    public struct Connection: Sendable, Equatable {
        public var url: String
        public var namespace: String
        public var tokenFile: String?

        public init(url: String, namespace: String, tokenFile: String? = nil) {
            self.url = url
            while self.url.hasSuffix("/") { self.url.removeLast() }
            self.namespace = namespace
            self.tokenFile = tokenFile
        }

        /// `--kubernetes-api-url` (default `http://127.0.0.1:8001`, a `kubectl proxy` sidecar), `--kubernetes-namespace`
        /// (default the pod's own, else `slipway`), `--kubernetes-token-file`.
        public static func load(reader: ConfigReader) throws -> Connection {
            let podNamespace = try? String(contentsOfFile: "/var/run/secrets/kubernetes.io/serviceaccount/namespace", encoding: .utf8)
            let namespace = reader.string("kubernetes-namespace", default: podNamespace?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "slipway")
            guard namespace.wholeMatch(of: /[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/) != nil else {
                throw ConfigError(key: "kubernetes-namespace", message: "expected a namespace name, got '\(namespace)'")
            }
            let connection = Connection(
                url: reader.string("kubernetes-api-url", default: "http://127.0.0.1:8001"), namespace: namespace,
                tokenFile: reader.string("kubernetes-token-file"))
            guard connection.url.wholeMatch(of: /https?:\/\/[A-Za-z0-9.\-]+(:[0-9]+)?/) != nil else {
                throw ConfigError(key: "kubernetes-api-url", message: "expected http://host:port, got '\(connection.url)'")
            }
            return connection
        }
    }

    public let connection: Connection
    let httpClient: HTTPClient

    public init(_ connection: Connection, httpClient: HTTPClient) {
        self.connection = connection
        self.httpClient = httpClient
    }

    public var namespace: String { connection.namespace }

    /// An API answer: its status code and its JSON body (empty when the body is not a JSON object).
    public struct Answer: Sendable {
        public var status: UInt
        public var body: Data
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        /// The API's `Status.message`, or the status code.
        public var message: String { json["message"] as? String ?? "status \(status)" }
        /// The object's `status` field.
        public var objectStatus: [String: Any] { json["status"] as? [String: Any] ?? [:] }
        /// A list's items.
        public var items: [[String: Any]] { json["items"] as? [[String: Any]] ?? [] }
    }

    /// The path of a namespaced collection (`group` "v1" is the core group) or, with `name`, of one object in it.
    public func path(_ group: String, _ resource: String, _ name: String? = nil) -> String {
        let prefix = group == "v1" ? "/api/v1" : "/apis/\(group)"
        return "\(prefix)/namespaces/\(namespace)/\(resource)" + (name.map { "/\($0)" } ?? "")
    }

    /// A collection's path with a label selector (`key=value` terms).
    public func path(_ group: String, _ resource: String, labels: [String: String]) -> String {
        let selector = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        let query = selector.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~/"))) ?? selector
        return path(group, resource) + "?labelSelector=" + query
    }

    public func call(_ method: HTTPMethod, _ path: String, body: [String: Any]? = nil) async throws -> Answer {
        let response = try await httpClient.execute(try request(method, path, body: body), timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Answer(status: response.status.code, body: Data(bytes.readableBytesView))
    }

    /// Deletes an object; its dependents (a Job's Pods) are deleted in the background. The batch/v1 API's default
    /// would orphan them: a deleted Job's trainer would run on.
    public func delete(_ group: String, _ resource: String, _ name: String) async throws -> Answer {
        try await call(.DELETE, path(group, resource, name), body: ["kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"])
    }

    /// A streamed answer (a followed Pod log): its lines as they come, until the server ends it. Throws `Refused` with
    /// the API's message when it answers with an error instead.
    public func lines(_ path: String) async throws -> AsyncThrowingStream<String, any Error> {
        // A followed log lasts as long as the container runs: no deadline but the caller's cancellation.
        let response = try await httpClient.execute(try request(.GET, path, body: nil), timeout: .hours(24 * 365))
        guard response.status == .ok else {
            let bytes = try await response.body.collect(upTo: 1 << 20)
            throw Refused(status: response.status.code, message: Answer(status: response.status.code, body: Data(bytes.readableBytesView)).message)
        }
        return AsyncThrowingStream { continuation in
            let reader = Task {
                var pending = Data()
                do {
                    for try await buffer in response.body {
                        pending.append(contentsOf: buffer.readableBytesView)
                        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                            continuation.yield(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                            pending.removeSubrange(pending.startIndex...newline)
                        }
                    }
                    if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in reader.cancel() }
        }
    }

    public struct Refused: Error, CustomStringConvertible {
        public var status: UInt
        public var message: String

        public init(status: UInt, message: String) {
            self.status = status
            self.message = message
        }

        public var description: String { "the Kubernetes API answered \(status): \(message)" }
    }

    func request(_ method: HTTPMethod, _ path: String, body: [String: Any]?) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: connection.url + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let tokenFile = connection.tokenFile {
            let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])))
        }
        return request
    }

    /// An object name from `prefix` and an id: lower case, other characters as "-", shortened with a hash of the id past
    /// the 63 characters a Service name or a label value (an RFC 1035 label) may have.
    public static func objectName(_ prefix: String, _ id: String) -> String {
        let name = prefix + id.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
        guard name.count > 63 else { return name }
        return String(name.prefix(54)) + "-" + String(String(StableHash.fnv1a64(id), radix: 16).prefix(8))
    }
}

extension LogKey {
    /// A Kubernetes object's name (`deployments/rev-shop-3-r1`).
    public static let kubernetesName = "k8s.object.name"
}
