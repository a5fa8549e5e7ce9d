import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// A retraining schedule of one registered model: its timing and policies, the training configuration frozen
/// when it was made, and the fate of every slot. The timer's `tick` fires a due slot exactly once — the slot is
/// in the aggregate's history, so a second replica or a restarted one deciding the same slot finds it handled —
/// or skips it with a reason (too late for the catch-up window, or a run still going). The aggregate id is
/// the schedule's id.
public enum TrainingScheduleDecider: Decider {
    public enum Command: Sendable {
        case create(NewSchedule)
        case update(ScheduleChange, actor: String, now: Date)
        case pause(actor: String, reason: String)
        case resume(actor: String, now: Date)
        case cancel(actor: String, reason: String)
        case delete(actor: String)
        /// The timer at `now`: every slot due by then fires or is skipped. `runGoing`: a run this schedule started
        /// has not ended (training-svc's events say so).
        case tick(now: Date, runGoing: Bool)
        /// "Run now": fires at `now` whatever the timing; the overlap policy holds unless `force`.
        case trigger(actor: String, now: Date, force: Bool, runGoing: Bool)
        /// A run the schedule started, for `slot`, ended (training-svc's events).
        case recordOutcome(runID: String, slot: Date, outcome: ScheduleRunOutcome, error: String, finishedAt: Date)
        /// An external scheduler's call for `slot` (its own schedule time, whole seconds): the slot starts a run once,
        /// however often the call comes and whether or not the timer fires the same slot; the overlap policy holds.
        case webhook(slot: Date, now: Date, runGoing: Bool)
        /// A new webhook secret; the old one stops working.
        case rotateWebhookSecret(actor: String)
    }

    public struct Policies: Sendable, Equatable {
        /// A slot missed by at most this fires late; an older one is skipped.
        public var catchupWindowSeconds: Int64 = 3600
        public var overlap: OverlapPolicy = .skip

        public init(catchupWindowSeconds: Int64 = 3600, overlap: OverlapPolicy = .skip) {
            self.catchupWindowSeconds = catchupWindowSeconds
            self.overlap = overlap
        }
    }

    public struct NewSchedule: Sendable {
        public var id: String
        public var modelName: String
        public var name: String
        public var description: String
        public var timing: ScheduleRule
        public var policies: Policies
        public var config: TrainingRunConfig
        public var sourceRunID: String
        public var createdBy: String
        public var now: Date

        public init(
            id: String, modelName: String, name: String, description: String = "", timing: ScheduleRule, policies: Policies = .init(),
            config: TrainingRunConfig, sourceRunID: String = "", createdBy: String, now: Date
        ) {
            self.id = id
            self.modelName = modelName
            self.name = name
            self.description = description
            self.timing = timing
            self.policies = policies
            self.config = config
            self.sourceRunID = sourceRunID
            self.createdBy = createdBy
            self.now = now
        }
    }

    /// What `PUT` may change; nil keeps it. The training configuration is frozen.
    public struct ScheduleChange: Sendable {
        public var name: String?
        public var description: String?
        public var timing: ScheduleRule?
        public var policies: Policies?

        public init(name: String? = nil, description: String? = nil, timing: ScheduleRule? = nil, policies: Policies? = nil) {
            self.name = name
            self.description = description
            self.timing = timing
            self.policies = policies
        }
    }

    public enum Status: String, Sendable {
        case active, paused, completed, cancelled
    }

    public struct State: Sendable {
        public var created: ScheduleCreated?
        public var timing: ScheduleRule?
        public var policies = Policies()
        public var status = Status.active
        public var deleted = false
        /// The next slot the timer waits for; nil when none is left (or not active).
        public var nextRunAt: Date?
        /// Runs whose end is recorded.
        public var ended: Set<String> = []
        /// Slots already started or skipped, by any trigger: the timer passes over them and a webhook call for one
        /// starts nothing.
        public var handled: Set<Date> = []
        /// The generation of the webhook secret (`ScheduleWebhookAuth`).
        public var webhookGeneration: Int64 = 1

        var exists: Bool { created != nil && !deleted }
    }

    public static let aggregateType = "TrainingSchedule"
    public static let initial = State()

    /// Most slots one decision records as skipped: a schedule-svc down for a month with an hourly schedule records
    /// the newest ones and one event for the rest, never a burst of thousands.
    static let maxSkipsRecorded = 100

    /// How far ahead of schedule-svc's clock an external scheduler's slot may be.
    static let webhookClockSkew: TimeInterval = 300

