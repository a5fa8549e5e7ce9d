import Crypto
import Foundation

/// A new secret (an API key for predictions, a personal token for the API) and what is stored of it:
/// the secret is shown once; only its SHA-256 and its first characters (to tell secrets apart in a list) are kept.
public enum SecretMaterial {
    /// 32 random bytes, base64url without padding (43 characters), as `secrets.token_urlsafe(32)` makes.
    public static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Lowercase hex.
    public static func sha256(_ secret: String) -> String {
        hex(SHA256.hash(data: Data(secret.utf8)))
    }

    /// Lowercase hex of bytes (a digest, a MAC), by table: hashing a token or signing an actor is on every request's
    /// path, where `String(format:)` per byte cost a gateway 2 % of its CPU.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func prefix(_ secret: String, length: Int = 8) -> String { String(secret.prefix(length)) }

    /// Whether two secrets (or their digests) are equal, comparing every byte whatever the first difference, so the
    /// time taken says nothing about how much of a guess was right.
    public static func constantTimeEqual(_ a: some Sequence<UInt8>, _ b: some Sequence<UInt8>) -> Bool {
        let x = Array(a), y = Array(b)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
