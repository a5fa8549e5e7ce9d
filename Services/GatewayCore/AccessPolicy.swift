import HTTPTypes
import SlipwayContracts

/// Who may call which route through the gateway: the one place the API's access rules are written.
///
/// Reads need a viewer (reading a secret an editor), every write an editor, user management an admin. Routes that authenticate their caller
/// themselves (a training run's webhook with its run token, a schedule's webhook with its signed secret) are
/// open here, and so is the API reference (`/api/openapi.json`, `/api/prediction/openapi.json`, `/docs`). Services' `/internal/...` routes — the gateway's own included — are not part of the public API.
public struct AccessPolicy: Sendable {
    public enum Requirement: Equatable, Sendable {
        /// No credentials needed (health probes; routes with their own secret).
        case open
        /// Not reachable from outside: answered 404 as if it did not exist.
        case hidden
        /// A caller with at least this role.
        case role(Role)
    }

    /// The operator's opt-out for a local demo: reads without a token. Writes always need one.
    public var anonymousReads: Bool

    public init(anonymousReads: Bool = false) {
        self.anonymousReads = anonymousReads
    }

    public func requirement(method: HTTPRequest.Method, path: String) -> Requirement {
        let segments = path.split(separator: "/")
        guard let first = segments.first else { return .open }
        if first == "internal" { return .hidden }
        guard first == "api" else { return .open }
        let rest = Array(segments.dropFirst())
        if method == .post, Self.selfAuthenticated.contains(where: { Self.matches($0, rest) }) { return .open }
        if Self.isRead(method), rest == ["openapi.json"] || rest == ["prediction", "openapi.json"] { return .open }
        if method == .post, rest == ["session"] { return .open }  // the login checks the password itself
        if Self.isRead(method), Self.secretReads.contains(where: { Self.matches($0, rest) }) { return .role(.editor) }
        switch rest.first {
        case "users": return .role(.admin)
        // Every user manages their own tokens; the routes let only an admin touch another's.
        case "me", "tokens", "session": return .role(.viewer)
        default: return Self.isRead(method) ? .role(.viewer) : .role(.editor)
        }
    }

    public static func isRead(_ method: HTTPRequest.Method) -> Bool { method == .get || method == .head }

    /// POST routes whose service checks a secret of its own (`*` is one segment).
    static let selfAuthenticated: [[Substring]] = [
        ["training-runs", "*", "webhook", "*"],
        ["training-runs", "*", "schedule-webhook"],
        ["training", "schedules", "*", "webhook"],
    ]

    /// GET routes that answer a secret, which only someone who may act with it should read.
    static let secretReads: [[Substring]] = [
        ["training", "schedules", "*", "webhook"]
    ]

    static func matches(_ pattern: [Substring], _ segments: [Substring]) -> Bool {
        pattern.count == segments.count && zip(pattern, segments).allSatisfy { $0 == "*" || $0 == $1 }
    }
}
