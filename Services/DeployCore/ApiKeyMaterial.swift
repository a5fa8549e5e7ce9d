import Crypto
import Foundation

/// A new API key and what is stored of it.
public enum ApiKeyMaterial {
    /// 32 random bytes, base64url without padding (43 characters), as `secrets.token_urlsafe(32)` makes.
    public static func newKey() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func sha256(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    public static func prefix(_ key: String) -> String { String(key.prefix(8)) }
}
