import Foundation

extension CommandMetadata {
    /// A reaction's metadata: the command is caused by `cause`, so it keeps the cause's correlation id
    /// (a new one when the cause has none), names the cause's event id as its causation, and acts for
    /// whoever caused the cause — `reactor` (the reacting service or worker) when the cause names nobody,
    /// as events recorded before actors were kept do.
    public init<Event>(reactingTo cause: Recorded<Event>, reactor: String) {
        self.init(
            correlationID: cause.correlationID.isEmpty ? UUID.v7().uuidString.lowercased() : cause.correlationID,
            causationID: cause.eventID, actor: cause.actor.isEmpty ? reactor : cause.actor)
    }
}