    /// The first slot after `instant` that no trigger has handled yet.
    static func nextSlot(after instant: Date, _ timing: ScheduleRule, skipping handled: Set<Date>) -> Date? {
        var next = ScheduleCalendar.nextSlot(after: instant, timing)
        while let slot = next, handled.contains(slot) { next = ScheduleCalendar.nextSlot(after: slot, timing) }
        return next
    }

    public static func decide(_ command: Command, _ state: State) throws -> [ScheduleEvent] {
        if case .create(let new) = command {
            guard state.created == nil else { throw CommandRejected(.conflict, "schedule \(new.id) already exists") }
            try validate(name: new.name, timing: new.timing, policies: new.policies, now: new.now)
            var created = ScheduleCreated()
            created.scheduleID = new.id
            created.registeredModelID = new.modelName
            created.modelName = new.modelName
            created.name = new.name.trimmingCharacters(in: .whitespaces)
            created.descriptionText = new.description
            created.timing = proto(new.timing)
            created.policies = proto(new.policies)
            created.trainingConfig = try new.config.serializedBytes()
            created.sourceRunID = new.sourceRunID
            created.createdBy = new.createdBy
            if let next = ScheduleCalendar.nextSlot(after: new.now, new.timing) { created.nextRunAt = .init(date: next) }
            return [.scheduleCreated(created)]
        }
        guard state.exists, let created = state.created, let timing = state.timing else {
            throw CommandRejected(.notFound, "no such schedule")
        }
        let id = created.scheduleID
        switch command {
        case .create:
            return []  // decided above

        case .update(let change, let actor, let now):
            guard state.status == .active || state.status == .paused else {
                throw CommandRejected(.conflict, "schedule \(id) is \(state.status.rawValue); only an active or paused one can change")
            }
            let newTiming = change.timing ?? timing
            let newPolicies = change.policies ?? state.policies
            let name = change.name ?? created.name
            try validate(name: name, timing: newTiming, policies: newPolicies, now: now)
            var updated = ScheduleUpdated()
            updated.scheduleID = id
            updated.name = name.trimmingCharacters(in: .whitespaces)
            updated.descriptionText = change.description ?? created.descriptionText
            updated.timing = proto(newTiming)
            updated.policies = proto(newPolicies)
            updated.updatedBy = actor
            updated.updatedFields = [
                change.name.map { _ in "name" }, change.description.map { _ in "description" }, change.timing.map { _ in "timing" },
                change.policies.map { _ in "policies" },
            ].compactMap { $0 }
            if state.status == .active, let next = nextSlot(after: now, newTiming, skipping: state.handled) { updated.nextRunAt = .init(date: next) }
            return [.scheduleUpdated(updated)]

        case .pause(let actor, let reason):
            guard state.status == .active else { throw CommandRejected(.conflict, "schedule \(id) is \(state.status.rawValue), not active") }
            var paused = SchedulePaused()
            paused.scheduleID = id
            paused.pausedBy = actor
            paused.reason = reason
            return [.schedulePaused(paused)]

        case .resume(let actor, let now):
            guard state.status == .paused else { throw CommandRejected(.conflict, "schedule \(id) is \(state.status.rawValue), not paused") }
            // The slots of the pause are recorded as skipped, never fired now.
            var events = skips(
                from: state.nextRunAt, through: now, timing, reason: .paused, detail: "the schedule was paused", id: id, handled: state.handled)
            var resumed = ScheduleResumed()
            resumed.scheduleID = id
            resumed.resumedBy = actor
            if let next = nextSlot(after: now, timing, skipping: state.handled) { resumed.nextRunAt = .init(date: next) }
            events.append(.scheduleResumed(resumed))
            return events

        case .cancel(let actor, let reason):
            guard state.status == .active || state.status == .paused else {
                throw CommandRejected(.conflict, "schedule \(id) is already \(state.status.rawValue)")
            }
            var cancelled = ScheduleCancelled()
            cancelled.scheduleID = id
            cancelled.cancelledBy = actor
            cancelled.reason = reason
            return [.scheduleCancelled(cancelled)]

        case .delete(let actor):
            var deleted = ScheduleDeleted()
            deleted.scheduleID = id
            deleted.deletedBy = actor
            return [.scheduleDeleted(deleted)]

        case .tick(let now, var runGoing):
            guard state.status == .active, var slot = state.nextRunAt, slot <= now else { return [] }
            var events: [ScheduleEvent] = []
            // Slots too old to fire: skipped, the newest of them one by one.
            let oldest = now.addingTimeInterval(-Double(state.policies.catchupWindowSeconds))
            if slot < oldest {
                events += skips(
                    from: slot, through: oldest.addingTimeInterval(-1), timing, reason: .catchup, detail: "missed by more than the catch-up window",
                    id: id, handled: state.handled)
                guard let next = nextSlot(after: oldest.addingTimeInterval(-1), timing, skipping: state.handled) else {
                    return events + completion(id, timing)
                }
                slot = next
            }
            while slot <= now {
                let following = nextSlot(after: slot, timing, skipping: state.handled)
                if runGoing && state.policies.overlap != .allow {
                    if state.policies.overlap == .queueOne, following.map({ $0 > now }) ?? true {
                        break  // the newest due slot waits for the run to end (or for the catch-up window to pass)
                    }
                    events.append(.scheduleSlotSkipped(skip(id, slot, .overlap, "the schedule's previous run was still going", next: following)))
                } else {
                    events.append(.scheduleTriggered(fire(created, slot: slot, now: now, trigger: .timer, actor: "", next: following)))
                    runGoing = true
                }
                guard let following, following > slot else { return events + completion(id, timing) }
                slot = following
            }
            return events

        case .trigger(let actor, let now, let force, let runGoing):
            guard state.status == .active || state.status == .paused else {
                throw CommandRejected(.conflict, "schedule \(id) is \(state.status.rawValue); it starts no runs")
            }
            if !force, runGoing, state.policies.overlap != .allow {
                throw CommandRejected(
                    .conflict, field: "force",
                    "a run of this schedule is still going (overlap: \(overlapName(state.policies.overlap))); pass \"force\": true to start another")
            }
            let slot = Date(timeIntervalSince1970: floor(now.timeIntervalSince1970))
            guard !state.handled.contains(slot) else { throw CommandRejected(.conflict, "a run of this schedule started this second already") }
            return [.scheduleTriggered(fire(created, slot: slot, now: now, trigger: .manual, actor: actor, next: state.nextRunAt))]

        case .webhook(let slot, let now, let runGoing):
            guard state.status == .active else {
                throw CommandRejected(.conflict, "schedule \(id) is \(state.status.rawValue); its webhook starts no runs")
            }
            let window = Double(max(state.policies.catchupWindowSeconds, 3600))
            guard slot >= now.addingTimeInterval(-window), slot <= now.addingTimeInterval(webhookClockSkew) else {
                throw CommandRejected(
                    field: "slot_time",
                    "slot_time must be within \(Int(window)) s before now (the catch-up window, at least an hour) and \(Int(webhookClockSkew)) s after"
                )
            }
            guard !state.handled.contains(slot) else { return [] }  // a repeated call: the slot was started or skipped
            // A call for the timer's next slot stands for it: the timer moves on.
            let isTimerSlot = slot == state.nextRunAt
            let next = isTimerSlot ? nextSlot(after: slot, timing, skipping: state.handled) : state.nextRunAt
            var events: [ScheduleEvent]
            if runGoing && state.policies.overlap != .allow {
                var skipped = skip(id, slot, .overlap, "the schedule's previous run was still going", next: next)
                skipped.trigger = .webhook
                events = [.scheduleSlotSkipped(skipped)]
            } else {
                events = [.scheduleTriggered(fire(created, slot: slot, now: now, trigger: .webhook, actor: "webhook", next: next))]
            }
            if isTimerSlot, next == nil { events += completion(id, timing) }
            return events

        case .rotateWebhookSecret(let actor):
            var rotated = ScheduleWebhookSecretRotated()
            rotated.scheduleID = id
            rotated.generation = state.webhookGeneration + 1
            rotated.rotatedBy = actor
            return [.scheduleWebhookSecretRotated(rotated)]

        case .recordOutcome(let runID, let slot, let outcome, let error, let finishedAt):
            guard !state.ended.contains(runID) else { return [] }  // recorded already
            var recorded = ScheduleRunOutcomeRecorded()
            recorded.scheduleID = id
            recorded.runID = runID
            recorded.slotTime = .init(date: slot)
            recorded.outcome = outcome
            recorded.error = error
            recorded.finishedAt = .init(date: finishedAt)
            return [.scheduleRunOutcomeRecorded(recorded)]
        }
    }

