import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

@testable import ScheduleCore

/// A schedule's rules as stories of commands: one firing per slot, catch-up, overlap, pause and resume, a `once`
/// that completes, outcomes counted once.
struct TrainingScheduleDeciderTests {
    typealias D = TrainingScheduleDecider
    typealias Refusal = SlipwayTestSupport.Refusal<D>
    static let t0 = ISO8601DateFormatter().date(from: "2026-06-01T08:00:00Z")!  // a Monday

    static func at(_ minutes: Double) -> Date { t0.addingTimeInterval(minutes * 60) }

    /// Daily at 09:00 UTC (the first slot is t0 + 60 min).
    static func create(
        _ kind: ScheduleRule.Kind = .daily, overlap: OverlapPolicy = .skip, catchup: Int64 = 3600, onceAt: Date? = nil
    ) -> D.Command {
        var config = TrainingRunConfig()
        config.datasetID = "ds"
        let rule = ScheduleRule(kind: kind, onceAt: onceAt, hour: kind == .hourly ? 0 : 9, minute: 0)
        return .create(
            D.NewSchedule(
                id: "sch-1", modelName: "recs", name: "nightly", timing: rule,
                policies: .init(catchupWindowSeconds: catchup, overlap: overlap), config: config, createdBy: "t", now: t0))
    }

    func kinds(_ events: [ScheduleEvent]) -> [String] { events.map { $0.eventType.split(separator: ".").last.map(String.init) ?? "" } }

    @Test func aDueSlotFiresOnceAndTheNextSlotFollows() throws {
        let given = try history(D.self, [Self.create()])
        #expect(D.fold(given).nextRunAt == Self.at(60))
        #expect(try decide(D.self, given: given, when: .tick(now: Self.at(59), runGoing: false)).isEmpty, "not due yet")
        let fired = try decide(D.self, given: given, when: .tick(now: Self.at(60.2), runGoing: false))
        guard case .scheduleTriggered(let trigger) = fired.first, fired.count == 1 else { Issue.record("\(fired)"); return }
        #expect(trigger.slotTime.date == Self.at(60) && !trigger.late && trigger.trigger == .timer)
        #expect(trigger.nextRunAt.date == Self.at(60 + 1440))
        #expect(try TrainingRunConfig(serializedBytes: trigger.trainingConfig).datasetID == "ds", "the frozen configuration")
        // The same slot again (another replica, a retry): nothing.
        #expect(try decide(D.self, given: given + fired, when: .tick(now: Self.at(60.5), runGoing: false)).isEmpty)
    }

    @Test func aMissedSlotFiresLateWithinTheCatchUpWindowAndOlderOnesAreSkipped() throws {
        let given = try history(D.self, [Self.create(.hourly)])  // hourly at :00: t0 + 60, + 120, …
        let late = try decide(D.self, given: given, when: .tick(now: Self.at(60 + 30), runGoing: false))
        guard case .scheduleTriggered(let trigger) = late.first else { Issue.record("\(late)"); return }
        #expect(trigger.late && trigger.slotTime.date == Self.at(60))
        // Down for five hours: the slots older than an hour are skipped, the one within it fires, once.
        let behind = try decide(D.self, given: given, when: .tick(now: Self.at(60 + 5 * 60 + 10), runGoing: false))
        #expect(kinds(behind) == Array(repeating: "ScheduleSlotSkipped", count: 5) + ["ScheduleTriggered"], "\(kinds(behind))")
        guard case .scheduleSlotSkipped(let skipped) = behind.first else { return }
        #expect(skipped.reason == .catchup)
        #expect(D.fold(given + behind).nextRunAt == Self.at(60 + 6 * 60))
    }

