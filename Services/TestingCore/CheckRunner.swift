import Foundation
import Logging
import ServiceLifecycle
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import Synchronization

/// Runs scheduled checks (the spec's Phase 4). Every second it reads the enabled checks whose slot has come: a
/// check whose previous test is still running has the slot skipped (recorded, never queued); any other starts its
/// slot's test — the test's id is the check and the slot, so a second replica deciding the same slot finds it
/// taken — and runs it beside the others, so a slow endpoint delays nothing else.
///
/// It also runs rollout gates' tests (started by deploy-svc's request), each once in this process.
final class CheckRunner: Service, Sendable {
    let tests: EndpointTests
    let interval: Duration
    private let running = Mutex(Set<String>())

    init(tests: EndpointTests, interval: Duration = .seconds(1)) {
        self.tests = tests
        self.interval = interval
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                do {
                    for started in try await startDue(at: tests.now()) + (try await rolloutTests()) {
                        group.addTask { await self.finish(started) }
                    }
                } catch {
                    tests.environment.logger.warning("scheduled checks pass failed", metadata: [LogKey.error: "\(error)"])
                }
                await tests.wakeSignal.waitUnlessShuttingDown(upTo: self.interval)
            }
            // Shutdown does not wait for tests in flight: a rollout's is run again at the next start, a check's
            // counts as abandoned after `TestingQueries.abandonedAfterSeconds`.
            group.cancelAll()
        }
    }

    /// Decides every due slot: skipped, or its test started. The started tests are returned for the caller to run.
    func startDue(at instant: Date) async throws -> [EndpointTests.Started] {
        var started: [EndpointTests.Started] = []
        let metadata = CommandMetadata(causationID: "scheduled-check", actor: "check-runner")
        for check in try await tests.queries.dueChecks(at: instant) {
            if let running = check.runningTestID {
                try await tests.environment.execute(
                    ScheduledCheckDecider.self, aggregateID: check.endpoint,
                    command: .skip(slot: check.slot, runningTestID: running, reason: "the previous test was still running"),
                    metadata: metadata)
                continue
            }
            guard case .serving(let endpoint) = try await tests.queries.endpoint(check.endpoint) else {
                // Nothing serves: the slot is skipped with why, and the check waits for a deployment.
                try await tests.environment.execute(
                    ScheduledCheckDecider.self, aggregateID: check.endpoint,
                    command: .skip(slot: check.slot, runningTestID: "", reason: "the endpoint serves no version"), metadata: metadata)
                continue
            }
            let options = EndpointTests.Options(
                sampleCount: check.sampleCount, timeoutSeconds: 30, batchSize: 1, topK: 10, seed: EndpointTests.defaultSeed)
            let id = "check-\(check.endpoint)-\(Int64(check.slot.timeIntervalSince1970))"
            do {
                started.append(
                    try await tests.start(
                        endpoint, options: options, id: id, trigger: .scheduled, check: (check.endpoint, check.slot), metadata: metadata))
            } catch let rejected as CommandRejected where rejected.kind == .conflict {
                continue  // another replica started this slot's test
            }
        }
        return started
    }

    /// Rollout tests started and not running here yet.
    func rolloutTests() async throws -> [EndpointTests.Started] {
        var resumed: [EndpointTests.Started] = []
        for id in try await tests.queries.unfinishedRolloutTests() where running.withLock({ $0.insert(id).inserted }) {
            if let started = try await tests.resume(id) { resumed.append(started) } else { running.withLock { _ = $0.remove(id) } }
        }
        return resumed
    }

    func finish(_ started: EndpointTests.Started) async {
        defer { running.withLock { _ = $0.remove(started.test.id) } }
        do { try await tests.finish(started, metadata: CommandMetadata(causationID: "scheduled-check", actor: "check-runner")) } catch {
            tests.environment.logger.warning(
                "scheduled check did not record its end", metadata: [LogKey.aggregateID: "\(started.test.id)", LogKey.error: "\(error)"])
        }
    }
}