    /// The trigger's name for the slot's run (`ScheduleTriggered.run_id`): one per schedule and slot. training-svc numbers
    /// the run itself (`<model>-<n>`) and keys it by schedule and slot, so a redelivered trigger finds it.
    public static func runID(model: String, scheduleID: String, slot: Date) -> String {
        "\(model)-\(scheduleID)-\(Int64(slot.timeIntervalSince1970))"
    }

    static func fire(
        _ created: ScheduleCreated, slot: Date, now: Date, trigger: ScheduleTriggerKind, actor: String, next: Date?
    ) -> ScheduleTriggered {
        var triggered = ScheduleTriggered()
        triggered.scheduleID = created.scheduleID
        triggered.slotTime = .init(date: slot)
        triggered.runID = runID(model: created.modelName, scheduleID: created.scheduleID, slot: slot)
        triggered.trigger = trigger
        triggered.triggeredBy = actor
        triggered.registeredModelID = created.registeredModelID
        triggered.modelName = created.modelName
        triggered.trainingConfig = created.trainingConfig
        if let next { triggered.nextRunAt = .init(date: next) }
        triggered.late = trigger == .timer && now.timeIntervalSince(slot) >= 60
        triggered.firedAt = .init(date: now)
        return triggered
    }

    static func skip(_ id: String, _ slot: Date, _ reason: SlotSkipReason, _ detail: String, next: Date?) -> ScheduleSlotSkipped {
        var skipped = ScheduleSlotSkipped()
        skipped.scheduleID = id
        skipped.slotTime = .init(date: slot)
        skipped.reason = reason
        skipped.detail = detail
        if let next { skipped.nextRunAt = .init(date: next) }
        return skipped
    }