    /// An external scheduler and the timer share the slots: whichever asks first starts the slot's run.
    @Test func aWebhookSlotStartsOnceAndTheTimerPassesOverIt() throws {
        let given = try history(D.self, [Self.create(.hourly)])  // hourly at :00: t0 + 60, + 120, …
        // The timer's next slot: fired by the webhook, the timer moves on.
        let first = try decide(D.self, given: given, when: .webhook(slot: Self.at(60), now: Self.at(60.1), runGoing: false))
        guard case .scheduleTriggered(let trigger) = first.first, first.count == 1 else { Issue.record("\(first)"); return }
        #expect(trigger.trigger == .webhook && D.fold(given + first).nextRunAt == Self.at(120))
        #expect(try decide(D.self, given: given + first, when: .webhook(slot: Self.at(60), now: Self.at(61), runGoing: false)).isEmpty)
        #expect(try decide(D.self, given: given + first, when: .tick(now: Self.at(61), runGoing: false)).isEmpty)
        // A later slot fired early by the webhook (clock skew): the timer, catching up, fires only the one before it.
        let early = try decide(D.self, given: given + first, when: .webhook(slot: Self.at(180), now: Self.at(177), runGoing: false))
        #expect(kinds(early) == ["ScheduleTriggered"] && D.fold(given + first + early).nextRunAt == Self.at(120))
        let caughtUp = try decide(D.self, given: given + first + early, when: .tick(now: Self.at(179), runGoing: false))
        #expect(caughtUp.compactMap { if case .scheduleTriggered(let e) = $0 { e.slotTime.date } else { nil } } == [Self.at(120)], "\(caughtUp)")
        #expect(D.fold(given + first + early + caughtUp).nextRunAt == Self.at(240))
        // While a run goes (overlap: skip) the call is recorded as a skip; the window bounds the slots it may name.
        let skipped = try decide(D.self, given: given, when: .webhook(slot: Self.at(60), now: Self.at(60), runGoing: true))
        guard case .scheduleSlotSkipped(let skip) = skipped.first else { Issue.record("\(skipped)"); return }
        #expect(skip.trigger == .webhook && skip.reason == .overlap)
        #expect(throws: CommandRejected.self) {
            try decide(D.self, given: given, when: .webhook(slot: Self.at(-120), now: Self.at(0), runGoing: false))
        }
        #expect(throws: CommandRejected.self) {
            try decide(D.self, given: given, when: .webhook(slot: Self.at(10), now: Self.at(0), runGoing: false))
        }
    }

    @Test(arguments: [OverlapPolicy.skip, .queueOne, .allow])
    func aSlotWhileTheLastRunIsGoing(_ overlap: OverlapPolicy) throws {
        let given = try history(D.self, [Self.create(.hourly, overlap: overlap)])
        let events = try decide(D.self, given: given, when: .tick(now: Self.at(60), runGoing: true))
        switch overlap {
        case .skip:
            guard case .scheduleSlotSkipped(let skipped) = events.first else { Issue.record("\(events)"); return }
            #expect(skipped.reason == .overlap)
        case .queueOne:
            #expect(events.isEmpty, "the slot waits")
            let released = try decide(D.self, given: given, when: .tick(now: Self.at(65), runGoing: false))
            #expect(kinds(released) == ["ScheduleTriggered"])
            // Two slots due while waiting: only the newest waits, the older is skipped.
            let two = try decide(D.self, given: given, when: .tick(now: Self.at(125), runGoing: true))
            #expect(kinds(two) == ["ScheduleSlotSkipped"])
        default:
            #expect(kinds(events) == ["ScheduleTriggered"])
        }
    }

    @Test func pauseRecordsItsSlotsAsSkippedAndResumeDoesNotReplayThem() throws {
        let given = try history(D.self, [Self.create(.hourly), .pause(actor: "t", reason: "holiday")])
        #expect(try decide(D.self, given: given, when: .tick(now: Self.at(300), runGoing: false)).isEmpty, "paused")
        let resumed = try decide(D.self, given: given, when: .resume(actor: "t", now: Self.at(250)))
        #expect(kinds(resumed) == ["ScheduleSlotSkipped", "ScheduleSlotSkipped", "ScheduleSlotSkipped", "ScheduleSlotSkipped", "ScheduleResumed"])
        guard case .scheduleSlotSkipped(let skipped) = resumed.first else { return }
        #expect(skipped.reason == .paused)
        #expect(D.fold(given + resumed).nextRunAt == Self.at(300))
        #expect(try decide(D.self, given: given + resumed, when: .tick(now: Self.at(260), runGoing: false)).isEmpty)
    }

    @Test(arguments: [0, 0.15])
    func aOnceScheduleCompletesAfterItsRunStarts(fraction: Double) throws {
        // A time with a fraction of a second fires at its whole second, once.
        let given = try history(D.self, [Self.create(.once, onceAt: Self.at(30).addingTimeInterval(fraction))])
        let events = try decide(D.self, given: given, when: .tick(now: Self.at(31), runGoing: false))
        #expect(kinds(events) == ["ScheduleTriggered", "ScheduleCompleted"])
        #expect(D.fold(given + events).status == .completed)
    }

    @Test func aManualTriggerObeysOverlapUnlessForcedAndOutcomesCountOnce() throws {
        let given = try history(D.self, [Self.create()])
        expectRejection(
            D.self, given: given, when: .trigger(actor: "t", now: Self.at(5), force: false, runGoing: true), kind: .conflict, field: "force")
        let forced = try decide(D.self, given: given, when: .trigger(actor: "t", now: Self.at(5), force: true, runGoing: true))
        guard case .scheduleTriggered(let manual) = forced.first else { Issue.record("\(forced)"); return }
        #expect(manual.trigger == .manual && manual.triggeredBy == "t")
        #expect(D.fold(given + forced).nextRunAt == Self.at(60), "a manual run leaves the timer's next slot")
        let outcome = D.Command.recordOutcome(runID: "recs-3", slot: Self.at(5), outcome: .succeeded, error: "", finishedAt: Self.at(20))
        let recorded = try decide(D.self, given: given + forced, when: outcome)
        #expect(kinds(recorded) == ["ScheduleRunOutcomeRecorded"])
        #expect(try decide(D.self, given: given + forced + recorded, when: outcome).isEmpty, "a redelivered end counts once")
    }

    static let refusals: [Refusal] = [
        Refusal(name: "created twice", given: [create()], when: create(), kind: .conflict, field: nil),
        Refusal(
            name: "an hourly schedule with an hour", given: [],
            when: .create(
                D.NewSchedule(
                    id: "sch-2", modelName: "recs", name: "h", timing: ScheduleRule(kind: .hourly, hour: 5, minute: 30), config: .init(),
                    createdBy: "t", now: t0)),
            kind: .invalid, field: "schedule_time"),
        Refusal(
            name: "day 32", given: [],
            when: .create(
                D.NewSchedule(
                    id: "sch-2", modelName: "recs", name: "m", timing: ScheduleRule(kind: .monthly, hour: 1, dayOfMonth: 32), config: .init(),
                    createdBy: "t", now: t0
                )),
            kind: .invalid, field: "schedule_day_of_month"),
        Refusal(
            name: "once in the past", given: [],
            when: .create(
                D.NewSchedule(
                    id: "sch-2", modelName: "recs", name: "o", timing: ScheduleRule(kind: .once, onceAt: at(-5)), config: .init(), createdBy: "t",
                    now: t0)),
            kind: .invalid, field: "scheduled_datetime"),
        Refusal(
            name: "pause a paused one", given: [create(), .pause(actor: "t", reason: "")], when: .pause(actor: "t", reason: ""), kind: .conflict,
            field: nil),
        Refusal(name: "resume an active one", given: [create()], when: .resume(actor: "t", now: t0), kind: .conflict, field: nil),
        Refusal(
            name: "anything after delete", given: [create(), .delete(actor: "t")], when: .pause(actor: "t", reason: ""), kind: .notFound, field: nil),
    ]

    @Test(arguments: refusals)
    func refused(_ refusal: Refusal) throws {
        try expectRejection(refusal)
    }
}
