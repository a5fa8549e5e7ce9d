import SlipwayContracts

/// The registry's naming rules, shared by the decider (which enforces them) and the routes (which
/// parse path and query values with them).
public enum RegistryNames {
    /// Names become path segments, Kubernetes-style labels and artifact directory names, so they are
    /// kept to what is safe in all three.
    public static let maxLength = 63

    /// Path segments of `/api/registered-models/...` that are routes, not models.
    static let reservedModelNames: Set<String> = ["check-name"]

    /// Why `name` cannot name a registered model, or nil when it can.
    public static func modelNameProblem(_ name: String) -> String? {
        if let problem = identifierProblem(name, what: "name") { return problem }
        if reservedModelNames.contains(name) { return "name '\(name)' is reserved" }
        return nil
    }

    /// Why `alias` cannot be an alias, or nil when it can. `v<digits>` is refused because
    /// `versions/v3` already means version 3: an alias of that form would be ambiguous.
    public static func aliasProblem(_ alias: String) -> String? {
        if let problem = identifierProblem(alias, what: "alias") { return problem }
        if parseVersion(alias) != nil { return "alias '\(alias)' looks like a version label (v<number>)" }
        return nil
    }

    private static func identifierProblem(_ value: String, what: String) -> String? {
        guard !value.isEmpty else { return "\(what) must not be empty" }
        guard value.utf8.count <= maxLength else { return "\(what) must be at most \(maxLength) characters" }
        let bytes = Array(value.utf8)
        guard isLowercaseLetter(bytes[0]) else { return "\(what) must start with a lowercase letter" }
        let allowed = bytes.allSatisfy { isLowercaseLetter($0) || isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
        guard allowed else { return "\(what) may contain only lowercase letters, digits, '-' and '_'" }
        return nil
    }

    /// `3` or `v3` → 3; anything else (including 0 and negatives) → nil.
    public static func parseVersion(_ text: String) -> Int32? {
        var digits = Substring(text)
        if digits.first == "v" { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.utf8.allSatisfy(isDigit), let number = Int32(digits), number > 0 else { return nil }
        return number
    }

    public static func versionLabel(_ number: Int32) -> String { "v\(number)" }

    private static func isLowercaseLetter(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") }
    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

extension ModelType {
    /// The API's spelling: `retrieval`, `ranking`, `multitask`; nil for anything else.
    public init?(apiName: String) {
        switch apiName {
        case "retrieval": self = .retrieval
        case "ranking": self = .ranking
        case "multitask": self = .multitask
        default: return nil
        }
    }

    public var apiName: String {
        switch self {
        case .retrieval: return "retrieval"
        case .ranking: return "ranking"
        case .multitask: return "multitask"
        case .unspecified, .UNRECOGNIZED: return "unspecified"
        }
    }

    public var isKnown: Bool {
        switch self {
        case .retrieval, .ranking, .multitask: return true
        case .unspecified, .UNRECOGNIZED: return false
        }
    }
}