    /// Skips of the slots from `first` through `last`: the newest `maxSkipsRecorded` one by one, the older ones as one.
    static func skips(
        from first: Date?, through last: Date, _ timing: ScheduleRule, reason: SlotSkipReason, detail: String, id: String, handled: Set<Date>
    ) -> [ScheduleEvent] {
        guard var slot = first, slot <= last else { return [] }
        var slots: [Date] = []
        var older = 0
        while slot <= last {
            slots.append(slot)
            if slots.count > maxSkipsRecorded {
                slots.removeFirst()
                older += 1
            }
            guard let next = nextSlot(after: slot, timing, skipping: handled) else { break }
            slot = next
        }
        var events: [ScheduleEvent] = []
        for (index, slot) in slots.enumerated() {
            let note = index == 0 && older > 0 ? "\(detail) (and \(older) earlier slot\(older == 1 ? "" : "s"))" : detail
            events.append(.scheduleSlotSkipped(skip(id, slot, reason, note, next: nextSlot(after: slot, timing, skipping: handled))))
        }
        return events
    }

    /// A schedule with no slot left (a `once` that fired or was skipped) completes.
    static func completion(_ id: String, _ timing: ScheduleRule) -> [ScheduleEvent] {
        var completed = ScheduleCompleted()
        completed.scheduleID = id
        return [.scheduleCompleted(completed)]
    }

    static func validate(name: String, timing: ScheduleRule, policies: Policies, now: Date) throws {
        guard (1...100).contains(name.trimmingCharacters(in: .whitespaces).count) else {
            throw CommandRejected(field: "name", "name must be 1 to 100 characters")
        }
        guard (0...59).contains(timing.minute) else { throw CommandRejected(field: "schedule_time", "the minute must be 0 to 59") }
        switch timing.kind {
        case .once:
            guard let at = timing.onceAt else { throw CommandRejected(field: "scheduled_datetime", "a once schedule needs scheduled_datetime") }
            // Slots are whole seconds: one in the current second has passed already.
            guard floor(at.timeIntervalSince1970) > floor(now.timeIntervalSince1970) else {
                throw CommandRejected(field: "scheduled_datetime", "scheduled_datetime must be in the future (a later second than now)")
            }
        case .hourly:
            guard timing.hour == 0 else {
                throw CommandRejected(field: "schedule_time", "an hourly schedule takes only a minute (\"00:MM\"), not an hour")
            }
        case .daily, .weekly, .monthly:
            guard (0...23).contains(timing.hour) else { throw CommandRejected(field: "schedule_time", "the hour must be 0 to 23") }
        }
        if timing.kind == .weekly, !(0...6).contains(timing.dayOfWeek) {
            throw CommandRejected(field: "schedule_day_of_week", "schedule_day_of_week is 0 (Monday) to 6 (Sunday)")
        }
        if timing.kind == .monthly, !(1...31).contains(timing.dayOfMonth) {
            throw CommandRejected(field: "schedule_day_of_month", "schedule_day_of_month is 1 to 31")
        }
        guard (0...7 * 86_400).contains(policies.catchupWindowSeconds) else {
            throw CommandRejected(field: "catchup_window_seconds", "catchup_window_seconds is 0 to 604800 (a week)")
        }
    }

