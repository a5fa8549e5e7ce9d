import Foundation
import SlipwayContracts
import SlipwayPlatform

/// deploy-svc's settings beyond the common ones.
public struct DeploySettings: Sendable {
    /// Public base URL of serving-router (endpoint URLs are `<router>/<endpoint>`).
    public var routerURL: String
    /// Per-revision state and logs of the local target.
    public var servingRoot: URL
    public var modelServer: URL
    /// How long a superseded revision stays warm, so a rollback to it is instant.
    public var rollbackWindowSeconds: Int
    public var readinessTimeoutSeconds: Int
    /// Stop every revision when deploy-svc shuts down (`slipway up` sets it); otherwise they keep serving
    /// and a restarted deploy-svc adopts them.
    public var stopRevisionsOnExit: Bool
    public var controllerInterval: Duration
    /// The address model-servers listen on (`127.0.0.1`; `0.0.0.0` when serving-router runs in another container or pod).
    public var servingBindHost = "127.0.0.1"
    /// The host put in a revision's address, which serving-router and testing-svc connect to (`127.0.0.1`; in
    /// compose deploy-svc's service name, in Kubernetes its pod IP).
    public var servingAdvertiseHost = "127.0.0.1"
    /// Every serving-router's admin URL: the autoscaler reads each one's `GET /internal/load` and adds them up.
    public var routerAdminURLs = ["http://127.0.0.1:8082"]
    /// How revisions scale between their `min_instances` and `max_instances` (and to zero when min is 0).
    public var autoscaler = Autoscaler(targetInFlight: 4, scaleDownDelaySeconds: 30, scaleToZeroAfterSeconds: 900)
    /// The window the autoscaler averages requests in flight over, polling the routers every second.
    public var autoscaleWindowSeconds = 6.0
    /// Where revisions run: `local` (model-server processes of deploy-svc's) or `kubernetes` (`kubernetes`'s objects).
    public var servingTarget: DeployTarget = .local
    public var kubernetes: KubernetesServingTarget.Settings?

    /// `--router-url`, `--serving-root`, `--model-server`, `--rollback-window-seconds`,
    /// `--readiness-timeout-seconds`, `--stop-revisions-on-exit`, `--serving-bind-host`, `--serving-advertise-host`,
    /// `--router-admin-url` (comma-separated, one per serving-router), `--autoscale-target-in-flight`,
    /// `--autoscale-window-seconds`, `--scale-down-delay-seconds`, `--scale-to-zero-after-seconds`; `--serving-target`
    /// (`local` or `kubernetes`) and for `kubernetes`: `--kubernetes-api-url` (default `http://127.0.0.1:8001`, a
    /// `kubectl proxy` sidecar), `--kubernetes-namespace` (default the pod's own, else `slipway`),
    /// `--model-server-image` (required; its pods run `--model-server`), `--artifacts-claim` (default `slipway-artifacts`), `--artifacts-path` (default
    /// `/data/artifacts`), `--kubernetes-token-file`.
    public static func load(reader: ConfigReader) throws -> DeploySettings {
        let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("model-server")
        let window = try reader.int("rollback-window-seconds", default: 1800)
        guard window >= 0 else { throw ConfigError(key: "rollback-window-seconds", message: "must not be negative") }
        let readiness = try reader.int("readiness-timeout-seconds", default: 60)
        guard readiness >= 1 else { throw ConfigError(key: "readiness-timeout-seconds", message: "must be at least 1") }
        let bindHost = try host(reader, "serving-bind-host")
        let advertiseHost = try host(reader, "serving-advertise-host")
        guard advertiseHost != "0.0.0.0" else {
            throw ConfigError(key: "serving-advertise-host", message: "must be an address others can connect to, not \(advertiseHost)")
        }
        var settings = DeploySettings(
            routerURL: reader.string("router-url", default: "http://127.0.0.1:8081"),
            servingRoot: URL(fileURLWithPath: reader.string("serving-root", default: ".slipway/serving")).standardizedFileURL,
            modelServer: URL(fileURLWithPath: reader.string("model-server", default: sibling.path)),
            rollbackWindowSeconds: window, readinessTimeoutSeconds: readiness,
            stopRevisionsOnExit: ["1", "true", "yes"].contains(reader.string("stop-revisions-on-exit", default: "false").lowercased()),
            controllerInterval: .milliseconds(200), servingBindHost: bindHost, servingAdvertiseHost: advertiseHost)
        let admins = reader.string("router-admin-url", default: "http://127.0.0.1:8082").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        for url in admins where url.wholeMatch(of: /https?:\/\/[A-Za-z0-9.\-]+(:[0-9]+)?\/?/) == nil {
            throw ConfigError(key: "router-admin-url", message: "expected http://host:port (comma-separated for several routers), got '\(url)'")
        }
        guard !admins.isEmpty else { throw ConfigError(key: "router-admin-url", message: "expected at least one URL") }
        settings.routerAdminURLs = admins.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        settings.autoscaler.targetInFlight = try positiveNumber(reader, "autoscale-target-in-flight", settings.autoscaler.targetInFlight)
        settings.autoscaleWindowSeconds = try positiveNumber(reader, "autoscale-window-seconds", settings.autoscaleWindowSeconds)
        settings.autoscaler.scaleDownDelaySeconds = try positiveNumber(
            reader, "scale-down-delay-seconds", settings.autoscaler.scaleDownDelaySeconds)
        settings.autoscaler.scaleToZeroAfterSeconds = try positiveNumber(
            reader, "scale-to-zero-after-seconds", settings.autoscaler.scaleToZeroAfterSeconds)
        switch reader.string("serving-target", default: "local") {
        case "local": settings.servingTarget = .local
        case "kubernetes":
            settings.servingTarget = .kubernetes
            guard let image = reader.string("model-server-image"), !image.isEmpty else {
                throw ConfigError(key: "model-server-image", message: "the kubernetes target needs the model-server image its pods run")
            }
            settings.kubernetes = KubernetesServingTarget.Settings(
                connection: try KubernetesAPI.Connection.load(reader: reader), image: image, command: settings.modelServer.path,
                artifactsClaim: reader.string("artifacts-claim", default: "slipway-artifacts"),
                artifactsPath: reader.string("artifacts-path", default: "/data/artifacts"))
        case let other:
            throw ConfigError(key: "serving-target", message: "expected local or kubernetes, got '\(other)'")
        }
        return settings
    }

    static func positiveNumber(_ reader: ConfigReader, _ key: String, _ fallback: Double) throws -> Double {
        let text = reader.string(key, default: "\(fallback)")
        guard let value = Double(text), value > 0, value.isFinite else {
            throw ConfigError(key: key, message: "expected a number greater than 0, got '\(text)'")
        }
        return value
    }

    /// A host name or IPv4 address (no scheme, port or path); default 127.0.0.1.
    static func host(_ reader: ConfigReader, _ key: String) throws -> String {
        let host = reader.string(key, default: "127.0.0.1")
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: ".-"))
        guard !host.isEmpty, host.unicodeScalars.allSatisfy(allowed.contains) else {
            throw ConfigError(key: key, message: "expected a host name or address, got '\(host)'")
        }
        return host
    }

    /// An endpoint's public URL.
    public func endpointURL(_ endpoint: String) -> String { "\(routerURL)/\(endpoint)" }
}
