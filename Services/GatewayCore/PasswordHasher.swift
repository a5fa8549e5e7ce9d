import Crypto
import CryptoExtras
import Foundation
import SlipwayPlatform

/// Browser-login passwords, kept as salted scrypt verifiers in the PHC string format
/// (`$scrypt$ln=15,r=8,p=1$<salt>$<hash>`, base64 without padding): about 32 MiB and a few tens of milliseconds
/// per check, so a stolen read model is slow to guess from. A verifier says which parameters made it, so they can
/// be raised later without invalidating what is stored.
public enum PasswordHasher {
    static let logN = 15
    static let blockSize = 8
    static let parallelism = 1
    static let hashBytes = 32

    public static func hash(_ password: String) throws -> String {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let derived = try derive(password, salt: salt, logN: logN, blockSize: blockSize, parallelism: parallelism)
        return "$scrypt$ln=\(logN),r=\(blockSize),p=\(parallelism)$\(base64(salt))$\(base64(derived))"
    }

    /// Whether `password` matches `verifier`. A nil or malformed verifier is checked against a throwaway one, so
    /// answering "no such user" takes as long as "wrong password".
    public static func verify(_ password: String, against verifier: String?) -> Bool {
        guard let verifier, let parsed = Parsed(verifier) else {
            _ = try? derive(password, salt: Array(repeating: 0, count: 16), logN: logN, blockSize: blockSize, parallelism: parallelism)
            return false
        }
        guard let derived = try? derive(password, salt: parsed.salt, logN: parsed.logN, blockSize: parsed.blockSize, parallelism: parsed.parallelism)
        else { return false }
        return SecretMaterial.constantTimeEqual(derived, parsed.hash)
    }

    struct Parsed {
        let logN: Int
        let blockSize: Int
        let parallelism: Int
        let salt: [UInt8]
        let hash: [UInt8]

        init?(_ text: String) {
            let parts = text.split(separator: "$", omittingEmptySubsequences: false)
            guard parts.count == 5, parts[0].isEmpty, parts[1] == "scrypt" else { return nil }
            var parameters: [String: Int] = [:]
            for pair in parts[2].split(separator: ",") {
                let kv = pair.split(separator: "=")
                guard kv.count == 2, let value = Int(kv[1]) else { return nil }
                parameters[String(kv[0])] = value
            }
            guard let logN = parameters["ln"], (10...20).contains(logN), let blockSize = parameters["r"], (1...16).contains(blockSize),
                let parallelism = parameters["p"], (1...4).contains(parallelism), let salt = PasswordHasher.bytes(parts[3]),
                let hash = PasswordHasher.bytes(parts[4]), !hash.isEmpty
            else { return nil }
            (self.logN, self.blockSize, self.parallelism, self.salt, self.hash) = (logN, blockSize, parallelism, salt, hash)
        }
    }

    static func derive(_ password: String, salt: [UInt8], logN: Int, blockSize: Int, parallelism: Int) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: Array(password.utf8), salt: salt, outputByteCount: hashBytes, rounds: 1 << logN, blockSize: blockSize,
            parallelism: parallelism)
        return key.withUnsafeBytes { Array($0) }
    }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString().replacingOccurrences(of: "=", with: "") }

    static func bytes(_ text: Substring) -> [UInt8]? {
        var padded = String(text)
        while padded.count % 4 != 0 { padded += "=" }
        return Data(base64Encoded: padded).map { Array($0) }
    }
}
