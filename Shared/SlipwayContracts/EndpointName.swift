import Foundation

/// Endpoint names are DNS labels (the spec's Cloud Run service-name rules), so the same name works as a
/// URL segment, a Kubernetes Service name and a process label. Part of the contract: training runs name
/// the endpoint they auto-deploy to (`DeploymentConfig.endpoint_name`), deploy-svc creates it.
public enum EndpointName {
    /// Nil when `name` is valid, otherwise the rule it breaks.
    public static func problem(_ name: String) -> String? {
        guard (1...63).contains(name.count) else { return "must be 1 to 63 characters" }
        guard name.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }) else {
            return "may contain only lowercase letters, digits and hyphens"
        }
        guard let first = name.first, ("a"..."z").contains(first) else { return "must start with a lowercase letter" }
        guard let last = name.last, last != "-" else { return "must end with a letter or digit" }
        return nil
    }

    /// The name the deploy dialog suggests for a model: `<model>-serving`, made valid.
    public static func suggested(forModel model: String) -> String {
        var name = model.lowercased().map { ("a"..."z").contains($0) || ("0"..."9").contains($0) ? $0 : "-" }
            .reduce(into: "") { result, character in
                if !(character == "-" && result.last == "-") { result.append(character) }
            }
        while let first = name.first, !("a"..."z").contains(first) { name.removeFirst() }
        if name.isEmpty { name = "model" }
        name = String(name.prefix(55))
        while name.last == "-" { name.removeLast() }
        return name + "-serving"
    }
}
