import Foundation
import PostgresNIO
import RegistryCore
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

/// Commands through a real event store with the registry's read model, and training events through
/// the training projection with its reactions, against the PostgreSQL `scripts/test` started.
@Suite("Registry read model and training reactions", .serialized, .timeLimit(.minutes(2)))
struct RegistryIntegrationTests {
    @Test("commands land in registered_models, model_versions and model_aliases")
    func readModelRows() async throws {
        try await withRegistry { registry in
            let store = registry.store
            try await store.execute(
                RegisteredModelDecider.self, aggregateID: "recs",
                command: .create(.init(name: "recs", modelType: .ranking, description: "d", createdBy: "t")),
                metadata: CommandMetadata())
            var run = RegisteredModelDecider.CompletedRun(
                modelName: "recs", modelType: .ranking, runID: "run-1", runNumber: 7, artifactURI: "file:///m1", metrics: ["rmse": 0.9, "bad": .nan],
                blessed: true, datasetID: "ds", featureConfigID: "fc", modelConfigID: "mc", scheduleID: "sch-1")
            try await store.execute(
                RegisteredModelDecider.self, aggregateID: "recs",
                command: .registerVersion(run, versionID: "00000000-0000-7000-8000-000000000001", force: false), metadata: CommandMetadata())
            run.runID = "run-2"
            run.blessed = false
            try await store.execute(
                RegisteredModelDecider.self, aggregateID: "recs",
                command: .registerVersion(run, versionID: "00000000-0000-7000-8000-000000000002", force: true), metadata: CommandMetadata())
            try await store.execute(
                RegisteredModelDecider.self, aggregateID: "recs", command: .setAlias(alias: "champion", versionNumber: 1, setBy: ""),
                metadata: CommandMetadata())
            try await store.execute(
                RegisteredModelDecider.self, aggregateID: "recs", command: .setAlias(alias: "challenger", versionNumber: 2, setBy: ""),
                metadata: CommandMetadata())
            try await store.execute(
                RegisteredModelDecider.self, aggregateID: "recs", command: .deleteAlias(alias: "challenger", deletedBy: ""),
                metadata: CommandMetadata())

            #expect(try await registry.count("SELECT count(*) FROM model_versions WHERE model_name = 'recs'") == 2)
            #expect(try await registry.count("SELECT count(*) FROM model_aliases") == 1)
            let model = try #require(try await registry.queries.model("recs"))
            #expect(model.status == .idle)
            #expect(model.totalVersions == 2)
            #expect(model.isRegistered)
            #expect(model.blessed == false)  // the latest version was forced through
            #expect(model.aliases == ["champion": 1])
            #expect(model.latestVersion?.version == 2)
            #expect(model.latestVersion?.status == "not_blessed")
            #expect(model.firstRegisteredAt != nil)

            let v1 = try #require(try await registry.queries.version(of: "recs", number: 1))
            #expect(v1.aliases == ["champion"])
            #expect(v1.metrics == ["rmse": 0.9])  // NaN cannot be stored in jsonb; the event keeps it
            #expect(v1.runNumber == 7)
            #expect(v1.lineage.scheduleID == "sch-1")
            #expect(v1.lineage.parentVersionID == nil)
            #expect(try await registry.queries.version(of: "recs", number: 2)?.lineage.parentVersionID == v1.id)

            // The read model derives from the events alone: a replay rebuilds the same rows.
            let report = try await Replayer.replay(RegistryReadModel(), from: store, verify: true, logger: TestInfrastructure.logger)
            #expect(report.verified == true, "\(report.tables)")
        }
    }

