import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import Synchronization

/// Revisions as Kubernetes objects in one namespace: a Deployment of model-server pods (the image given, the bundle read
/// from the artifacts volume at the path its URI names, probes on `/health`, the preset's memory and cpu as requests and
/// limits, `max(1, min_instances)` replicas), a Service in front of them, and — when `max_instances` is larger — a
/// HorizontalPodAutoscaler on cpu between the two. A revision's address is its Service; Kubernetes balances its pods,
/// the HPA scales them (deploy-svc's own autoscaler and scale to zero are the local target's; an HPA does not go to
/// zero). It is ready when the Deployment reports an available replica, adopted by name after a deploy-svc restart, and
/// deleted (all three objects) when it stops. It reaches the API server through `KubernetesAPI`.
public final class KubernetesServingTarget: ServingTarget {
    public struct Settings: Sendable, Equatable {
        public var connection: KubernetesAPI.Connection
        public var image: String
        /// The model-server executable in the image.
        public var command: String
        /// The PersistentVolumeClaim holding the bundles, mounted read-only at `artifactsPath` (where artifact URIs point).
        public var artifactsClaim: String
        public var artifactsPath: String

        public init(
            connection: KubernetesAPI.Connection, image: String, command: String = "/usr/local/bin/model-server", artifactsClaim: String,
            artifactsPath: String
        ) {
            self.connection = connection
            self.image = image
            self.command = command
            self.artifactsClaim = artifactsClaim
            self.artifactsPath = artifactsPath
        }
    }

    static let port = 8080
    static let managedBy = "slipway-deploy-svc"

    let settings: Settings
    let readinessTimeout: Duration
    let api: KubernetesAPI
    let logger: Logger
    /// Whether a revision's Deployment existed, and when that was read: the controller asks every tick, the API is asked
    /// at most every `existenceTTL`.
    private let existence = Mutex<[String: (exists: Bool, at: ContinuousClock.Instant)]>([:])
    static let existenceTTL = Duration.seconds(5)

    public init(settings: Settings, readinessTimeout: Duration, httpClient: HTTPClient, logger: Logger) {
        self.settings = settings
        self.readinessTimeout = readinessTimeout
        self.api = KubernetesAPI(settings.connection, httpClient: httpClient)
        self.logger = logger
    }

    // MARK: - ServingTarget

