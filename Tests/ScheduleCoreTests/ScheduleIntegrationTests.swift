import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

@testable import ScheduleCore

/// schedule-svc through its API on a real database, with a clock the test moves and the timer's pass run by hand.
struct ScheduleIntegrationTests {
    static let t0 = ISO8601DateFormatter().date(from: "2026-06-01T08:00:00Z")!

    /// What training-svc published: a dataset and configs, and run `recs-3` trained on them.
    static func announceTraining(_ service: TestService) async throws {
        var training = EnvelopeBuilder(service: "training")
        var dataset = DatasetRegistered()
        dataset.datasetID = "ds"
        var features = FeatureConfigCreated()
        features.featureConfigID = "fc"
        var model = ModelConfigCreated()
        model.modelConfigID = "mc"
        var run = TrainingRunCreated()
        run.runID = "recs-3"
        run.runNumber = 3
        run.modelName = "recs"
        run.config.datasetID = "ds"
        run.config.featureConfigID = "fc"
        run.config.modelConfigID = "mc"
        run.config.trainingParams.epochs = 4
        try await service.project(
            [
                try training.envelope(dataset, aggregateType: "Dataset", aggregateID: "ds"),
                try training.envelope(features, aggregateType: "FeatureConfig", aggregateID: "fc"),
                try training.envelope(model, aggregateType: "ModelConfig", aggregateID: "mc"),
                try training.envelope(run, aggregateType: "TrainingRun", aggregateID: "recs-3"),
            ], into: "scheduled_runs")
    }