    @Test("training runs: created makes the model pending, blessed completions become v1 and v2, redelivery adds nothing")
    func trainingReactions() async throws {
        try await withRegistry { registry in
            var feed = EventFeedBuilder(service: "training")
            let created = try feed.envelope(
                TrainingEvents.created(runID: "run-1", model: "recs", runNumber: 1), aggregateType: "TrainingRun", aggregateID: "run-1")
            try await registry.apply([created], to: registry.training)
            let pending = try #require(try await registry.queries.model("recs"))
            #expect(pending.status == .pending)
            #expect(pending.totalVersions == 0)
            #expect(pending.latestVersion == nil)
            #expect(try await registry.eventTypes(of: "recs") == ["RegisteredModelCreated"])

            let completed1 = try feed.envelope(
                TrainingEvents.completed(runID: "run-1", model: "recs", runNumber: 1, blessed: true, recall: 0.35), aggregateType: "TrainingRun",
                aggregateID: "run-1")
            try await registry.apply([completed1], to: registry.training)
            let v1 = try #require(try await registry.queries.model("recs")?.latestVersion)
            #expect(v1.version == 1)
            #expect(v1.sourceRunID == "run-1")
            #expect(v1.metrics["recall_at_100"] == 0.35)
            #expect(v1.lineage.datasetID == "ds-1")
            #expect(v1.lineage.artifacts["statistics"] == "file:///artifacts/run-1/stats.json")

            let second = try feed.run("run-2", model: "recs", number: 2, blessed: true, recall: 0.4)
            try await registry.apply(second, to: registry.training)
            let model = try #require(try await registry.queries.model("recs"))
            #expect(model.totalVersions == 2)
            #expect(model.latestVersion?.version == 2)
            #expect(model.latestVersion?.lineage.parentVersionID == v1.id)
            #expect(model.status == .idle)

            // At-least-once delivery: the same events again change nothing.
            let eventsBefore = try await registry.count("SELECT count(*) FROM slipway.events")
            try await registry.apply([created, completed1] + second, to: registry.training)
            #expect(try await registry.count("SELECT count(*) FROM slipway.events") == eventsBefore)
            #expect(try await registry.count("SELECT count(*) FROM model_versions") == 2)
            #expect(try await registry.eventTypes(of: "recs") == ["RegisteredModelCreated", "ModelVersionRegistered", "ModelVersionRegistered"])
        }
    }

    @Test("a not-blessed run registers nothing and makes a model without versions not_blessed")
    func notBlessedRun() async throws {
        try await withRegistry { registry in
            var feed = EventFeedBuilder(service: "training")
            try await registry.apply(try feed.run("run-1", model: "ranker", number: 1, blessed: false), to: registry.training)
            let model = try #require(try await registry.queries.model("ranker"))
            #expect(model.status == .notBlessed)
            #expect(model.totalVersions == 0)
            #expect(try await registry.count("SELECT count(*) FROM model_versions") == 0)
            #expect(try await registry.trainingRunStatus("run-1") == "not_blessed")
        }
    }

    @Test("a blessed run that asked to skip auto-registration waits for a push")
    func skipAutoRegister() async throws {
        try await withRegistry { registry in
            var feed = EventFeedBuilder(service: "training")
            let events = [
                try feed.envelope(
                    TrainingEvents.created(runID: "run-1", model: "recs", runNumber: 1, skipAutoRegister: true), aggregateType: "TrainingRun",
                    aggregateID: "run-1"),
                try feed.envelope(
                    TrainingEvents.completed(runID: "run-1", model: "recs", runNumber: 1, blessed: true, skipAutoRegister: true),
                    aggregateType: "TrainingRun", aggregateID: "run-1"),
            ]
            try await registry.apply(events, to: registry.training)
            #expect(try await registry.count("SELECT count(*) FROM model_versions") == 0)
            let run = try #require(try await registry.queries.trainingRun("run-1"))
            #expect(run.status == .completed)
            #expect(run.skipAutoRegister)
            #expect(try await registry.queries.model("recs")?.status == .pending)
        }
    }

