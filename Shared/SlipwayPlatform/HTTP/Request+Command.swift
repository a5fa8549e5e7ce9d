import Foundation
import HTTPTypes
import Hummingbird
import SlipwayEventSourcing

extension Request {
    /// Command metadata from the request: correlation id, actor and `If-Match` expected version.
    public func commandMetadata() throws -> CommandMetadata {
        try commandMetadata(actor: actor)
    }

    /// The same, for a caller known otherwise: the gateway's own commands act for the user it authenticated.
    public func commandMetadata(actor: String) throws -> CommandMetadata {
        CommandMetadata(correlationID: correlationID, actor: actor, expectedVersion: try expectedVersion())
    }

    /// `If-Match: 3` (or `"3"`): the version the client last saw; a stale one is answered 409.
    public func expectedVersion() throws -> Int64? {
        guard let value = headers[.ifMatch] else { return nil }
        let trimmed = value.trimmingCharacters(in: CharacterSet(charactersIn: "\" W/"))
        guard let version = Int64(trimmed), version >= 0 else {
            throw APIError.badRequest("If-Match must be an aggregate version number", field: "If-Match")
        }
        return version
    }

    /// The caller's correlation id (`X-Correlation-ID`), or a new one: it ends up in every event caused.
    public var correlationID: String {
        headers[HTTPField.Name.correlationID].flatMap { $0.isEmpty ? nil : String($0.prefix(128)) } ?? UUID.v7().uuidString.lowercased()
    }

    /// Who is asking: the user the gateway authenticated and named in `X-Slipway-Actor` (trimmed; at most
    /// 128 characters, none of them control characters), which services trust. A request without a usable
    /// one reached the service's port directly, not through the gateway (a peer service, a test): `internal`.
    public var actor: String {
        guard let value = headers[HTTPField.Name.actor]?.trimmingCharacters(in: .whitespaces), !value.isEmpty, value.count <= 128,
            !value.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) })
        else { return Self.internalActor }
        return value
    }

    /// The actor of a request that did not come through the gateway.
    public static let internalActor = "internal"
}

extension HTTPField.Name {
    public static let correlationID = HTTPField.Name("X-Correlation-ID")!
    /// The authenticated caller the gateway forwards to services (`Request.actor`).
    public static let actor = HTTPField.Name("X-Slipway-Actor")!
}

extension Parameters {
    /// An integer query parameter in `range`, or `defaultValue` when absent; anything else is a 400 naming it.
    public func integer(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = get(name) else { return defaultValue }
        guard let number = Int(text), range.contains(number) else {
            throw APIError.badRequest("\(name) must be a whole number in \(range.lowerBound)...\(range.upperBound)", field: name)
        }
        return number
    }

    /// An ISO 8601 instant (`2026-12-04T18:50:32.123Z`), or nil when absent; anything else is a 400 naming the parameter.
    public func instant(_ name: String) throws -> Date? {
        guard let text = nonEmpty(name) else { return nil }
        guard let date = ISO8601.date(text) else { throw APIError.badRequest("\(name) must be an ISO 8601 instant", field: name) }
        return date
    }

    /// A query parameter's non-empty, trimmed value (a UI's "All" sends an empty one), or nil.
    public func nonEmpty(_ name: String) -> String? {
        guard let text = get(name)?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        return text
    }

    /// `true` / `false`, or nil when absent or empty; anything else is a 400 naming the parameter.
    public func boolean(_ name: String) throws -> Bool? {
        switch nonEmpty(name) {
        case nil: return nil
        case "true": return true
        case "false": return false
        default: throw APIError.badRequest("\(name) must be true or false", field: name)
        }
    }
}
