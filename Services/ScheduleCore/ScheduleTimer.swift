import Foundation
import Logging
import ServiceLifecycle
import SlipwayEventSourcing
import SlipwayPlatform

/// schedule-svc's durable timer: no cron daemon, no external scheduler. It sleeps until the earliest slot of any
/// active schedule (one indexed query), then ticks every schedule that is due; the tick fires or skips each due
/// slot exactly once, because the slot's fate is in the schedule's own history. Several replicas may tick the
/// same schedule: the event store serialises them, and the later tick finds the slot handled.
///
/// While nothing is due it wakes at most every `idleCheck` (a schedule made on another replica) or when a command
/// here changed a schedule (`nudge`).
public final class ScheduleTimer: Service, Sendable {
    let environment: ServiceEnvironment
    let now: @Sendable () -> Date
    let idleCheck: Duration
    private let wake = WakeSignal()

    public init(environment: ServiceEnvironment, now: @escaping @Sendable () -> Date, idleCheck: Duration = .seconds(5)) {
        self.environment = environment
        self.now = now
        self.idleCheck = idleCheck
    }

    /// A schedule was created, resumed or edited here: look again now rather than at the next check.
    public func nudge() { wake.signal() }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var wait = idleCheck
            do {
                try await fireDue(at: now())
                if let next = try await earliestSlot() {
                    let seconds = max(0, next.timeIntervalSince(now()))
                    wait = min(idleCheck, .milliseconds(Int64(seconds * 1000)))
                }
            } catch {
                environment.logger.warning("schedule timer pass failed", metadata: [LogKey.error: "\(error)"])
            }
            await pause(wait)
        }
    }

    /// Sleeps up to `duration`; a nudge or a shutdown ends it early.
    private func pause(_ duration: Duration) async {
        await wake.waitUnlessShuttingDown(upTo: duration)
    }

    /// Ticks every active schedule with a slot due at `instant`, queued together so they commit in group-commit batches
    /// (10,000 schedules due at 09:00 fire within a second, not one transaction each); one schedule's failure does
    /// not stop the others.
    public func fireDue(at instant: Date) async throws {
        let queries = ScheduleQueries(client: environment.postgres, logger: environment.logger)
        while true {
            let rows = try await environment.postgres.query(
                "SELECT id FROM schedules WHERE status = 'active' AND next_run_at <= \(instant) ORDER BY next_run_at LIMIT \(Self.batch)",
                logger: environment.logger)
            var due: [String] = []
            for try await id in rows.decode(String.self) { due.append(id) }
            guard !due.isEmpty else { return }
            let going = try await queries.runsGoing(among: due)
            let commands = due.map { id in
                (
                    aggregateID: id, command: TrainingScheduleDecider.Command.tick(now: instant, runGoing: going.contains(id)),
                    metadata: CommandMetadata(causationID: "schedule-timer", actor: "schedule-timer")
                )
            }
            var progressed = false
            for (id, result) in zip(due, await environment.store.executeAll(TrainingScheduleDecider.self, commands)) {
                switch result {
                case .success(let outcome): progressed = progressed || !outcome.events.isEmpty
                case .failure(let error):
                    environment.logger.warning("schedule tick failed", metadata: [LogKey.aggregateID: "\(id)", LogKey.error: "\(error)"])
                }
            }
            // A batch that moved nothing (every tick failed, or another replica got there first) is not read again now.
            guard progressed, due.count == Self.batch else { return }
        }
    }

    /// Schedules read and ticked at once (the event store commits them in group-commit batches, back to back).
    static let batch = 5000

    func earliestSlot() async throws -> Date? {
        let rows = try await environment.postgres.query(
            "SELECT min(next_run_at) FROM schedules WHERE status = 'active'", logger: environment.logger)
        for try await next in rows.decode(Date?.self) { return next }
        return nil
    }
}
