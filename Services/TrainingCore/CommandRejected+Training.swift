import SlipwayEventSourcing

extension CommandRejected {
    /// A rule a well-formed request breaks (422), naming the field.
    static func invalid(_ field: String, _ message: String) -> CommandRejected { CommandRejected(.invalid, field: field, message) }
}