    static func overlapName(_ overlap: OverlapPolicy) -> String {
        switch overlap {
        case .skip, .UNRECOGNIZED: "skip"
        case .queueOne: "queue_one"
        case .allow: "allow"
        }
    }

    // MARK: Timing as events carry it

    static func proto(_ timing: ScheduleRule) -> SlipwayContracts.ScheduleTiming {
        var proto = SlipwayContracts.ScheduleTiming()
        proto.type =
            switch timing.kind {
            case .once: .once
            case .hourly: .hourly
            case .daily: .daily
            case .weekly: .weekly
            case .monthly: .monthly
            }
        if let at = timing.onceAt { proto.onceAt = .init(date: at) }
        proto.hour = Int32(timing.hour)
        proto.minute = Int32(timing.minute)
        proto.dayOfWeek = Int32(timing.dayOfWeek)
        proto.dayOfMonth = Int32(timing.dayOfMonth)
        proto.timezone = timing.timeZone.identifier
        proto.monthEnd = timing.monthEnd == .lastDay ? .lastDay : .skip
        return proto
    }

    static func timing(_ proto: SlipwayContracts.ScheduleTiming) -> ScheduleRule {
        let kind: ScheduleRule.Kind =
            switch proto.type {
            case .once: .once
            case .hourly: .hourly
            case .weekly: .weekly
            case .monthly: .monthly
            case .daily, .unspecified, .UNRECOGNIZED: .daily
            }
        return ScheduleRule(
            kind: kind, onceAt: proto.hasOnceAt ? proto.onceAt.date : nil, hour: Int(proto.hour), minute: Int(proto.minute),
            dayOfWeek: Int(proto.dayOfWeek), dayOfMonth: Int(proto.dayOfMonth),
            timeZone: TimeZone(identifier: proto.timezone) ?? TimeZone(identifier: "UTC")!, monthEnd: proto.monthEnd == .lastDay ? .lastDay : .skip)
    }

    static func proto(_ policies: Policies) -> SchedulePolicies {
        var proto = SchedulePolicies()
        proto.catchupWindowSeconds = policies.catchupWindowSeconds
        proto.overlap = policies.overlap
        return proto
    }

    static func policies(_ proto: SchedulePolicies) -> Policies {
        Policies(catchupWindowSeconds: proto.catchupWindowSeconds, overlap: proto.overlap)
    }

    // MARK: Fold

    public static func evolve(_ state: State, _ event: ScheduleEvent) -> State {
        var state = state
        switch event {
        case .scheduleCreated(let e):
            state.created = e
            state.timing = timing(e.timing)
            state.policies = policies(e.policies)
            state.nextRunAt = e.hasNextRunAt ? e.nextRunAt.date : nil
        case .scheduleUpdated(let e):
            state.created?.name = e.name
            state.created?.descriptionText = e.descriptionText
            state.timing = timing(e.timing)
            state.policies = policies(e.policies)
            if state.status == .active { state.nextRunAt = e.hasNextRunAt ? e.nextRunAt.date : nil }
        case .schedulePaused:
            state.status = .paused
        case .scheduleResumed(let e):
            state.status = .active
            state.nextRunAt = e.hasNextRunAt ? e.nextRunAt.date : nil
        case .scheduleCancelled:
            state.status = .cancelled
            state.nextRunAt = nil
        case .scheduleDeleted:
            state.deleted = true
            state.nextRunAt = nil
        case .scheduleTriggered(let e):
            // Every trigger carries the timer's next slot (a manual one the unchanged one).
            state.nextRunAt = e.hasNextRunAt ? e.nextRunAt.date : nil
            state.handled.insert(e.slotTime.date)
        case .scheduleSlotSkipped(let e):
            state.nextRunAt = e.hasNextRunAt ? e.nextRunAt.date : nil
            state.handled.insert(e.slotTime.date)
        case .scheduleWebhookSecretRotated(let e):
            state.webhookGeneration = e.generation
        case .scheduleCompleted:
            state.status = .completed
            state.nextRunAt = nil
        case .scheduleRunOutcomeRecorded(let e):
            state.ended.insert(e.runID)
        }
        return state
    }
}
