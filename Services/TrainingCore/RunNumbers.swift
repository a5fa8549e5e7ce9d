import Foundation
import SlipwayEventSourcing
import SlipwayPlatform

/// Numbers each model's runs 1, 2, 3… with no gaps and no conflict for the client, however many create
/// runs of the model at once (a sweep).
///
/// In this process, the creations of one model take turns: each reads the next number from the read model
/// (which the previous creation's transaction has already updated) and runs its command, so numbers are
/// neither skipped nor taken twice, and a rejected command uses none. Another replica may take the same
/// number in the meantime; the event store then refuses the second run (the decider's conflict on
/// `run_number`), and the creation numbers again on fresh state — a bounded number of times.
final class RunNumbers: Sendable {
    private let turns = SerialQueues()
    /// Losing to other replicas this often in a row would take a storm of them.
    let attempts: Int

    init(attempts: Int = 32) {
        self.attempts = attempts
    }

    /// Creates a run of `model` with `create(number)` (which executes the creation command), numbered
    /// as above with `next()`; returns the run's id and what `create` returned.
    func create<Outcome>(
        model: String, next: () async throws -> Int32, _ create: (Int32) async throws -> Outcome
    ) async throws -> (runID: String, outcome: Outcome) {
        try await turns.run(model) {
            for attempt in 1...attempts {
                let number = try await next()
                do {
                    return (TrainingRunDecider.runID(model: model, number: number), try await create(number))
                } catch let rejected as CommandRejected where rejected.kind == .conflict && rejected.field == TrainingRunDecider.numberTakenField {
                    // Another replica's run has the number: number again on fresh state after a short, random pause.
                } catch let conflict as ConcurrencyConflict where conflict.expectedVersion == nil {
                    // The event store gave up on a storm of writers to this run id: the same.
                }
                if attempt < attempts { try await Task.sleep(for: .milliseconds(Int.random(in: 1...10))) }
            }
            throw APIError.conflict("could not assign a run number for \(model); try again")
        }
    }
}
