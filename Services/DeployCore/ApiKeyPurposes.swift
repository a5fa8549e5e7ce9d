import SlipwayContracts

/// An API key's purpose as the API and the read model spell it.
public enum ApiKeyPurposes {
    public static func name(_ purpose: ApiKeyPurpose) -> String {
        switch purpose {
        case .testing: "testing"
        case .client, .UNRECOGNIZED: "client"
        }
    }

    public static func purpose(named name: String) -> ApiKeyPurpose? {
        switch name {
        case "client": .client
        case "testing": .testing
        default: nil
        }
    }
}