    @Test("failed and cancelled runs are recorded and register nothing")
    func failedRuns() async throws {
        try await withRegistry { registry in
            var feed = EventFeedBuilder(service: "training")
            var failed = TrainingRunFailed()
            failed.runID = "run-1"
            failed.error = "out of memory"
            var cancelled = TrainingRunCancelled()
            cancelled.runID = "run-2"
            try await registry.apply(
                [
                    try feed.envelope(
                        TrainingEvents.created(runID: "run-1", model: "recs", runNumber: 1), aggregateType: "TrainingRun", aggregateID: "run-1"),
                    try feed.envelope(failed, aggregateType: "TrainingRun", aggregateID: "run-1"),
                    try feed.envelope(
                        TrainingEvents.created(runID: "run-2", model: "recs", runNumber: 2), aggregateType: "TrainingRun", aggregateID: "run-2"),
                    try feed.envelope(cancelled, aggregateType: "TrainingRun", aggregateID: "run-2"),
                ], to: registry.training)
            #expect(try await registry.trainingRunStatus("run-1") == "failed")
            #expect(try await registry.trainingRunStatus("run-2") == "cancelled")
            #expect(try await registry.queries.model("recs")?.status == .pending)
        }
    }

    @Test("a name the registry cannot accept is skipped, not retried forever")
    func rejectedReaction() async throws {
        try await withRegistry { registry in
            var feed = EventFeedBuilder(service: "training")
            try await registry.apply(try feed.run("run-1", model: "Bad Name", number: 1, blessed: true), to: registry.training)
            #expect(try await registry.count("SELECT count(*) FROM slipway.events") == 0)
            #expect(try await registry.trainingRunStatus("run-1") == "completed")
        }
    }

    @Test("a replay of the training projection into a scratch schema does not command")
    func replayDoesNotReact() async throws {
        try await withRegistry { registry in
            var feed = EventFeedBuilder(service: "training")
            let events = try feed.run("run-1", model: "recs", number: 1, blessed: true)
            let training = registry.training
            try await registry.client.withTransaction(logger: TestInfrastructure.logger) { connection in
                try await Migrator.createFresh(training.migrations, schema: "replay_training_test", on: connection, logger: TestInfrastructure.logger)
            }
            try await registry.apply(events, to: training, schema: "replay_training_test")
            #expect(try await registry.count("SELECT count(*) FROM replay_training_test.training_runs_seen") == 1)
            #expect(try await registry.count("SELECT count(*) FROM slipway.events") == 0)
        }
    }

    @Test("schedule events give a model has_schedule and schedule_id until cancelled or deleted")
    func schedules() async throws {
        try await withRegistry { registry in
            try await registry.store.execute(
                RegisteredModelDecider.self, aggregateID: "recs", command: .create(.init(name: "recs", modelType: .retrieval, createdBy: "t")),
                metadata: CommandMetadata())
            var feed = EventFeedBuilder(service: "schedule")
            var created = ScheduleCreated()
            created.scheduleID = "sch-1"
            created.registeredModelID = "recs"
            created.modelName = "recs"
            created.name = "nightly"
            try await registry.apply([try feed.envelope(created, aggregateType: "TrainingSchedule", aggregateID: "sch-1")], to: registry.schedules)
            var model = try #require(try await registry.queries.model("recs"))
            #expect(model.hasSchedule)
            #expect(model.scheduleID == "sch-1")
            #expect(model.scheduleStatus == "active")

            var cancelled = ScheduleCancelled()
            cancelled.scheduleID = "sch-1"
            try await registry.apply([try feed.envelope(cancelled, aggregateType: "TrainingSchedule", aggregateID: "sch-1")], to: registry.schedules)
            model = try #require(try await registry.queries.model("recs"))
            #expect(!model.hasSchedule)
            #expect(model.scheduleID == nil)

            var deleted = ScheduleDeleted()
            deleted.scheduleID = "sch-1"
            try await registry.apply([try feed.envelope(deleted, aggregateType: "TrainingSchedule", aggregateID: "sch-1")], to: registry.schedules)
            #expect(try await registry.count("SELECT count(*) FROM model_schedules") == 0)
        }
    }
}

extension RegistryHarness {
    func trainingRunStatus(_ runID: String) async throws -> String? {
        try await queries.trainingRun(runID)?.status.rawValue
    }
}
