import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SwiftProtobuf

/// The spec's schedules (`/api/training/schedules/…`): made from a training run or from a full configuration,
/// previewed, edited (timing and policies only: the configuration is frozen), paused, resumed, cancelled,
/// triggered by hand or by an external scheduler's webhook, and deleted for good.
struct ScheduleRoutes: Sendable {
    let environment: ServiceEnvironment
    let timer: ScheduleTimer
    let webhookAuth: ScheduleWebhookAuth
    let now: @Sendable () -> Date

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.post(
            "/api/training/schedules",
            RouteDoc(
                "Make a retraining schedule", details: Self.configurationDetails + " " + Self.timingDetails + " " + Self.oneScheduleDetails,
                body: Timed<CreateBody>.self, status: .created), use: create)
        routes.get(
            "/api/training/schedules",
            RouteDoc(
                "List schedules",
                details: "Newest first; `total_matching` counts every schedule the filters match.",
                query: [
                    .string("model_name", "Only this registered model's schedules"),
                    .string("status", "Only schedules in this status", oneOf: ["active", "paused", "completed", "cancelled"]),
                    .integer("limit", "At most this many (default: every one)", in: 1...1000),
                    .integer("offset", "Skip this many", in: 0...1_000_000, default: 0),
                ]), use: list)
        routes.post(
            "/api/training/schedules/from-run",
            RouteDoc(
                "Make a retraining schedule from a training run",
                details: "The run's model and configuration, frozen into the schedule. " + Self.timingDetails + " " + Self.oneScheduleDetails,
                body: Timed<FromRunBody>.self, status: .created), use: fromRun)
        routes.post(
            "/api/training/schedules/validate",
            RouteDoc(
                "Check a schedule without making it",
                details: "Every refusal `POST /api/training/schedules` would give (a bad field, an unknown dataset or config, a model that has "
                    + "a schedule), or the fire times the schedule would have; nothing is written.", body: Timed<CreateBody>.self),
            use: validate)
        routes.get(
            "/api/training/schedules/preview",
            RouteDoc(
                "Preview a schedule's configuration or fire times",
                details: "`source_run_id` gives the configuration a schedule from that run would freeze; `schedule_type` with its timing "
                    + "fields gives the next fire times; one of them is required. Nothing is written.",
                query: [
                    .string("source_run_id", "The training run whose configuration to show"),
                    .string("schedule_type", "The timing's kind", oneOf: ScheduleRule.Kind.allCases.map(\.rawValue)),
                    .string("schedule_time", "`HH:MM` (hourly: `00:MM`)"),
                    .dateTime("scheduled_datetime", "The instant of a `once` schedule"),
                    .integer("schedule_day_of_week", "A weekly schedule's day: 0 = Monday … 6", in: 0...6),
                    .integer("schedule_day_of_month", "A monthly schedule's day", in: 1...31),
                    .string("schedule_timezone", "An IANA time zone (`Europe/Warsaw`)"),
                    .string("month_end", "A monthly day a month lacks: no slot, or the month's last day", oneOf: ["skip", "last_day"]),
                    .integer("count", "How many fire times", in: 1...100, default: 10),
                ]), use: preview)
        routes.get("/api/training/schedules/:id", RouteDoc("A schedule with its next fire times and ledger"), use: get)
        routes.put(
            "/api/training/schedules/:id",
            RouteDoc(
                "Change a schedule's timing, policies, name or description",
                details: "What is left out keeps its value. The training configuration is frozen when the schedule is made: a body naming "
                    + "one of its fields (`model_name`, `dataset_id`, …, `training_config`) is a 422 naming it.",
                body: Timed<UpdateBody>.self), use: update)
        routes.delete(
            "/api/training/schedules/:id",
            RouteDoc(
                "Delete a schedule for good", details: "The schedule and its ledger leave the API; its events keep its history.", status: .noContent),
            use: delete)
        routes.post(
            "/api/training/schedules/:id/pause",
            RouteDoc(
                "Pause a schedule", details: "The body (`{\"reason\": \"…\"}`) is optional. A schedule that is not active is a 409.",
                body: ReasonBody.self, required: false), use: pause)
        routes.post(
            "/api/training/schedules/:id/resume",
            RouteDoc(
                "Resume a paused schedule",
                details: "The slots of the pause are recorded as skipped, never fired late; a schedule that is not "
                    + "paused is a 409."), use: resume)
        routes.post(
            "/api/training/schedules/:id/cancel",
            RouteDoc(
                "Cancel a schedule",
                details: "The body (`{\"reason\": \"…\"}`) is optional. A cancelled schedule starts no runs and stays listed (delete removes "
                    + "it); one that is already completed or cancelled is a 409.", body: ReasonBody.self, required: false), use: cancel)
        routes.post(
            "/api/training/schedules/:id/trigger",
            RouteDoc(
                "Start a schedule's run now",
                details: "An active or paused schedule's run, at once. While its previous run is still going, a schedule whose overlap policy is "
                    + "not `allow` refuses (409) unless `force` is true.", body: TriggerBody.self, required: false, status: .accepted),
            use: trigger)
        routes.post(
            "/api/training/schedules/:id/webhook",
            RouteDoc(
                "Fire an active schedule's slot (external schedulers)",
                details: "Called by an external scheduler (cron, Airflow, Cloud Scheduler), not a user: `Authorization: Bearer <secret>`, or "
                    + "`X-Slipway-Signature: sha256=<hex HMAC-SHA256 of the body keyed by the secret>` with `slot_time` in the body (see "
                    + "`GET …/webhook`). The slot is `slot_time`, else the `X-CloudScheduler-ScheduleTime` header, else the current minute, "
                    + "and must lie within the catch-up window (at least an hour) before now (422 otherwise); "
                    + "each slot starts at most one run, so a repeated call is `already_handled` (200), an overlapping run "
                    + "`skipped_overlap` (200), and a started run 202.", body: WebhookBody.self, required: false, status: .accepted),
            use: webhook)
        routes.get(
            "/api/training/schedules/:id/webhook",
            RouteDoc("A schedule's webhook path and secret", details: "What an external scheduler needs to call `POST …/webhook`."),
            use: webhookSecret)
        routes.post(
            "/api/training/schedules/:id/webhook/rotate",
            RouteDoc("Rotate a schedule's webhook secret", details: "The old secret is refused from now on."), use: rotateWebhookSecret)
        return routes
    }

    static let configurationDetails =
        "The configuration each run trains: the ids (`dataset_id`, `feature_config_id`, `model_config_id`) with optional "
        + "`training_params`, `gpu_config`, `evaluator_config` and `deployment_config` as training-svc spells them, over a whole "
        + "`training_config` as schedules show it; it is frozen when the schedule is made."
    static let timingDetails =
        "`schedule_time` (`HH:MM`) is required but for `once` (which takes `scheduled_datetime`), `schedule_day_of_week` (0 = Monday … 6) "
        + "for weekly, `schedule_day_of_month` (1–31) for monthly; `month_end` is `skip` (default) or `last_day`, `overlap` `skip` "
        + "(default), `queue_one` or `allow`; a slot missed by at most `catchup_window_seconds` (default 3600) fires late."
    static let oneScheduleDetails = "A model has at most one active or paused schedule: a second is a 409."

    /// A body of `Fields` with the timing and policy fields beside them, in one JSON object: how the routes that make or
    /// change a schedule read theirs, and what the reference shows of it.
    struct Timed<Fields: Decodable>: Decodable {
        var fields: Fields
        var timing: TimingBody

        init(from decoder: any Swift.Decoder) throws {
            fields = try Fields(from: decoder)
            timing = try TimingBody(from: decoder)
        }
    }

    /// The timing and policy fields every body that sets them shares (the spec's names).
    struct TimingBody: Decodable {
        var scheduleType: String?
        /// `HH:MM`; for hourly `00:MM`.
        var scheduleTime: String?
        var scheduledDatetime: Date?
        var scheduleDayOfWeek: Int?
        var scheduleDayOfMonth: Int?
        var scheduleTimezone: String?
        /// `skip` (default) or `last_day`.
        var monthEnd: String?
        var catchupWindowSeconds: Int64?
        /// `skip` (default), `queue_one` or `allow`.
        var overlap: String?

        /// The timing this body gives, over `base` (PUT) or from nothing (create: `schedule_type` required).
        func rule(over base: ScheduleRule?) throws -> ScheduleRule? {
            let fieldsGiven =
                scheduleType != nil || scheduleTime != nil || scheduledDatetime != nil || scheduleDayOfWeek != nil || scheduleDayOfMonth != nil
                || scheduleTimezone != nil || monthEnd != nil
            guard fieldsGiven || base == nil else { return nil }
            var rule = base ?? ScheduleRule(kind: .daily)
            if let type = scheduleType {
                guard let kind = ScheduleRule.Kind(rawValue: type) else {
                    throw APIError.invalid("schedule_type is once, hourly, daily, weekly or monthly", field: "schedule_type")
                }
                rule.kind = kind
            } else if base == nil {
                throw APIError.badRequest("schedule_type is required (once, hourly, daily, weekly or monthly)", field: "schedule_type")
            }
            if let time = scheduleTime {
                let parts = time.split(separator: ":").map { Int($0) }
                guard parts.count == 2, let hour = parts[0], let minute = parts[1] else {
                    throw APIError.invalid("schedule_time is HH:MM", field: "schedule_time")
                }
                (rule.hour, rule.minute) = (hour, minute)
            } else if base == nil, rule.kind != .once {
                throw APIError.badRequest("schedule_time (HH:MM) is required for a \(rule.kind.rawValue) schedule", field: "schedule_time")
            }
            if let at = scheduledDatetime { rule.onceAt = at }
            if let day = scheduleDayOfWeek { rule.dayOfWeek = day }
            if let day = scheduleDayOfMonth { rule.dayOfMonth = day }
            if let name = scheduleTimezone {
                guard let zone = TimeZone(identifier: name) else {
                    throw APIError.invalid("schedule_timezone '\(name)' is not an IANA time zone (e.g. Europe/Warsaw)", field: "schedule_timezone")
                }
                rule.timeZone = zone
            }
            if let monthEnd {
                guard let policy = ScheduleRule.MonthEnd(rawValue: monthEnd) else {
                    throw APIError.invalid("month_end is skip or last_day", field: "month_end")
                }
                rule.monthEnd = policy
            }
            if base == nil {
                if rule.kind == .weekly, scheduleDayOfWeek == nil {
                    throw APIError.badRequest(
                        "schedule_day_of_week (0 = Monday … 6) is required for a weekly schedule", field: "schedule_day_of_week")
                }
                if rule.kind == .monthly, scheduleDayOfMonth == nil {
                    throw APIError.badRequest("schedule_day_of_month (1–31) is required for a monthly schedule", field: "schedule_day_of_month")
                }
            }
            return rule
        }

        func policies(over base: TrainingScheduleDecider.Policies?) throws -> TrainingScheduleDecider.Policies? {
            guard catchupWindowSeconds != nil || overlap != nil || base == nil else { return nil }
            var policies = base ?? .init()
            if let seconds = catchupWindowSeconds { policies.catchupWindowSeconds = seconds }
            if let overlap {
                switch overlap {
                case "skip": policies.overlap = .skip
                case "queue_one": policies.overlap = .queueOne
                case "allow": policies.overlap = .allow
                default: throw APIError.invalid("overlap is skip, queue_one or allow", field: "overlap")
                }
            }
            return policies
        }
    }

    struct FromRunBody: Decodable {
        var sourceTrainingRunId: String
        var name: String
        var description: String?
    }

    @Sendable func fromRun(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<CreatedJSON> {
        let bytes = try await request.body.collect(upTo: context.maxUploadSize)
        let (body, timing) = try Self.timed(FromRunBody.self, bytes.readableBytesView)
        guard let run = try await queries.run(body.sourceTrainingRunId) else {
            throw APIError.notFound("no training run '\(body.sourceTrainingRunId)' (source_training_run_id)")
        }
        let new = try await newSchedule(
            model: run.modelName, name: body.name, description: body.description ?? "", config: run.config, sourceRunID: run.id, timing: timing,
            createdBy: request.actor)
        return try await create(new, request: request)
    }

    /// A schedule from a full configuration: the registered model and what each run trains on — the ids with
    /// optional parameters, or the whole `training_config` as schedules show it (what training-svc sends for the
    /// wizard's `schedule_config`, with the run it started as `source_training_run_id`).
    struct CreateBody: Decodable {
        var modelName: String
        var name: String
        var description: String?
        var datasetId: String?
        var featureConfigId: String?
        var modelConfigId: String?
        var sourceTrainingRunId: String?
    }

    @Sendable func create(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<CreatedJSON> {
        try await create(try await newSchedule(request, context), request: request)
    }

    struct ValidJSON: ResponseEncodable, Decodable, Sendable {
        let valid: Bool
        let modelName: String
        @Nullable var nextRunAt: Date?
        let upcoming: [ScheduleJSON.Upcoming]
    }

    /// `POST /api/training/schedules` checked and nothing written: every refusal the creation would give (a bad
    /// field, an unknown dataset, a model that has a schedule), or the fire times it would have.
    @Sendable func validate(_ request: Request, context: SlipwayRequestContext) async throws -> ValidJSON {
        let new = try await newSchedule(request, context)
        try await refuseSecondSchedule(model: new.modelName)
        _ = try TrainingScheduleDecider.decide(.create(new), TrainingScheduleDecider.initial)
        let upcoming = ScheduleJSON.upcoming(new.timing, after: new.now, count: 10)
        return ValidJSON(valid: true, modelName: new.modelName, nextRunAt: upcoming.first?.at, upcoming: upcoming)
    }

    private func newSchedule(_ request: Request, _ context: SlipwayRequestContext) async throws -> TrainingScheduleDecider.NewSchedule {
        let bytes = try await request.body.collect(upTo: context.maxUploadSize)
        let (body, timing) = try Self.timed(CreateBody.self, bytes.readableBytesView)
        // The run's parameters as training-svc's API spells them (proto JSON), frozen with the rest.
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        func part<M: SwiftProtobuf.Message>(_ field: String, _ type: M.Type) throws -> M? {
            guard let value = object[field] else { return nil }
            do {
                return try M(jsonUTF8Data: try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]))
            } catch {
                throw APIError.invalid("\(field) is not a valid \(field): \(error)", field: field)
            }
        }
        var config = try part("training_config", TrainingRunConfig.self) ?? TrainingRunConfig()
        if let id = body.datasetId { config.datasetID = id }
        if let id = body.featureConfigId { config.featureConfigID = id }
        if let id = body.modelConfigId { config.modelConfigID = id }
        for (kind, id, field) in [
            ("dataset", config.datasetID, "dataset_id"), ("feature_config", config.featureConfigID, "feature_config_id"),
            ("model_config", config.modelConfigID, "model_config_id"),
        ] {
            guard !id.isEmpty else { throw APIError.badRequest("\(field) is required (or training_config with it)", field: field) }
            guard try await queries.catalogHas(kind: kind, id: id) else {
                throw APIError.invalid("no \(kind.replacingOccurrences(of: "_", with: " ")) '\(id)' in training-svc", field: field)
            }
        }
        if let params = try part("training_params", TrainingParams.self) { config.trainingParams = params }
        if let gpu = try part("gpu_config", GpuConfig.self) { config.gpuConfig = gpu }
        if let evaluator = try part("evaluator_config", EvaluatorConfig.self) { config.evaluatorConfig = evaluator }
        if let deployment = try part("deployment_config", DeploymentConfig.self) { config.deploymentConfig = deployment }
        return try await newSchedule(
            model: body.modelName, name: body.name, description: body.description ?? "", config: config, sourceRunID: body.sourceTrainingRunId ?? "",
            timing: timing, createdBy: request.actor)
    }

    struct CreatedJSON: ResponseEncodable, Decodable, Sendable {
        let success: Bool
        let schedule: ScheduleJSON
        let message: String
    }

    private func newSchedule(
        model: String, name: String, description: String, config: TrainingRunConfig, sourceRunID: String, timing: TimingBody,
        createdBy: String
    ) async throws -> TrainingScheduleDecider.NewSchedule {
        guard let rule = try timing.rule(over: nil), let policies = try timing.policies(over: nil) else {
            throw APIError.badRequest("schedule_type is required", field: "schedule_type")
        }
        guard !model.trimmingCharacters(in: .whitespaces).isEmpty else { throw APIError.badRequest("model_name is required", field: "model_name") }
        let at = now()
        return TrainingScheduleDecider.NewSchedule(
            id: "sch-\(UUID.v7(now: at).uuidString.lowercased())", modelName: model, name: name, description: description, timing: rule,
            policies: policies, config: config, sourceRunID: sourceRunID, createdBy: createdBy, now: at)
    }

    private func refuseSecondSchedule(model: String) async throws {
        if let existing = try await queries.liveSchedule(model: model) {
            throw APIError.conflict(
                "model '\(model)' already has schedule \(existing); pause, edit or delete it instead", details: ["field": "model_name"])
        }
    }

    private func create(_ new: TrainingScheduleDecider.NewSchedule, request: Request) async throws -> EditedResponse<CreatedJSON> {
        try await refuseSecondSchedule(model: new.modelName)
        let id = new.id
        try await execute(id, .create(new), request)
        let schedule = try await require(id)
        return EditedResponse(
            status: .created, response: CreatedJSON(success: true, schedule: schedule, message: "Schedule '\(schedule.name)' created successfully"))
    }

    struct ListJSON: ResponseEncodable, Decodable, Sendable {
        let schedules: [ScheduleJSON]
        let totalMatching: Int
    }

    /// `?model_name=` `&status=` (active, paused, completed, cancelled).
    @Sendable func list(_ request: Request, context: SlipwayRequestContext) async throws -> ListJSON {
        let parameters = request.uri.queryParameters
        let status = parameters.nonEmpty("status")
        if let status, TrainingScheduleDecider.Status(rawValue: status) == nil {
            throw APIError.badRequest("status is active, paused, completed or cancelled", field: "status")
        }
        let limit = parameters.get("limit") == nil ? nil : try parameters.integer("limit", default: 0, in: 1...1000)
        let offset = try parameters.integer("offset", default: 0, in: 0...1_000_000)
        let (schedules, total) = try await queries.schedules(model: parameters.nonEmpty("model_name"), status: status, limit: limit, offset: offset)
        return ListJSON(schedules: schedules, totalMatching: total)
    }

    @Sendable func get(_ request: Request, context: SlipwayRequestContext) async throws -> ScheduleJSON {
        try await require(try context.parameters.require("id"), details: true)
    }

    /// Fields of the frozen training configuration: a PUT naming one is refused, naming it.
    static let frozenFields = [
        "model_name", "dataset_id", "feature_config_id", "model_config_id", "training_params", "gpu_config", "evaluator_config",
        "deployment_config", "source_training_run_id", "training_config",
    ]

    struct UpdateBody: Decodable {
        var name: String?
        var description: String?
    }

    /// Timing, policies, name and description; the training configuration cannot change (422 naming the field).
    @Sendable func update(_ request: Request, context: SlipwayRequestContext) async throws -> ScheduleJSON {
        let id = try context.parameters.require("id")
        let bytes = try await request.body.collect(upTo: context.maxUploadSize)
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        if let frozen = Self.frozenFields.first(where: { object[$0] != nil }) {
            throw APIError.invalid("\(frozen) is frozen when the schedule is made; make a new schedule to change it", field: frozen)
        }
        let (body, timing) = try Self.timed(UpdateBody.self, bytes.readableBytesView)
        let state = try await environment.store.state(TrainingScheduleDecider.self, aggregateID: id)
        guard state.exists, let current = state.timing else { throw APIError.notFound("no schedule '\(id)'") }
        let change = TrainingScheduleDecider.ScheduleChange(
            name: body.name, description: body.description, timing: try timing.rule(over: current),
            policies: try timing.policies(over: state.policies))
        try await execute(id, .update(change, actor: request.actor, now: now()), request)
        return try await require(id, details: true)
    }

    @Sendable func delete(_ request: Request, context: SlipwayRequestContext) async throws -> HTTPResponse.Status {
        let id = try context.parameters.require("id")
        _ = try await require(id)
        try await execute(id, .delete(actor: request.actor), request)
        return .noContent
    }

    struct ReasonBody: Decodable {
        var reason: String?
    }

    @Sendable func pause(_ request: Request, context: SlipwayRequestContext) async throws -> ScheduleJSON {
        let id = try context.parameters.require("id")
        let body = try await request.decodeIfPresent(as: ReasonBody.self, context: context)
        _ = try await require(id)
        try await execute(id, .pause(actor: request.actor, reason: body?.reason ?? ""), request)
        return try await require(id, details: true)
    }

    @Sendable func resume(_ request: Request, context: SlipwayRequestContext) async throws -> ScheduleJSON {
        let id = try context.parameters.require("id")
        _ = try await require(id)
        try await execute(id, .resume(actor: request.actor, now: now()), request)
        return try await require(id, details: true)
    }

    @Sendable func cancel(_ request: Request, context: SlipwayRequestContext) async throws -> ScheduleJSON {
        let id = try context.parameters.require("id")
        let body = try await request.decodeIfPresent(as: ReasonBody.self, context: context)
        _ = try await require(id)
        try await execute(id, .cancel(actor: request.actor, reason: body?.reason ?? ""), request)
        return try await require(id, details: true)
    }

    struct TriggerBody: Decodable {
        /// Start a run even while the previous one is going.
        var force: Bool?
    }

    struct TriggeredJSON: ResponseEncodable, Decodable, Sendable {
        let scheduleId: String
        let runId: String
        let slotTime: Date
        let schedule: ScheduleJSON
    }

    @Sendable func trigger(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<TriggeredJSON> {
        let id = try context.parameters.require("id")
        let body = try await request.decodeIfPresent(as: TriggerBody.self, context: context)
        _ = try await require(id)
        let runGoing = try await queries.runGoing(scheduleID: id)
        let outcome = try await execute(id, .trigger(actor: request.actor, now: now(), force: body?.force ?? false, runGoing: runGoing), request)
        var started: ScheduleTriggered?
        for stored in outcome.events {
            if case .scheduleTriggered(let event) = try ScheduleEvent.decode(eventType: stored.eventType, payload: stored.payload) { started = event }
        }
        guard let started else { throw APIError.conflict("the trigger started nothing; try again") }
        return EditedResponse(
            status: .accepted,
            response: TriggeredJSON(
                scheduleId: id, runId: started.runID, slotTime: started.slotTime.date, schedule: try await require(id, details: true)))
    }

    struct WebhookBody: Decodable {
        /// The slot the external scheduler fires (its schedule time); a repeated call for it starts nothing.
        var slotTime: Date?
    }

    struct WebhookJSON: ResponseEncodable, Decodable, Sendable {
        let scheduleId: String
        let slotTime: Date
        /// `started`, `skipped_overlap`, or `already_handled` (a repeated call for the slot).
        let outcome: String
        @Nullable var runId: String?
    }

    /// An external scheduler (cron, Airflow, Cloud Scheduler) fires a slot. The slot is `slot_time` in the body,
    /// else Cloud Scheduler's `X-CloudScheduler-ScheduleTime` header, else the current minute; each slot starts at
    /// most one run, shared with the timer (a call for a slot the timer fired starts nothing). A signed call must name
    /// its slot in the body, so a replayed one starts nothing new.
    @Sendable func webhook(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<WebhookJSON> {
        let id = try context.parameters.require("id")
        let bytes = try await request.body.collect(upTo: context.maxUploadSize)
        let state = try await environment.store.state(TrainingScheduleDecider.self, aggregateID: id)
        guard state.exists else { throw APIError.notFound("no schedule '\(id)'") }
        let proof = try webhookAuth.verify(
            authorization: request.headers[.authorization], signature: request.headers[Self.signatureHeader], body: Array(bytes.readableBytesView),
            scheduleID: id, generation: state.webhookGeneration)
        let body = bytes.readableBytes == 0 ? WebhookBody() : try PlatformJSON.decode(WebhookBody.self, from: bytes.readableBytesView)
        if proof == .signature, body.slotTime == nil {
            throw APIError.invalid("a signed webhook call names its slot: {\"slot_time\": \"<ISO-8601>\"} in the body", field: "slot_time")
        }
        let at = now()
        var slot = body.slotTime
        if slot == nil, let header = request.headers[Self.cloudSchedulerTimeHeader] {
            guard let time = ISO8601.date(header) else {
                throw APIError.badRequest("X-CloudScheduler-ScheduleTime is not an ISO-8601 time", field: "X-CloudScheduler-ScheduleTime")
            }
            slot = time
        }
        let wholeSeconds = floor((slot ?? Date(timeIntervalSince1970: floor(at.timeIntervalSince1970 / 60) * 60)).timeIntervalSince1970)
        let slotTime = Date(timeIntervalSince1970: wholeSeconds)
        let runGoing = try await queries.runGoing(scheduleID: id)
        let outcome = try await execute(id, .webhook(slot: slotTime, now: at, runGoing: runGoing), request)
        for stored in outcome.events {
            switch try ScheduleEvent.decode(eventType: stored.eventType, payload: stored.payload) {
            case .scheduleTriggered(let started):
                return EditedResponse(
                    status: .accepted, response: WebhookJSON(scheduleId: id, slotTime: slotTime, outcome: "started", runId: started.runID))
            case .scheduleSlotSkipped:
                return EditedResponse(status: .ok, response: WebhookJSON(scheduleId: id, slotTime: slotTime, outcome: "skipped_overlap", runId: nil))
            default:
                continue
            }
        }
        return EditedResponse(status: .ok, response: WebhookJSON(scheduleId: id, slotTime: slotTime, outcome: "already_handled", runId: nil))
    }

    static let signatureHeader = HTTPField.Name("X-Slipway-Signature")!
    static let cloudSchedulerTimeHeader = HTTPField.Name("X-CloudScheduler-ScheduleTime")!

    struct WebhookSecretJSON: ResponseEncodable, Decodable, Sendable {
        let scheduleId: String
        let path: String
        let secret: String
        let generation: Int64
        let authentication: [String]
    }

    /// What an external scheduler needs: the path, the secret and the two ways to present it.
    @Sendable func webhookSecret(_ request: Request, context: SlipwayRequestContext) async throws -> WebhookSecretJSON {
        let id = try context.parameters.require("id")
        let state = try await environment.store.state(TrainingScheduleDecider.self, aggregateID: id)
        guard state.exists else { throw APIError.notFound("no schedule '\(id)'") }
        return webhookSecretJSON(id, generation: state.webhookGeneration)
    }

    /// A new secret; the old one is refused from now on.
    @Sendable func rotateWebhookSecret(_ request: Request, context: SlipwayRequestContext) async throws -> WebhookSecretJSON {
        let id = try context.parameters.require("id")
        _ = try await require(id)
        let outcome = try await execute(id, .rotateWebhookSecret(actor: request.actor), request)
        return webhookSecretJSON(id, generation: outcome.state.webhookGeneration)
    }

    func webhookSecretJSON(_ id: String, generation: Int64) -> WebhookSecretJSON {
        WebhookSecretJSON(
            scheduleId: id, path: "/api/training/schedules/\(id)/webhook", secret: webhookAuth.secret(scheduleID: id, generation: generation),
            generation: generation,
            authentication: [
                "Authorization: Bearer <secret>",
                "X-Slipway-Signature: sha256=<hex HMAC-SHA256 of the body keyed by the secret>, with {\"slot_time\": \"<ISO-8601>\"} in the body",
            ])
    }

    struct PreviewJSON: ResponseEncodable, Decodable, Sendable {
        struct Source: Codable, Sendable {
            let sourceRunId: String
            let sourceRunNumber: Int
            let modelName: String
            let datasetId: String
            let featureConfigId: String
            let modelConfigId: String
            let trainingConfig: EmbeddedJSON
        }
        let success: Bool
        @Nullable var preview: Source?
        /// With timing fields: the next fire times.
        @Nullable var nextRuns: [ScheduleJSON.Upcoming]?
    }

    /// `?source_run_id=` (the configuration a schedule from that run would freeze) and/or timing fields
    /// (`schedule_type=daily&schedule_time=09:00&schedule_timezone=Europe/Warsaw&count=10`: the next fire times).
    @Sendable func preview(_ request: Request, context: SlipwayRequestContext) async throws -> PreviewJSON {
        let parameters = request.uri.queryParameters
        var source: PreviewJSON.Source?
        if let runID = parameters.nonEmpty("source_run_id") {
            guard let run = try await queries.run(runID) else { throw APIError.notFound("no training run '\(runID)' (source_run_id)") }
            source = PreviewJSON.Source(
                sourceRunId: run.id, sourceRunNumber: run.number, modelName: run.modelName, datasetId: run.config.datasetID,
                featureConfigId: run.config.featureConfigID, modelConfigId: run.config.modelConfigID,
                trainingConfig: try ScheduleJSON.json(run.config))
        }
        var upcoming: [ScheduleJSON.Upcoming]?
        if let type = parameters.nonEmpty("schedule_type") {
            var timing = TimingBody()
            timing.scheduleType = type
            timing.scheduleTime = parameters.nonEmpty("schedule_time")
            timing.scheduledDatetime = try parameters.nonEmpty("scheduled_datetime").map {
                guard let date = ISO8601.date($0) else { throw APIError.badRequest("scheduled_datetime is ISO-8601", field: "scheduled_datetime") }
                return date
            }
            timing.scheduleDayOfWeek = try parameters.nonEmpty("schedule_day_of_week").map { _ in
                try parameters.integer("schedule_day_of_week", default: 0, in: 0...6)
            }
            timing.scheduleDayOfMonth = try parameters.nonEmpty("schedule_day_of_month").map { _ in
                try parameters.integer("schedule_day_of_month", default: 1, in: 1...31)
            }
            timing.scheduleTimezone = parameters.nonEmpty("schedule_timezone")
            timing.monthEnd = parameters.nonEmpty("month_end")
            let count = try parameters.integer("count", default: 10, in: 1...100)
            if let rule = try timing.rule(over: nil) {
                try TrainingScheduleDecider.validateForAPI(rule, now: now())
                upcoming = ScheduleJSON.upcoming(rule, after: now(), count: count)
            }
        }
        guard source != nil || upcoming != nil else {
            throw APIError.badRequest("give source_run_id, or schedule_type with its timing fields", field: "source_run_id")
        }
        return PreviewJSON(success: true, preview: source, nextRuns: upcoming)
    }

    // MARK: Helpers

    /// A body's `Fields` and its timing (`Timed`).
    static func timed<Fields: Decodable>(_ type: Fields.Type, _ bytes: some DataProtocol) throws -> (Fields, TimingBody) {
        let timed = try PlatformJSON.decode(Timed<Fields>.self, from: bytes)
        return (timed.fields, timed.timing)
    }

    var queries: ScheduleQueries { ScheduleQueries(client: environment.postgres, logger: environment.logger) }

    @discardableResult
    func execute(_ id: String, _ command: TrainingScheduleDecider.Command, _ request: Request) async throws
        -> CommandOutcome<TrainingScheduleDecider>
    {
        let outcome = try await environment.execute(
            TrainingScheduleDecider.self, aggregateID: id, command: command, metadata: try request.commandMetadata())
        timer.nudge()
        return outcome
    }

    func require(_ id: String, details: Bool = false) async throws -> ScheduleJSON {
        guard let schedule = try await queries.schedule(id, details: details, now: now()) else { throw APIError.notFound("no schedule '\(id)'") }
        return schedule
    }
}

extension TrainingScheduleDecider {
    /// The decider's checks of a timing, as a 422 naming the field (for a preview, which records nothing).
    static func validateForAPI(_ rule: ScheduleRule, now: Date) throws {
        do { try validate(name: "preview", timing: rule, policies: .init(), now: now) } catch let rejected as CommandRejected {
            throw APIError.invalid(rejected.message, field: rejected.field ?? "schedule_type")
        }
    }
}