    @Test func fromRunPreviewFireEditPauseResumeTriggerAndDelete() async throws {
        let clock = TestClock(start: Self.t0)
        try await withTestService(ScheduleService.definition(now: { clock.now }, reader: ScheduleWebhookTests.reader), runWorkers: false) { service in
            try await Self.announceTraining(service)
            let api = service.api
            let preview = try await api.get(
                "/api/training/schedules/preview?source_run_id=recs-3&schedule_type=daily&schedule_time=09:30&schedule_timezone=Europe/Warsaw&count=3",
                expect: .ok
            ).json()
            #expect((preview["preview"] as? [String: Any])?["dataset_id"] as? String == "ds")
            let upcoming = try #require(preview["next_runs"] as? [[String: Any]])
            #expect(upcoming.count == 3 && upcoming.first?["local"] as? String == "2026-06-02T09:30:00+02:00", "10:00 in Warsaw already: tomorrow")

            let created = try await api.post(
                "/api/training/schedules/from-run",
                #"{"source_training_run_id": "recs-3", "name": "Hourly refresh", "schedule_type": "hourly", "schedule_time": "00:15", "schedule_timezone": "Europe/Warsaw"}"#,
                expect: .created
            ).json()
            let schedule = try #require(created["schedule"] as? [String: Any])
            let id = try #require(schedule["id"] as? String)
            #expect(schedule["model_name"] as? String == "recs" && schedule["next_run_at"] as? String == "2026-06-01T08:15:00Z")
            #expect(((schedule["training_config"] as? [String: Any])?["training_params"] as? [String: Any])?["epochs"] as? Int == 4, "\(schedule)")
            // One live schedule per model.
            try await api.post(
                "/api/training/schedules/from-run",
                #"{"source_training_run_id": "recs-3", "name": "again", "schedule_type": "daily", "schedule_time": "01:00"}"#
            ).expectError(.conflict)

            let timer = ScheduleTimer(environment: service.environment, now: { clock.now })
            clock.set(minutes: 15.3)
            try await timer.fireDue(at: clock.now)
            try await timer.fireDue(at: clock.now)
            // training-svc made the slot's run (its events say so): the ledger names it.
            var training = EnvelopeBuilder(service: "training")
            var started = TrainingRunCreated()
            started.runID = "recs-4"
            started.runNumber = 4
            started.modelName = "recs"
            started.scheduleID = id
            started.scheduleSlot = .init(date: Self.t0.addingTimeInterval(15 * 60))
            try await service.project([try training.envelope(started, aggregateType: "TrainingRun", aggregateID: "recs-4")], into: "scheduled_runs")
            var shown = try await api.get("/api/training/schedules/\(id)", expect: .ok).json()
            var ledger = try #require(shown["ledger"] as? [[String: Any]])
            #expect(ledger.count == 1 && ledger.first?["outcome"] as? String == "started", "\(ledger)")
            #expect(ledger.first?["run_id"] as? String == "recs-4")
            #expect(shown["next_run_at"] as? String == "2026-06-01T09:15:00Z")
            #expect((shown["upcoming"] as? [[String: Any]])?.count == 10)

            // Edit the timing; the frozen configuration cannot change.
            let edited = try await api.put(
                "/api/training/schedules/\(id)", #"{"schedule_type": "daily", "schedule_time": "23:00", "overlap": "allow"}"#, expect: .ok
            )
            .json()
            #expect(edited["schedule_type"] as? String == "daily" && edited["overlap"] as? String == "allow")
            #expect(edited["next_run_at"] as? String == "2026-06-01T21:00:00Z")
            try await api.put("/api/training/schedules/\(id)", #"{"dataset_id": "other"}"#).expectError(.unprocessableContent, field: "dataset_id")

            // Paused over its slot, resumed after: the slot is recorded as skipped, not fired.
            try await api.post("/api/training/schedules/\(id)/pause", #"{"reason": "maintenance"}"#, expect: .ok)
            clock.set(minutes: 60 * 14)
            try await timer.fireDue(at: clock.now)
            let resumed = try await api.post("/api/training/schedules/\(id)/resume", expect: .ok).json()
            #expect(resumed["status"] as? String == "active" && resumed["next_run_at"] as? String == "2026-06-02T21:00:00Z")
            ledger = resumed["ledger"] as? [[String: Any]] ?? []
            #expect(ledger.first?["outcome"] as? String == "skipped_paused", "\(ledger)")

            let triggered = try await api.post("/api/training/schedules/\(id)/trigger", expect: .accepted).json()
            #expect((triggered["run_id"] as? String)?.isEmpty == false)
            shown = try await api.get("/api/training/schedules/\(id)", expect: .ok).json()
            #expect((shown["ledger"] as? [[String: Any]])?.first?["trigger"] as? String == "manual")

            let listed = try await api.get("/api/training/schedules?model_name=recs", expect: .ok).json()
            #expect((listed["schedules"] as? [[String: Any]])?.count == 1 && listed["total_matching"] as? Int == 1)
            // A page past the matches is empty and still counts them; a limit that is none is a 400 naming it.
            let past = try await api.get("/api/training/schedules?limit=1&offset=1", expect: .ok).json()
            #expect((past["schedules"] as? [[String: Any]])?.isEmpty == true && past["total_matching"] as? Int == 1)
            try await api.get("/api/training/schedules?limit=0").expectError(.badRequest, field: "limit")

            // The read model derives from the events alone.
            let report = try await Replayer.replay(ScheduleReadModel(), from: service.store, verify: true, logger: TestInfrastructure.logger)
            #expect(report.verified == true, "\(report.tables)")

            try await api.delete("/api/training/schedules/\(id)", expect: .noContent)
            try await api.get("/api/training/schedules/\(id)").expectError(.notFound)
            // Gone for good: the model may have a new schedule.
            try await api.post(
                "/api/training/schedules/from-run",
                #"{"source_training_run_id": "recs-3", "name": "again", "schedule_type": "daily", "schedule_time": "01:00"}"#,
                expect: .created)
        }
    }

    @Test func badSchedulesAreRefusedNamingTheFieldAndNothingIsWritten() async throws {
        try await withTestService(ScheduleService.definition(now: { Self.t0 }, reader: ScheduleWebhookTests.reader), runWorkers: false) { service in
            try await Self.announceTraining(service)
            let api = service.api
            let run = #""source_training_run_id": "recs-3", "name": "s""#
            for (body, status, field) in [
                (#"{\#(run), "schedule_type": "daily", "schedule_time": "09:00", "schedule_timezone": "Mars/Olympus"}"#, 422, "schedule_timezone"),
                (#"{\#(run), "schedule_type": "monthly", "schedule_time": "09:00", "schedule_day_of_month": 32}"#, 422, "schedule_day_of_month"),
                (#"{\#(run), "schedule_type": "hourly", "schedule_time": "05:30"}"#, 422, "schedule_time"),
                (#"{\#(run), "schedule_type": "weekly", "schedule_time": "09:00"}"#, 400, "schedule_day_of_week"),
                (#"{\#(run), "schedule_type": "weekly", "schedule_time": "09:00", "schedule_day_of_week": 7}"#, 422, "schedule_day_of_week"),
                (#"{\#(run), "schedule_type": "daily", "schedule_time": "25:00"}"#, 422, "schedule_time"),
                (#"{\#(run), "schedule_type": "daily", "schedule_time": "nine"}"#, 422, "schedule_time"),
                (#"{\#(run), "schedule_type": "yearly", "schedule_time": "09:00"}"#, 422, "schedule_type"),
                (#"{\#(run), "schedule_type": "once", "scheduled_datetime": "2020-01-01T00:00:00Z"}"#, 422, "scheduled_datetime"),
                (#"{\#(run), "schedule_type": "daily", "schedule_time": "09:00", "overlap": "sometimes"}"#, 422, "overlap"),
                (#"{\#(run), "schedule_type": "daily", "schedule_time": "09:00", "month_end": "nearest"}"#, 422, "month_end"),
                (#"{\#(run), "schedule_type": "daily", "schedule_time": "09:00", "catchup_window_seconds": -1}"#, 422, "catchup_window_seconds"),
                (#"{"source_training_run_id": "recs-3", "schedule_type": "daily", "schedule_time": "09:00"}"#, 400, "name"),
                (#"{"source_training_run_id": "nope", "name": "s", "schedule_type": "daily", "schedule_time": "09:00"}"#, 404, nil),
            ] {
                let answer = try await api.post("/api/training/schedules/from-run", body)
                #expect(answer.status.code == status, "\(body): \(answer.text)")
                if let field { #expect(answer.errorField == field, "\(body): \(answer.text)") }
            }
            for (body, field) in [
                (
                    #"{"model_name": "recs", "name": "s", "dataset_id": "nope", "feature_config_id": "fc", "model_config_id": "mc", "schedule_type": "daily", "schedule_time": "09:00"}"#,
                    "dataset_id"
                ),
                (
                    #"{"model_name": "recs", "name": "s", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "training_params": {"epochs": "many"}, "schedule_type": "daily", "schedule_time": "09:00"}"#,
                    "training_params"
                ),
            ] {
                try await api.post("/api/training/schedules", body).expectError(.unprocessableContent, field: field)
            }
            try await api.get("/api/training/schedules/preview").expectError(.badRequest, field: "source_run_id")
            try await api.get("/api/training/schedules?status=sleeping").expectError(.badRequest, field: "status")
            try await api.post("/api/training/schedules/sch-nope/pause").expectError(.notFound)
            #expect(try await service.scalar("SELECT count(*) FROM schedules") == 0)
            #expect(try await service.scalar("SELECT count(*) FROM slipway.events") == 0, "nothing was written")
        }
    }

    /// Replicas racing for the same slots: the event store serialises their ticks, and each slot fires once.
    @Test func racingTimersFireEachSlotExactlyOnce() async throws {
        try await withTestService(ScheduleService.definition(now: { Self.t0 }, reader: ScheduleWebhookTests.reader), runWorkers: false) { service in
            try await Self.announceTraining(service)
            let api = service.api
            var ids: [String] = []
            for index in 0..<5 {
                // Five models (one schedule each), every one hourly.
                var training = EnvelopeBuilder(service: "training")
                var run = TrainingRunCreated()
                run.runID = "m\(index)-1"
                run.runNumber = 1
                run.modelName = "m\(index)"
                try await service.project([try training.envelope(run, aggregateType: "TrainingRun", aggregateID: run.runID)], into: "scheduled_runs")
                let created = try await api.post(
                    "/api/training/schedules/from-run",
                    #"{"source_training_run_id": "m\#(index)-1", "name": "h", "schedule_type": "hourly", "schedule_time": "00:00", "overlap": "allow", "catchup_window_seconds": 86400}"#,
                    expect: .created
                ).json()
                ids.append(((created["schedule"] as? [String: Any])?["id"] as? String) ?? "")
            }
            let timers = (0..<4).map { _ in ScheduleTimer(environment: service.environment, now: { Self.t0 }) }
            for hour in 1...6 {
                let instant = Self.t0.addingTimeInterval(Double(hour) * 3600 + 1)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for timer in timers { group.addTask { try await timer.fireDue(at: instant) } }
                    try await group.waitForAll()
                }
            }
            let fired = try await service.scalar(
                "SELECT count(*) FROM slipway.events WHERE event_type = '\(ScheduleTriggered.protoMessageName)'")
            let distinct = try await service.scalar(
                "SELECT count(DISTINCT (schedule_id, slot_time)) FROM schedule_ledger WHERE outcome LIKE 'started%'")
            #expect(fired == 30 && distinct == 30, "6 slots × 5 schedules, each once: \(fired) events, \(distinct) slots")
        }
    }
}
