import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// An endpoint's scheduled check (the spec's Phase 4): an endpoint test every `interval`, pausable. The check's
/// aggregate id is its endpoint's name (one check per endpoint). Its slots are `next_run_at`, then every interval
/// after the slot that came; a slot whose previous test is still running is skipped and recorded, once.
public enum ScheduledCheckDecider: Decider {
    public enum Command: Sendable {
        case configure(CheckSettings, actor: String, now: Date)
        /// `slot` came and could not run: `runningTestID` was still running, or nothing served the endpoint.
        case skip(slot: Date, runningTestID: String, reason: String)
    }

    public struct CheckSettings: Sendable, Equatable {
        public var endpoint: String
        public var enabled: Bool
        public var intervalSeconds: Int
        public var sampleCount: Int

        public init(endpoint: String, enabled: Bool, intervalSeconds: Int, sampleCount: Int) {
            self.endpoint = endpoint
            self.enabled = enabled
            self.intervalSeconds = intervalSeconds
            self.sampleCount = sampleCount
        }
    }

    /// A minute to a day: the spec checks production endpoints every 15 minutes.
    public static let intervalSeconds = 60...86_400
    public static let defaultIntervalSeconds = 900

    public struct State: Sendable {
        public var configured: ScheduledCheckConfigured?
        /// Slots skipped already (a second replica deciding the same slot records nothing).
        public var skipped: Set<Date> = []
    }

    public static let aggregateType = "ScheduledCheck"
    public static let initial = State()

    public static func decide(_ command: Command, _ state: State) throws -> [TestingEvent] {
        switch command {
        case .configure(let settings, let actor, let now):
            guard intervalSeconds.contains(settings.intervalSeconds) else {
                throw CommandRejected(field: "interval_minutes", "interval_minutes must be 1 to 1440 (a day)")
            }
            guard EndpointTestDecider.Limits.sampleCount.contains(settings.sampleCount) else {
                throw CommandRejected(field: "sample_count", "sample_count must be 1 to 1000")
            }
            var configured = ScheduledCheckConfigured()
            configured.checkID = settings.endpoint
            configured.endpointID = settings.endpoint
            configured.enabled = settings.enabled
            configured.intervalSeconds = Int32(settings.intervalSeconds)
            configured.sampleCount = Int32(settings.sampleCount)
            configured.checks = [.health, .sampleExtraction, .prediction, .validation, .latency]
            configured.configuredBy = actor
            // The first check one interval from now (whole seconds), so turning checks on does not fire one at once.
            if settings.enabled {
                configured.nextRunAt = .init(date: Date(timeIntervalSince1970: floor(now.timeIntervalSince1970) + Double(settings.intervalSeconds)))
            }
            return [.scheduledCheckConfigured(configured)]

        case .skip(let slot, let runningTestID, let reason):
            guard let configured = state.configured else { throw CommandRejected(.notFound, "no scheduled check") }
            guard configured.enabled, !state.skipped.contains(slot) else { return [] }
            var skipped = ScheduledCheckSkipped()
            skipped.checkID = configured.checkID
            skipped.endpointID = configured.endpointID
            skipped.slotTime = .init(date: slot)
            skipped.runningTestID = runningTestID
            skipped.reason = reason
            skipped.nextRunAt = .init(date: slot.addingTimeInterval(Double(configured.intervalSeconds)))
            return [.scheduledCheckSkipped(skipped)]
        }
    }

    public static func evolve(_ state: State, _ event: TestingEvent) -> State {
        var state = state
        switch event {
        case .scheduledCheckConfigured(let e): state.configured = e
        case .scheduledCheckSkipped(let e): state.skipped.insert(e.slotTime.date)
        case .endpointTestStarted, .endpointTestCompleted, .loadTestStarted, .loadTestCancelRequested, .loadTestFinished:
            break  // another aggregate's
        }
        return state
    }
}
