import Foundation
import SlipwayEventSourcing
import SlipwayPlatform

/// Issues a token: the one way, for the API, the first admin and browser logins (`kind: "session"`).
struct TokenIssuer: Sendable {
    let environment: ServiceEnvironment

    struct Issued {
        var id: String
        var token: String
    }

    func issue(
        for username: String, ownerActive: Bool, name: String, expiresAt: Date?, issuedBy: String, metadata: CommandMetadata,
        kind: String = ""
    ) async throws -> Issued {
        let token = Authenticator.tokenPrefix + SecretMaterial.newSecret()
        let id = UUID.v7().uuidString.lowercased()
        let new = ApiTokenDecider.NewToken(
            id: id, username: username, ownerActive: ownerActive, name: name, tokenSha256: SecretMaterial.sha256(token),
            tokenPrefix: SecretMaterial.prefix(token, length: 12), expiresAt: expiresAt, issuedBy: issuedBy, now: metadata.now, kind: kind)
        try await environment.execute(ApiTokenDecider.self, aggregateID: id, command: .issue(new), metadata: metadata)
        return Issued(id: id, token: token)
    }
}
