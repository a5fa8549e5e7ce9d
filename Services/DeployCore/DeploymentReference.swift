import SlipwayContracts

/// A deployment as a request names it: by id, or `vN` for the newest deployment of version N on the
/// endpoint. `field` is the request field that named it, for a rejection to name.
public struct DeploymentReference: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case id(String)
        case newestOfVersion(Int32)
    }

    public var kind: Kind
    /// As the request spelled it.
    public var text: String
    public var field: String

    /// `vN` or a deployment id.
    public init(_ text: String, field: String) {
        if text.hasPrefix("v"), let number = Int32(text.dropFirst()) {
            kind = .newestOfVersion(number)
        } else {
            kind = .id(text)
        }
        self.text = text
        self.field = field
    }

    /// A deployment id, never read as `vN`.
    public static func id(_ id: String, field: String) -> DeploymentReference {
        var reference = DeploymentReference(id, field: field)
        reference.kind = .id(id)
        return reference
    }

    public func resolve(in state: EndpointState) -> EndpointState.Deployment? {
        switch kind {
        case .id(let id): state.deployment(id)
        case .newestOfVersion(let number): state.deployments.last { $0.requested.versionNumber == number }
        }
    }
}
