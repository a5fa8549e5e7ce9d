import SlipwayContracts

/// An authenticated user of the API, as the gateway found them from their token.
public struct Caller: Sendable, Equatable {
    public var username: String
    public var role: Role
    /// The token the request presented.
    public var tokenID: String

    public init(username: String, role: Role, tokenID: String) {
        self.username = username
        self.role = role
        self.tokenID = tokenID
    }
}

extension Role: Comparable {
    /// Each role includes the ones below it: viewer < editor < admin.
    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `viewer`, `editor`, `admin`: the API's spelling.
    public var name: String {
        switch self {
        case .viewer: "viewer"
        case .editor: "editor"
        case .admin: "admin"
        case .unspecified, .UNRECOGNIZED: "none"
        }
    }

    public init?(name: String) {
        switch name {
        case "viewer": self = .viewer
        case "editor": self = .editor
        case "admin": self = .admin
        default: return nil
        }
    }
}
