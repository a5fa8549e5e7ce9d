/// Which service owns which `/api/...` path (every rule has routes behind it; the gateway's own `/api/me`,
/// `/api/users` and `/api/tokens` are served before the table is asked). Rules are tried in order; `*` matches one segment,
/// a trailing `**` any rest. Specific rules come before the general ones of the same prefix.
public struct RouteTable: Sendable {
    public struct Rule: Sendable {
        public let pattern: [String]
        public let service: String

        public init(_ pattern: String, _ service: String) {
            self.pattern = pattern.split(separator: "/").map(String.init)
            self.service = service
        }

        func matches(_ segments: ArraySlice<String>) -> Bool {
            var index = segments.startIndex
            for (offset, part) in pattern.enumerated() {
                if part == "**" { return offset == pattern.count - 1 }
                guard index < segments.endIndex, part == "*" || part == segments[index] else { return false }
                index += 1
            }
            return index == segments.endIndex
        }
    }

    public let rules: [Rule]

    public init(rules: [Rule]) { self.rules = rules }

    /// The service owning `path` (which starts with `/api/`), or nil.
    public func service(for path: String) -> String? {
        ruleIndex(for: path).map { rules[$0].service }
    }

    /// Which rule forwards `path`: the first that matches.
    public func ruleIndex(for path: String) -> Int? {
        let segments = path.split(separator: "/").map(String.init)
        guard segments.first == "api" else { return nil }
        let rest = segments.dropFirst()
        return rules.firstIndex { $0.matches(rest) }
    }

    /// The spec's API paths, mapped onto Slipway's services.
    public static let standard = RouteTable(rules: [
        // Schedules live under the training prefix in the spec's API.
        Rule("training/schedules/**", "schedule"),
        // Deployment verbs nested under models and registered models belong to deploy-svc.
        Rule("models/*/deployments/**", "deploy"),
        Rule("models/*/api-keys/**", "deploy"),
        Rule("models/*/undeploy/**", "deploy"),
        Rule("models/*/endpoints/**", "deploy"),
        Rule("registered-models/*/endpoints/**", "deploy"),
        Rule("deployments/*/metrics/**", "metrics"),
        Rule("deployed-endpoints/*/test/**", "testing"),
        Rule("deployed-endpoints/*/load-test/**", "testing"),
        Rule("deployed-endpoints/*/examples", "testing"),
        Rule("deployments/**", "deploy"),
        Rule("endpoints/**", "deploy"),
        Rule("api-keys/**", "deploy"),
        // The spec's deployment API as written (models, versions, endpoints, deploy, rollback, history, validate, query).
        Rule("v1/deployment/**", "deploy"),
        // Deploying a run's registered version is a deploy-svc command.
        Rule("training-runs/*/deploy/**", "deploy"),
        Rule("training-runs/*/deploy-cloud-run/**", "deploy"),
        // Pushing a run to the registry is a registry command, and its registered version a registry answer,
        // though both sit under the run's path.
        Rule("training-runs/*/push/**", "registry"),
        Rule("training-runs/*/registered-version", "registry"),
        // Training: datasets, configs, runs (including their webhooks).
        Rule("models/*/training-runs/**", "training"),
        Rule("training-runs/**", "training"),
        Rule("datasets/**", "training"),
        Rule("feature-configs/**", "training"),
        Rule("model-configs/**", "training"),
        // Registry.
        Rule("registered-models/**", "registry"),
        // Testing.
        Rule("endpoint-tests/**", "testing"),
        Rule("load-tests/**", "testing"),
        // Metrics: serving metrics, alerts, drift, feedback.
        Rule("v1/monitoring/**", "metrics"),
        Rule("v1/feedback/**", "metrics"),
    ])
}
