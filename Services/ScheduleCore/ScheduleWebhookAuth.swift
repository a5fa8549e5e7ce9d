import Crypto
import Foundation
import SlipwayPlatform

/// The secrets of schedule webhooks (`POST /api/training/schedules/{id}/webhook`), which external schedulers call.
///
/// A schedule's secret is derived from schedule-svc's webhook key, the schedule's id and the secret's generation
/// (`HMAC-SHA256(key, "slipway-schedule-webhook/<id>/<generation>")`), so no event carries a secret and every replica
/// with the same key agrees; rotating a schedule's secret is an event that adds one to its generation, and the old
/// secret stops working at once. A caller proves it holds the secret one of two ways:
/// - `Authorization: Bearer <secret>`;
/// - `X-Slipway-Signature: sha256=<hex HMAC-SHA256 of the body, keyed by the secret>` (what metrics-svc's outgoing
///   webhooks send), with the slot in the body (`slot_time`), so a replayed call starts nothing new.
public struct ScheduleWebhookAuth: Sendable {
    let key: SymmetricKey

    public init(key: [UInt8]) {
        self.key = SymmetricKey(data: key)
    }

    /// The key from `--webhook-key` (hex, at least 32 digits) or else the file `--webhook-key-file` (made with a
    /// random key, readable by the owner only, when missing): replicas of schedule-svc must share it.
    public static func load(reader: ConfigReader) throws -> ScheduleWebhookAuth {
        if let hex = reader.string("webhook-key") {
            guard let bytes = bytes(hex: hex), bytes.count >= 16 else {
                throw ConfigError(key: "webhook-key", message: "expected at least 32 hexadecimal digits")
            }
            return ScheduleWebhookAuth(key: bytes)
        }
        let file = URL(fileURLWithPath: reader.string("webhook-key-file", default: ".slipway/schedule-webhook.key"))
        if FileManager.default.fileExists(atPath: file.path) { return try read(file) }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        // Two replicas starting together must not each write their own key: the first file linked wins. Each writes
        // its own candidate first (a shared one could be replaced, or removed by the winner, before the other links it).
        let candidate = file.path + ".\(UUID().uuidString).new"
        defer { try? FileManager.default.removeItem(atPath: candidate) }
        if FileManager.default.createFile(atPath: candidate, contents: Data(hex(bytes).utf8), attributes: [.posixPermissions: 0o600]),
            link(candidate, file.path) == 0 || errno == EEXIST
        {
            return try read(file)
        }
        throw ConfigError(key: "webhook-key-file", message: "cannot write \(file.path)")
    }

    private static func read(_ file: URL) throws -> ScheduleWebhookAuth {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else {
            throw ConfigError(key: "webhook-key-file", message: "cannot read \(file.path)")
        }
        guard let bytes = bytes(hex: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count >= 16 else {
            throw ConfigError(key: "webhook-key-file", message: "\(file.path) does not hold at least 32 hexadecimal digits")
        }
        return ScheduleWebhookAuth(key: bytes)
    }

    public func secret(scheduleID: String, generation: Int64) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data("slipway-schedule-webhook/\(scheduleID)/\(generation)".utf8), using: key)
        return "swh_"
            + Data(code).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public enum Proof: Equatable, Sendable {
        case bearer, signature
    }

    /// How the call proved it holds the schedule's secret; a 401 naming what is wrong otherwise.
    public func verify(authorization: String?, signature: String?, body: [UInt8], scheduleID: String, generation: Int64) throws -> Proof {
        let secret = secret(scheduleID: scheduleID, generation: generation)
        if let authorization {
            guard authorization.hasPrefix("Bearer "), Self.equal(Array(authorization.dropFirst(7).utf8), Array(secret.utf8)) else {
                throw Self.unauthorized("the bearer token is not this schedule's webhook secret")
            }
            return .bearer
        }
        if let signature {
            let expected = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
            guard signature.hasPrefix("sha256="), let given = Self.bytes(hex: String(signature.dropFirst(7))), Self.equal(given, Array(expected))
            else {
                throw Self.unauthorized("X-Slipway-Signature is not sha256=<hex HMAC-SHA256 of the body keyed by this schedule's webhook secret>")
            }
            return .signature
        }
        throw Self.unauthorized("the webhook needs Authorization: Bearer <secret> or X-Slipway-Signature: sha256=<hex HMAC of the body>")
    }

    static func unauthorized(_ message: String) -> APIError {
        APIError(.unauthorized, code: "unauthorized", message: message)
    }

    /// Compares in time independent of where the bytes differ.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func hex(_ bytes: [UInt8]) -> String { SecretMaterial.hex(bytes) }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
