import Foundation
import SlipwayEventSourcing
import SlipwayPlatform

/// The first start's admin: when no user exists yet, an `admin` user and a token for the CLI, written to a file only
/// its owner may read (the CLI reads it from there, so `slipway up` needs no extra step). Later starts change nothing.
struct FirstAdmin: Sendable {
    let environment: ServiceEnvironment
    let tokenFile: URL

    func ensure() async throws {
        let queries = IdentityQueries(postgres: environment.postgres, logger: environment.logger)
        guard try await queries.userCount() == 0 else {
            if !FileManager.default.fileExists(atPath: tokenFile.path) {
                environment.logger.notice(
                    "users exist but the admin token file is missing: ask an admin for a token (POST /api/tokens)",
                    metadata: [LogKey.path: "\(tokenFile.path)"])
            }
            return
        }
        let metadata = CommandMetadata(actor: "bootstrap")
        do {
            try await environment.execute(
                UserDecider.self, aggregateID: "admin",
                command: .create(username: "admin", role: .admin, displayName: "Administrator", actor: "bootstrap"),
                metadata: metadata)
        } catch let rejected as CommandRejected where rejected.kind == .conflict {
            return  // another replica made it first, and wrote the file
        }
        let issued = try await TokenIssuer(environment: environment).issue(
            for: "admin", ownerActive: true, name: "slipway-cli", expiresAt: nil, issuedBy: "bootstrap", metadata: metadata)
        try writeOwnerOnly(issued.token + "\n", to: tokenFile)
        environment.logger.notice("created the first admin; its token is in the file", metadata: [LogKey.path: "\(tokenFile.path)"])
    }

    /// Created with mode 0600 before anything is written, then moved into place.
    func writeOwnerOnly(_ text: String, to file: URL) throws {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = file.deletingLastPathComponent().appendingPathComponent(".\(file.lastPathComponent).\(getpid())")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteNoPermission)
        }
        let handle = try FileHandle(forWritingTo: temporary)
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
        _ = try? FileManager.default.removeItem(at: file)
        try FileManager.default.moveItem(at: temporary, to: file)
    }
}
