import Foundation
import SlipwayLocalRuntime
import SlipwayPlatform

/// Where the CLI finds the platform: flags, then `SLIPWAY_*` variables, then what `slipway up` recorded
/// in `.slipway/`, then the default ports.
struct Endpoints {
    let paths = SlipwayPaths.default

    func serviceURL(_ service: String, override: String?) throws -> String { try serviceURLs(service, override: override)[0] }

    /// Every replica's URL (`slipway up --replicas`), the first replica's first.
    func serviceURLs(_ service: String, override: String?) throws -> [String] {
        if let override { return [trimmed(override)] }
        if let value = ProcessInfo.processInfo.environment["SLIPWAY_\(service.uppercased())_URL"], !value.isEmpty { return [trimmed(value)] }
        if let state = try? UpState.read(from: paths.stateFile) {
            let name = ServiceDirectory.defaultPorts[service] == nil ? service : "\(service)-svc"
            let urls = state.processes.filter { $0.name == name || $0.name.hasPrefix(name + "-") }.compactMap { entry -> String? in
                guard let readiness = entry.readinessURL, let url = URL(string: readiness), let host = url.host, let port = url.port else {
                    return nil
                }
                return "http://\(host):\(port)"
            }
            if !urls.isEmpty { return urls }
        }
        guard let port = ServiceDirectory.defaultPorts[service] ?? (service == "gateway" ? ServiceDirectory.gatewayPort : nil) else {
            throw ValidationErrorMessage(
                "unknown service '\(service)'; expected one of \(ServiceDirectory.domainServices.map(\.rawValue).joined(separator: ", "))")
        }
        return ["http://127.0.0.1:\(port)"]
    }

    func kafkaBrokers(override: String?) throws -> String {
        if let override { return override }
        if let value = ProcessInfo.processInfo.environment["SLIPWAY_KAFKA_BROKERS"], !value.isEmpty { return value }
        if let recorded = try? String(contentsOf: paths.root.appendingPathComponent("kafka-brokers"), encoding: .utf8) {
            let value = recorded.trimmingCharacters(in: .whitespacesAndNewlines)
            if !value.isEmpty { return value }
        }
        throw ValidationErrorMessage("no Kafka brokers known: start the platform with `slipway up`, or pass --kafka-brokers / SLIPWAY_KAFKA_BROKERS")
    }

    /// The API token: `SLIPWAY_TOKEN`, else the admin token `slipway up` wrote under `.slipway/`; nil when neither.
    func apiToken() -> String? {
        if let value = ProcessInfo.processInfo.environment["SLIPWAY_TOKEN"], !value.isEmpty { return value }
        guard let stored = try? String(contentsOf: paths.adminTokenFile, encoding: .utf8) else { return nil }
        let token = stored.trimmingCharacters(in: .whitespacesAndNewlines)
        return token.isEmpty ? nil : token
    }

    private func trimmed(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }
}

struct ValidationErrorMessage: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