    public func start(_ revision: RevisionSpec, instance: Int) async throws -> (address: String, startupMs: Int64) {
        guard instance == 0 else {
            throw RevisionStartError(
                message: "the kubernetes target scales a revision with its HorizontalPodAutoscaler, not by instance", logTail: "")
        }
        let clock = ContinuousClock()
        let began = clock.now
        let name = Self.objectName(revision.revisionID)
        let existing = try await api.call(.GET, api.path("apps/v1", "deployments", name))
        if existing.status == 404 {
            for (group, resource, object) in try objects(revision) {
                let created = try await api.call(.POST, api.path(group, resource), body: object)
                guard created.status == 201 || created.status == 409 else {
                    throw RevisionStartError(message: "creating the \(resource) \(name): \(created.message)", logTail: "")
                }
            }
            logger.info("created revision objects", metadata: [LogKey.revisionID: "\(revision.revisionID)", LogKey.kubernetesName: "\(name)"])
        } else if existing.status == 200 {
            logger.info("adopted a revision's Deployment", metadata: [LogKey.revisionID: "\(revision.revisionID)", LogKey.kubernetesName: "\(name)"])
        } else {
            throw RevisionStartError(message: "reading the Deployment \(name): \(existing.message)", logTail: "")
        }
        existence.withLock { $0[revision.revisionID] = nil }
        let deadline = clock.now.advanced(by: readinessTimeout)
        var last = existing
        while clock.now < deadline {
            last = try await api.call(.GET, api.path("apps/v1", "deployments", name))
            if last.status == 200, (last.objectStatus["availableReplicas"] as? Int ?? 0) >= 1 {
                let elapsed = clock.now - began
                let adopted = existing.status == 200
                return (address(name), adopted ? 0 : elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        let conditions = (last.objectStatus["conditions"] as? [[String: Any]] ?? []).map {
            "\($0["type"] ?? ""): \($0["message"] ?? "")"
        }
        throw RevisionStartError(
            message: "the Deployment \(name) had no available replica within \(readinessTimeout)", logTail: conditions.joined(separator: "\n"))
    }

    /// Its Deployment exists: Kubernetes restarts its pods itself.
    public func isRunning(_ revisionID: String, instance: Int) async -> Bool {
        guard instance == 0 else { return false }
        let now = ContinuousClock.now
        if let known = existence.withLock({ $0[revisionID] }), now - known.at < Self.existenceTTL { return known.exists }
        // An API that does not answer is no reason to create the revision again.
        guard let answer = try? await api.call(.GET, api.path("apps/v1", "deployments", Self.objectName(revisionID))) else { return true }
        existence.withLock { $0[revisionID] = (answer.status == 200, now) }
        return answer.status == 200
    }

    public func runningInstances(_ revisionID: String) async -> [Int] {
        await isRunning(revisionID, instance: 0) ? [0] : []
    }

    public func stop(_ revisionID: String, instance: Int) async {
        if instance == 0 { await stop(revisionID) }
    }

    public func stop(_ revisionID: String) async {
        existence.withLock { $0[revisionID] = nil }
        let name = Self.objectName(revisionID)
        for (group, resource) in [("autoscaling/v2", "horizontalpodautoscalers"), ("apps/v1", "deployments"), ("v1", "services")] {
            do {
                let answer = try await api.delete(group, resource, name)
                if answer.status != 200, answer.status != 202, answer.status != 404 {
                    logger.warning(
                        "could not delete a revision object",
                        metadata: [LogKey.kubernetesName: "\(resource)/\(name)", LogKey.error: "\(answer.message)"])
                }
            } catch {
                logger.warning(
                    "could not delete a revision object", metadata: [LogKey.kubernetesName: "\(resource)/\(name)", LogKey.error: "\(error)"])
            }
        }
        logger.info("deleted revision objects", metadata: [LogKey.revisionID: "\(revisionID)"])
    }

    /// Every revision this deploy-svc made in the namespace (by label).
    public func stopAll() async {
        guard let answer = try? await api.call(.GET, api.path("apps/v1", "deployments", labels: ["app.kubernetes.io/managed-by": Self.managedBy])),
            answer.status == 200
        else { return }
        let revisions = answer.items.compactMap {
            (($0["metadata"] as? [String: Any])?["labels"] as? [String: String])?["slipway.io/revision"]
        }
        await withDiscardingTaskGroup { group in
            for revision in revisions { group.addTask { await self.stop(revision) } }
        }
    }

    // MARK: - Objects

    /// A revision's Kubernetes name: `rev-<revision id>`.
    static func objectName(_ revisionID: String) -> String { KubernetesAPI.objectName("rev-", revisionID) }

    /// A label value (at most 63 characters).
    static func labelValue(_ text: String) -> String { text.count <= 63 ? text : objectName(text) }

    func address(_ name: String) -> String { "http://\(name).\(api.namespace).svc:\(Self.port)" }

    /// The Service, the Deployment and (when it may scale) the HPA, as the API takes them.
    func objects(_ revision: RevisionSpec) throws -> [(group: String, resource: String, object: [String: Any])] {
        let name = Self.objectName(revision.revisionID)
        let labels: [String: String] = [
            "app.kubernetes.io/name": "model-server", "app.kubernetes.io/managed-by": Self.managedBy,
            "slipway.io/endpoint": Self.labelValue(revision.endpoint), "slipway.io/revision": Self.labelValue(revision.revisionID),
        ]
        let selector = ["slipway.io/revision": Self.labelValue(revision.revisionID)]
        let metadata: [String: Any] = ["name": name, "namespace": api.namespace, "labels": labels]
        let bundle = revision.artifactURI.hasPrefix("file://") ? String(revision.artifactURI.dropFirst(7)) : revision.artifactURI
        guard bundle.hasPrefix(settings.artifactsPath) else {
            throw RevisionStartError(
                message: "the bundle \(bundle) is not under the artifacts volume's path \(settings.artifactsPath), where model-server pods read it",
                logTail: "")
        }
        let resources = revision.resources
        let minimum = max(1, Int(resources.minInstances))
        let maximum = max(minimum, Int(resources.maxInstances))
        var quantities: [String: String] = [:]
        if !resources.cpu.isEmpty { quantities["cpu"] = resources.cpu }
        if !resources.memory.isEmpty { quantities["memory"] = resources.memory }
        let probe: [String: Any] = ["httpGet": ["path": "/health", "port": Self.port]]
        let container: [String: Any] = [
            "name": "model-server", "image": settings.image, "command": [settings.command],
            "args": [
                "--bundle", bundle, "--name", revision.modelName, "--version", "\(revision.versionNumber)", "--host", "0.0.0.0", "--port",
                "\(Self.port)",
            ],
            "ports": [["name": "http", "containerPort": Self.port]],
            "readinessProbe": probe.merging(["periodSeconds": 2]) { first, _ in first },
            "livenessProbe": probe.merging(["initialDelaySeconds": 10, "periodSeconds": 10]) { first, _ in first },
            "resources": ["requests": quantities, "limits": quantities],
            "volumeMounts": [["name": "artifacts", "mountPath": settings.artifactsPath, "readOnly": true]],
            "securityContext": ["allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": ["drop": ["ALL"]]]
                as [String: Any],
        ]
        let deployment: [String: Any] = [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
            "spec": [
                "replicas": minimum, "selector": ["matchLabels": selector],
                "template": [
                    // Internal: the namespace's NetworkPolicy lets only its own pods reach them.
                    "metadata": ["labels": labels.merging(["slipway.io/exposure": "internal"]) { first, _ in first }],
                    "spec": [
                        "securityContext": [
                            "runAsNonRoot": true, "runAsUser": 10001, "runAsGroup": 10001, "seccompProfile": ["type": "RuntimeDefault"],
                        ] as [String: Any],
                        "containers": [container],
                        "volumes": [["name": "artifacts", "persistentVolumeClaim": ["claimName": settings.artifactsClaim, "readOnly": true]]],
                    ] as [String: Any],
                ] as [String: Any],
            ] as [String: Any],
        ]
        let service: [String: Any] = [
            "apiVersion": "v1", "kind": "Service", "metadata": metadata,
            "spec": ["selector": selector, "ports": [["name": "http", "port": Self.port, "targetPort": Self.port]]] as [String: Any],
        ]
        var objects: [(String, String, [String: Any])] = [("v1", "services", service), ("apps/v1", "deployments", deployment)]
        if maximum > minimum {
            let autoscaler: [String: Any] = [
                "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": metadata,
                "spec": [
                    "scaleTargetRef": ["apiVersion": "apps/v1", "kind": "Deployment", "name": name], "minReplicas": minimum,
                    "maxReplicas": maximum,
                    "metrics": [["type": "Resource", "resource": ["name": "cpu", "target": ["type": "Utilization", "averageUtilization": 70]]]],
                ] as [String: Any],
            ]
            objects.append(("autoscaling/v2", "horizontalpodautoscalers", autoscaler))
        }
        return objects
    }
}
