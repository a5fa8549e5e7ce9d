import Foundation
import SlipwayEventSourcing
import SlipwayPlatform
import Synchronization

/// Numbers each model's runs 1, 2, 3… without conflicts for the client, however many create runs of the
/// model at once (a sweep), and without making them wait for each other.
///
/// This process hands out a model's numbers from memory, after reading the highest one from the read model
/// once; creations then run concurrently (and commit together, see `WriteBatcher`). Another replica may take
/// a number in the meantime: the decider refuses the run as a conflict on `run_number`, this process forgets
/// its count, reads the highest number again and retries — a bounded number of times. A creation that fails
/// after taking its number leaves a gap; callers validate first (a dry run of the decider), so only a failure
/// of the database itself can.
final class RunNumbers: Sendable {
    private struct Count {
        var next: Int32
        /// Another replica took a number: read the highest one again before handing out more.
        var stale = false
    }

    /// The next number per model, once read.
    private let counts = Mutex<[String: Count]>([:])
    /// The first read of a model's highest number, one at a time per model.
    private let reads = SerialQueues()
    /// Losing to other replicas this often in a row would take a storm of them.
    let attempts: Int

    init(attempts: Int = 32) {
        self.attempts = attempts
    }

    /// Creates a run of `model` with `create(number)` (which executes the creation command); `highest()` reads
    /// the model's highest number from the read model. Returns the run's id and what `create` returned.
    func create<Outcome>(
        model: String, highest: @escaping () async throws -> Int32, _ create: (Int32) async throws -> Outcome
    ) async throws -> (runID: String, outcome: Outcome) {
        for attempt in 1...attempts {
            let number = try await take(model, highest: highest)
            do {
                return (TrainingRunDecider.runID(model: model, number: number), try await create(number))
            } catch let rejected as CommandRejected where rejected.kind == .conflict && rejected.field == TrainingRunDecider.numberTakenField {
                forget(model)  // another replica's run has the number: count again from the read model
            } catch let conflict as ConcurrencyConflict where conflict.expectedVersion == nil {
                forget(model)  // the event store gave up on a storm of writers to this run id: the same
            }
            if attempt < attempts { try await Task.sleep(for: .milliseconds(Int.random(in: 1...10))) }
        }
        throw APIError.conflict("could not assign a run number for \(model); try again")
    }

    private func take(_ model: String, highest: @escaping () async throws -> Int32) async throws -> Int32 {
        if let number = takeKnown(model) { return number }
        return try await reads.run(model) {
            if let number = takeKnown(model) { return number }  // read by the creation before us
            let read = try await highest() + 1
            return counts.withLock { counts in
                // Numbers this process handed out and has not committed yet are not in the read model.
                let number = max(read, counts[model]?.next ?? read)
                counts[model] = Count(next: number + 1)
                return number
            }
        }
    }

    private func takeKnown(_ model: String) -> Int32? {
        counts.withLock { counts in
            guard let count = counts[model], !count.stale else { return nil }
            counts[model]?.next += 1
            return count.next
        }
    }

    private func forget(_ model: String) {
        counts.withLock { $0[model]?.stale = true }
    }
}
