import Foundation
import Logging
import PostgresNIO
import SlipwayEventSourcing
import SlipwayTestSupport
import Synchronization
import Testing

/// `Leadership` on the real PostgreSQL: of two replicas competing for the same work, one runs it at a time, and when it
/// stops the other takes over.
@Suite("leadership", .timeLimit(.minutes(1)))
struct LeadershipTests {
    @Test("one replica leads at a time; when the leader stops, the other takes over; another name is another lock")
    func oneAtATime() async throws {
        let url = try await TestEnvironment.shared.freshDatabase("leadership")
        try await withPostgres(url) { client in
            let logger = Logger(label: "leadership-test")
            let tracker = Tracker()
            let work: @Sendable (String) -> @Sendable () async throws -> Void = { who in { try await tracker.work(who) } }
            let a = Leadership(name: "controller", retry: .milliseconds(100), check: .milliseconds(200))
            let b = Leadership(name: "controller", retry: .milliseconds(100), check: .milliseconds(200))
            let other = Leadership(name: "another", retry: .milliseconds(100), check: .milliseconds(200))
            // Each replica as its own task, so one can be stopped alone.
            let first = Task { await a.run(postgres: client, logger: logger, work("a")) }
            let second = Task { await b.run(postgres: client, logger: logger, work("b")) }
            let third = Task { await other.run(postgres: client, logger: logger, {}) }
            defer { first.cancel(); second.cancel(); third.cancel() }

            try await eventually(timeout: .seconds(10), "a leader") { a.isLeading || b.isLeading }
            try await Task.sleep(for: .seconds(1))  // several retries of the other replica
            #expect(a.isLeading != b.isLeading, "exactly one leads")
            #expect(tracker.working == 1 && !tracker.overlapped)

            let (leader, follower, leaderTask) = a.isLeading ? (a, b, first) : (b, a, second)
            leaderTask.cancel()
            await leaderTask.value
            #expect(!leader.isLeading)
            // Leading comes first, the work a moment later.
            try await eventually(timeout: .seconds(10), "the other replica takes over") { follower.isLeading && tracker.working == 1 }
            #expect(!tracker.overlapped)
            // Work that ends by itself ends the leadership loop too (graceful shutdown does that).
            await third.value
            #expect(!other.isLeading)
        }
    }
}

/// Who is running the work, and whether two ever ran it at once.
final class Tracker: Sendable {
    private let state = Mutex<(working: Set<String>, overlapped: Bool)>(([], false))

    var working: Int { state.withLock { $0.working.count } }
    var overlapped: Bool { state.withLock { $0.overlapped } }

    func work(_ who: String) async throws {
        state.withLock { state in
            if !state.working.isEmpty { state.overlapped = true }
            state.working.insert(who)
        }
        defer { _ = state.withLock { $0.working.remove(who) } }
        try await Task.sleep(for: .seconds(600))
    }
}
