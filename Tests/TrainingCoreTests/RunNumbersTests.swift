import Foundation
import SlipwayEventSourcing
import SlipwayPlatform
import Synchronization
import Testing

@testable import TrainingCore

/// The numbering itself, with the read model and the command stood in for.
@Suite("run numbers")
struct RunNumbersTests {
    /// A model's highest number, as the read model would have it.
    final class Model: Sendable {
        let highest = Mutex<Int32>(0)
        let running = Mutex(0)
        let mostAtOnce = Mutex(0)
        /// How often the highest number was read.
        let reads = Mutex(0)
    }

    @Test("creations of one model run at once, each with its own number, 1…N; the highest is read once")
    func concurrent() async throws {
        let model = Model()
        let numbers = RunNumbers()
        let created = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await numbers.create(
                        model: "m",
                        highest: {
                            model.reads.withLock { $0 += 1 }; return model.highest.withLock { $0 }
                        }
                    ) { number in
                        let now = model.running.withLock {
                            $0 += 1; return $0
                        }
                        model.mostAtOnce.withLock { $0 = max($0, now) }
                        try await Task.sleep(for: .milliseconds(5))
                        model.highest.withLock { $0 = max($0, number) }
                        model.running.withLock { $0 -= 1 }
                        return number
                    }.outcome
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(created.sorted() == Array(1...40))
        #expect(model.mostAtOnce.withLock { $0 } > 1, "creations waited for each other")
        #expect(model.reads.withLock { $0 } == 1)
    }

    @Test("a number another replica took is numbered again on fresh state; the run id follows the number")
    func numberTaken() async throws {
        let model = Model()
        let (runID, outcome) = try await RunNumbers().create(model: "m", highest: { model.highest.withLock { $0 } }) { number in
            if number < 4 {
                model.highest.withLock { $0 = number }  // the other replica's run, committed meanwhile
                throw CommandRejected(.conflict, field: TrainingRunDecider.numberTakenField, "training run m-\(number) already exists")
            }
            return number
        }
        #expect(runID == "m-4" && outcome == 4)
    }

    @Test("any other refusal is the client's answer at once; endless losses end in a 409")
    func otherRefusals() async throws {
        let attempts = Mutex(0)
        await #expect(throws: CommandRejected.self) {
            try await RunNumbers().create(model: "m", highest: { 0 }) { _ -> Int32 in
                attempts.withLock { $0 += 1 }
                throw CommandRejected(.conflict, "only a completed, failed, not_blessed or cancelled run can be rerun; this one is running")
            }
        }
        #expect(attempts.withLock { $0 } == 1)
        do {
            _ = try await RunNumbers(attempts: 3).create(model: "m", highest: { 0 }) { _ -> Int32 in
                throw CommandRejected(.conflict, field: TrainingRunDecider.numberTakenField, "taken")
            }
            Issue.record("numbered")
        } catch let error as APIError {
            #expect(error.status == .conflict && error.message == "could not assign a run number for m; try again")
        }
    }
}
