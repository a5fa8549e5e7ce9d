import SlipwayEventSourcing
import Synchronization

/// The event store the training projection sends its commands to. The shell creates the store from
/// the service definition, so a projection inside that definition cannot receive it at construction;
/// the definition's route builder hands it over (`attach`) before any projector starts.
public final class RegistryReactor: Sendable {
    private let store = Mutex<EventStore?>(nil)

    public init() {}

    public func attach(_ store: EventStore) {
        self.store.withLock { $0 = store }
    }

    struct NotAttached: Error, CustomStringConvertible {
        var description: String { "the registry reactor has no event store yet" }
    }

    func execute(aggregateID: String, command: RegisteredModelDecider.Command, metadata: CommandMetadata) async throws {
        // Thrown, not skipped: the projector then retries the batch instead of losing the reaction.
        guard let store = store.withLock({ $0 }) else { throw NotAttached() }
        try await store.execute(RegisteredModelDecider.self, aggregateID: aggregateID, command: command, metadata: metadata)
    }
}
