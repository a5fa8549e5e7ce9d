import Foundation
import Logging
import PostgresNIO
import SlipwayContracts
import SlipwayEventSourcing

/// training-svc's reaction to schedule-svc's `ScheduleTriggered`: the slot's run, created with the schedule's frozen
/// configuration (status `scheduled`, `schedule_id` and the slot on it) and submitted at once.
///
/// Exactly one run per slot: the read model's unique index on (schedule, slot), updated in the creation's own
/// transaction, refuses a second run however the trigger is redelivered (a batch applied again after a crash, two
/// replicas); a run the read model already shows is not even attempted. Reactions run inside `apply` on the live
/// schema only (a replay commands nothing), like registry-svc's.
public struct ScheduleTriggers: Projection {
    public let name = "schedule_triggers"
    let creation: RunCreation

    init(creation: RunCreation) {
        self.creation = creation
    }

    /// No rows of its own: the runs are training-svc's read model.
    public var migrations: [Migration] { [] }

    public func apply(_ events: [Recorded<ScheduleEvent>], on connection: PostgresConnection, logger: Logger) async throws {
        var triggers: [Recorded<ScheduleEvent>] = []
        for recorded in events {
            switch recorded.event {
            case .scheduleTriggered: triggers.append(recorded)
            case .scheduleCreated, .scheduleUpdated, .schedulePaused, .scheduleResumed, .scheduleCancelled, .scheduleDeleted,
                .scheduleSlotSkipped, .scheduleCompleted, .scheduleRunOutcomeRecorded, .scheduleWebhookSecretRotated:
                continue  // only a trigger starts a run
            }
        }
        guard !triggers.isEmpty, try await connection.isLiveSchema(logger: logger) else { return }
        for recorded in triggers {
            guard case .scheduleTriggered(let trigger) = recorded.event else { continue }
            try await start(trigger, recorded, logger: logger)
        }
    }

    private func start(_ trigger: ScheduleTriggered, _ recorded: Recorded<ScheduleEvent>, logger: Logger) async throws {
        let queries = creation.queries
        let slot = trigger.slotTime.date
        if try await queries.scheduledRun(scheduleID: trigger.scheduleID, slot: slot) != nil { return }  // started already
        var config = try TrainingRunConfig(serializedBytes: trigger.trainingConfig)
        // Where the trainer runs is this installation's to say, unless the schedule's runs report from outside.
        if config.executor != Executors.external { config.executor = creation.settings.executor }
        let catalog = try await queries.catalog(
            datasets: [config.datasetID], featureConfigs: [config.featureConfigID], modelConfigs: [config.modelConfigID])
        let metadata = CommandMetadata(reactingTo: recorded, reactor: "training-svc")
        do {
            _ = try await creation.create(model: trigger.modelName, submit: true, metadata: metadata) { number, submission in
                .createScheduled(
                    .init(
                        model: trigger.modelName, number: number, config: config, scheduleID: trigger.scheduleID, slot: slot, catalog: catalog,
                        submission: submission))
            }
        } catch let rejected as CommandRejected {
            // A configuration this service can no longer run (it names what does not exist): no retry will change that.
            logger.warning(
                "scheduled run not created", metadata: [LogKey.aggregateID: "\(trigger.scheduleID)", LogKey.error: "\(rejected.message)"])
        } catch {
            // The slot's run may have been created by another replica meanwhile (the unique index): then all is well.
            if try await queries.scheduledRun(scheduleID: trigger.scheduleID, slot: slot) != nil { return }
            throw error  // infrastructure: the projector retries the batch
        }
    }

}
