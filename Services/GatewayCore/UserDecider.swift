import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform

/// A user of the API: a name, a role, and whether they are disabled. The aggregate id is the username.
public enum UserDecider: Decider {
    public enum Command: Sendable, Equatable {
        case create(username: String, role: Role, displayName: String, actor: String)
        /// `otherActiveAdmins`: admins besides this user who are not disabled (from the read model), so the
        /// last admin cannot be demoted.
        case changeRole(Role, actor: String, otherActiveAdmins: Int)
        case disable(reason: String, actor: String, otherActiveAdmins: Int)
        /// A browser-login password: its verifier (`PasswordHasher`) and its length, which the rule is about.
        case setPassword(hash: String, length: Int, actor: String)
    }

    public struct State: Sendable, Equatable {
        public var username: String?
        public var role: Role = .unspecified
        public var disabled = false
        public var hasPassword = false
    }

    /// Long enough to resist guessing without a second factor, short enough to bound the hashing work.
    public static let passwordLengths = 12...200

    public static let aggregateType = "User"
    public static let initial = State()

    /// Lowercase letters, digits, `.`, `_`, `-`; starting with a letter; 1 to 64 characters.
    public static func isValidUsername(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.count <= 64 else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || ".-_".unicodeScalars.contains($0) }
    }

    public static func decide(_ command: Command, _ state: State) throws -> [GatewayEvent] {
        switch command {
        case .create(let username, let role, let displayName, let actor):
            guard isValidUsername(username) else {
                throw CommandRejected(
                    .invalid, field: "username", "username must be 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter")
            }
            guard role != .unspecified else { throw CommandRejected(.invalid, field: "role", "role must be viewer, editor or admin") }
            guard displayName.count <= 200 else { throw CommandRejected(.invalid, field: "display_name", "display_name is at most 200 characters") }
            guard state.username == nil else { throw CommandRejected(.conflict, "user \(username) already exists") }
            var created = UserCreated()
            created.username = username
            created.role = role
            created.displayName = displayName
            created.createdBy = actor
            return [.userCreated(created)]

        case .changeRole(let role, let actor, let otherActiveAdmins):
            guard let username = state.username else { throw notFound }
            guard role != .unspecified else { throw CommandRejected(.invalid, field: "role", "role must be viewer, editor or admin") }
            guard !state.disabled else { throw CommandRejected(.conflict, "user \(username) is disabled") }
            guard role != state.role else { return [] }
            if state.role == .admin, otherActiveAdmins == 0 {
                throw CommandRejected(.conflict, "\(username) is the last admin: make another user admin first")
            }
            var changed = UserRoleChanged()
            changed.username = username
            changed.role = role
            changed.previousRole = state.role
            changed.changedBy = actor
            return [.userRoleChanged(changed)]

        case .disable(let reason, let actor, let otherActiveAdmins):
            guard let username = state.username else { throw notFound }
            guard !state.disabled else { return [] }
            if state.role == .admin, otherActiveAdmins == 0 {
                throw CommandRejected(.conflict, "\(username) is the last admin: make another user admin first")
            }
            var disabled = UserDisabled()
            disabled.username = username
            disabled.reason = reason
            disabled.disabledBy = actor
            return [.userDisabled(disabled)]

        case .setPassword(let hash, let length, let actor):
            guard let username = state.username else { throw notFound }
            guard passwordLengths.contains(length) else {
                throw CommandRejected(
                    .invalid, field: "password", "password must be \(passwordLengths.lowerBound) to \(passwordLengths.upperBound) characters")
            }
            guard !state.disabled else { throw CommandRejected(.conflict, "user \(username) is disabled") }
            var set = UserPasswordSet()
            set.username = username
            set.passwordHash = hash
            set.setBy = actor
            return [.userPasswordSet(set)]
        }
    }

    static let notFound = CommandRejected(.notFound, "no such user")

    public static func evolve(_ state: State, _ event: GatewayEvent) -> State {
        var state = state
        switch event {
        case .userCreated(let created):
            state.username = created.username
            state.role = created.role
        case .userRoleChanged(let changed):
            state.role = changed.role
        case .userDisabled:
            state.disabled = true
        case .userPasswordSet:
            state.hasPassword = true
        case .apiTokenIssued, .apiTokenRevoked, .apiTokenUsed:
            break  // a token's own aggregate
        }
        return state
    }
}
