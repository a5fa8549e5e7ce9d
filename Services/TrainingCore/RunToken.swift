import Crypto
import Foundation
import SlipwayPlatform

/// Per-run webhook tokens: handed out once, kept under the artifact root for the run's executor (a local
/// trainer gets it in its environment), and in events only as a SHA-256.
enum RunToken {
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return SecretMaterial.hex((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    static func sha256(_ token: String) -> String {
        SecretMaterial.hex(SHA256.hash(data: Data(token.utf8)))
    }

    /// A token's file, under the artifact root, is named by its hash: it is written before the run
    /// exists (nothing is made under a run id a command may still refuse), two creators racing for one
    /// run id (replicas numbering the same run) never overwrite each other's, and the run's events say
    /// which one is its own.
    static func file(root: URL, sha256: String) -> URL { root.appendingPathComponent("tokens").appendingPathComponent(sha256) }

    /// Where a run's token was kept before tokens were named by their hash.
    static func legacyFile(in artifacts: URL) -> URL { artifacts.appendingPathComponent(".token") }

    /// Keeps `token` for the local executor, readable by the owner only; the caller removes the file if no
    /// run takes it.
    static func write(_ token: String, root: URL) throws -> URL {
        let directory = root.appendingPathComponent("tokens")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let file = self.file(root: root, sha256: sha256(token))
        guard FileManager.default.createFile(atPath: file.path, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw TrainerLaunchError(message: "cannot write \(file.path)")
        }
        return file
    }

    /// The run's token: the one whose hash its events hold.
    static func read(root: URL, artifacts: URL, sha256 hash: String) -> String? {
        for file in [file(root: root, sha256: hash), legacyFile(in: artifacts)] {
            if let token = try? String(contentsOf: file, encoding: .utf8), sha256(token) == hash { return token }
        }
        return nil
    }
}
