import Foundation
import Hummingbird
import Logging
import PostgresNIO
import SlipwayEventSourcing
import SlipwayPlatform

/// The spec's alerts (`/api/v1/monitoring/alerts`): an alert is a rule on an endpoint together with its
/// current status (ok, pending, active, acknowledged, resolved) and the history of what it fired.
struct AlertRoutes: Sendable {
    let environment: ServiceEnvironment
    let now: @Sendable () -> Date

    var collection: RouteCollection<SlipwayRequestContext> {
        let routes = RouteCollection(context: SlipwayRequestContext.self)
        routes.post(
            "/api/v1/monitoring/alerts",
            RouteDoc(
                "Create an alert rule on an endpoint",
                details: """
                    `endpoint_id` takes an endpoint's id or name. `alert_type` is latency, error_rate, drift or quality; \
                    `metric` defaults by type (latency_p95_ms, error_rate, drift_score, feedback_positive_rate) and must be \
                    one of its type's. `condition` is gt, lt or eq (default lt for quality, gt otherwise). The rule fires once \
                    breached for `for_seconds` (default 60) with at least `min_samples` in its window, and resolves once the \
                    value is back past `resolve_threshold` (default: the threshold). `notification_channels` are webhooks \
                    `{"url", "secret"}`, signed with the secret (at least 16 characters); email is refused.
                    """,
                body: CreateBody.self, status: .created),
            use: create)
        routes.get(
            "/api/v1/monitoring/alerts",
            RouteDoc(
                "Alert rules with their current status",
                query: [
                    .string("endpoint_id", "Only this endpoint's (its id or name)"),
                    .string("status", "Only rules with this status (empty: all)", oneOf: [""] + AlertJSON.statuses),
                    .string("alert_type", "Only rules of this type (empty: all)", oneOf: ["", "latency", "error_rate", "drift", "quality"]),
                ]),
            use: list)
        routes.get(
            "/api/v1/monitoring/alerts/:alert_id", RouteDoc("An alert rule with its status and the alerts it fired"), use: get)
        routes.patch(
            "/api/v1/monitoring/alerts/:alert_id",
            RouteDoc(
                "Change an alert rule",
                details: """
                    Absent fields stay as they are; the endpoint and the metric cannot change. A new `threshold` without \
                    `resolve_threshold` resolves at the threshold itself. `notification_channels` replaces them all.
                    """,
                body: UpdateBody.self),
            use: update)
        routes.delete("/api/v1/monitoring/alerts/:alert_id", RouteDoc("Delete an alert rule", status: .noContent), use: delete)
        routes.post(
            "/api/v1/monitoring/alerts/:alert_id/acknowledge",
            RouteDoc(
                "Acknowledge a rule's firing alert",
                details: "409 when nothing fires or it is already acknowledged.", body: NoteBody.self, required: false),
            use: acknowledge)
        routes.post(
            "/api/v1/monitoring/alerts/:alert_id/resolve",
            RouteDoc("Resolve a rule's firing alert by hand", details: "409 when nothing fires.", body: NoteBody.self, required: false),
            use: resolve)
        return routes
    }

    struct CreateBody: Decodable {
        let endpointId: String
        /// `latency`, `error_rate`, `drift` or `quality` (the feedback's positive rate).
        let alertType: String
        let threshold: Double
        let condition: String?
        let enabled: Bool?
        let notificationChannels: [ChannelBody]?
        let name: String?
        /// Defaults by type: `latency_p95_ms`, `error_rate`, `drift_score`, `feedback_positive_rate` (quality's other:
        /// `endpoint_test_pass_rate`).
        let metric: String?
        let windowSeconds: Int32?
        let forSeconds: Int32?
        let minSamples: Int64?
        let resolveThreshold: Double?
    }

    @Sendable func create(_ request: Request, context: SlipwayRequestContext) async throws -> EditedResponse<AlertJSON> {
        let body = try await request.decode(as: CreateBody.self, context: context)
        let metric = try Self.metric(type: body.alertType, metric: body.metric)
        let channels = try Self.channels(body.notificationChannels)
        let endpoint = try await queries.requireEndpoint(body.endpointId, field: "endpoint_id")
        // A quality figure is bad when it falls; the others when they rise.
        let condition = try Self.condition(body.condition ?? (metric.type == .quality ? "lt" : "gt"))
        let id = "alert-\(UUID.v7(now: now()).uuidString.lowercased())"
        let rule = AlertRuleDecider.Rule(
            id: id, endpointID: endpoint.id,
            name: body.name ?? "\(endpoint.name ?? endpoint.id) \(metric.rawValue) \(condition.rawValue) \(body.threshold)",
            metric: metric, condition: condition, threshold: body.threshold, resolveThreshold: body.resolveThreshold,
            windowSeconds: body.windowSeconds ?? Self.defaultWindowSeconds(metric),
            forSeconds: body.forSeconds ?? 60, minSamples: body.minSamples ?? Self.defaultMinSamples(metric),
            enabled: body.enabled ?? true, channels: channels)
        try await environment.execute(
            AlertRuleDecider.self, aggregateID: id, command: .create(rule, actor: request.actor), metadata: try request.commandMetadata())
        return EditedResponse(status: .created, response: try await require(id))
    }

    struct ListJSON: ResponseEncodable, Decodable, Sendable {
        let alerts: [AlertJSON]
    }

    /// `?endpoint_id=` (id or name) `&status=` (ok, pending, active, acknowledged, resolved) `&alert_type=`.
    @Sendable func list(_ request: Request, context: SlipwayRequestContext) async throws -> ListJSON {
        let parameters = request.uri.queryParameters
        var endpointID: String?
        if let reference = parameters.nonEmpty("endpoint_id") { endpointID = try await queries.requireEndpoint(reference, field: "endpoint_id").id }
        let status = parameters.nonEmpty("status")
        if let status, !AlertJSON.statuses.contains(status) {
            throw APIError.badRequest("status must be one of \(AlertJSON.statuses.joined(separator: ", "))", field: "status")
        }
        let type = parameters.nonEmpty("alert_type")
        if let type, !["latency", "error_rate", "drift", "quality"].contains(type) {
            throw APIError.badRequest("alert_type must be one of latency, error_rate, drift, quality", field: "alert_type")
        }
        return ListJSON(alerts: try await alertQueries.rules(endpointID: endpointID, status: status, type: type))
    }

    @Sendable func get(_ request: Request, context: SlipwayRequestContext) async throws -> AlertJSON {
        try await require(try context.parameters.require("alert_id"), history: true)
    }

    /// Every field optional; the endpoint and the metric cannot change; `notification_channels` replaces them all.
    struct UpdateBody: Decodable {
        let name: String?
        let threshold: Double?
        let condition: String?
        let enabled: Bool?
        let windowSeconds: Int32?
        let forSeconds: Int32?
        let minSamples: Int64?
        let resolveThreshold: Double?
        let notificationChannels: [ChannelBody]?
    }

    @Sendable func update(_ request: Request, context: SlipwayRequestContext) async throws -> AlertJSON {
        let id = try context.parameters.require("alert_id")
        let body = try await request.decode(as: UpdateBody.self, context: context)
        let state = try await environment.store.state(AlertRuleDecider.self, aggregateID: id)
        guard var rule = state.rule, !state.deleted else { throw APIError.notFound("no alert '\(id)'") }
        if let name = body.name { rule.name = name }
        if let threshold = body.threshold {
            // A new threshold without a resolve threshold resets the hysteresis rather than keeping a stale one.
            rule.threshold = threshold
            if body.resolveThreshold == nil { rule.resolveThreshold = nil }
        }
        if let condition = body.condition { rule.condition = try Self.condition(condition) }
        if let enabled = body.enabled { rule.enabled = enabled }
        if let window = body.windowSeconds { rule.windowSeconds = window }
        if let forSeconds = body.forSeconds { rule.forSeconds = forSeconds }
        if let minSamples = body.minSamples { rule.minSamples = minSamples }
        if let resolve = body.resolveThreshold { rule.resolveThreshold = resolve }
        if body.notificationChannels != nil { rule.channels = try Self.channels(body.notificationChannels) }
        try await environment.execute(
            AlertRuleDecider.self, aggregateID: id, command: .update(rule, actor: request.actor), metadata: try request.commandMetadata())
        return try await require(id)
    }

    @Sendable func delete(_ request: Request, context: SlipwayRequestContext) async throws -> HTTPResponse.Status {
        let id = try context.parameters.require("alert_id")
        _ = try await require(id)
        try await environment.execute(
            AlertRuleDecider.self, aggregateID: id, command: .delete(actor: request.actor), metadata: try request.commandMetadata())
        return .noContent
    }

    struct NoteBody: Decodable {
        let note: String?
    }

    @Sendable func acknowledge(_ request: Request, context: SlipwayRequestContext) async throws -> AlertJSON {
        let id = try context.parameters.require("alert_id")
        let body = try await request.decodeIfPresent(as: NoteBody.self, context: context)
        _ = try await require(id)
        try await environment.execute(
            AlertRuleDecider.self, aggregateID: id, command: .acknowledge(actor: request.actor, note: body?.note ?? ""),
            metadata: try request.commandMetadata())
        return try await require(id, history: true)
    }

    @Sendable func resolve(_ request: Request, context: SlipwayRequestContext) async throws -> AlertJSON {
        let id = try context.parameters.require("alert_id")
        let body = try await request.decodeIfPresent(as: NoteBody.self, context: context)
        _ = try await require(id)
        try await environment.execute(
            AlertRuleDecider.self, aggregateID: id, command: .resolve(actor: request.actor, note: body?.note ?? ""),
            metadata: try request.commandMetadata())
        return try await require(id, history: true)
    }

    // MARK: Parsing

    static func metric(type: String, metric: String?) throws -> AlertRuleDecider.Metric {
        switch type {
        case "latency", "error_rate", "drift", "quality":
            let defaults = ["latency": "latency_p95_ms", "error_rate": "error_rate", "drift": "drift_score", "quality": "feedback_positive_rate"]
            let name = metric ?? defaults[type] ?? ""
            guard let metric = AlertRuleDecider.Metric(rawValue: name), metric.typeName == type else {
                let allowed = AlertRuleDecider.Metric.allCases.filter { $0.typeName == type }.map(\.rawValue)
                throw APIError.invalid("metric of a \(type) alert is one of \(allowed.joined(separator: ", "))", field: "metric")
            }
            return metric
        default:
            throw APIError.invalid("alert_type must be one of latency, error_rate, drift, quality", field: "alert_type")
        }
    }

    /// Serving figures move by the minute; a drift report comes hourly; feedback trickles in, so a day of it; a
    /// scheduled check comes every 15 minutes, so an hour holds four.
    static func defaultWindowSeconds(_ metric: AlertRuleDecider.Metric) -> Int32 {
        if metric == .endpointTestPassRate { return 3_600 }
        return switch metric.type {
        case .drift: DriftMonitor.reportFreshnessSeconds
        case .quality: 86_400
        default: 300
        }
    }

    /// One failed endpoint test is worth an alert; a rate of requests or feedback needs a few to mean anything.
    static func defaultMinSamples(_ metric: AlertRuleDecider.Metric) -> Int64 { metric == .endpointTestPassRate ? 1 : 20 }

    static func condition(_ text: String) throws -> AlertRuleDecider.Condition {
        guard let condition = AlertRuleDecider.Condition(rawValue: text) else {
            throw APIError.invalid("condition must be gt, lt or eq", field: "condition")
        }
        return condition
    }

    /// A notification channel as a request spells it: a webhook object `{"url", "secret"}` (`kind` may say
    /// `webhook`), or a bare string (then it has no secret and is refused, naming the field). Email is refused:
    /// there is no mail transport.
    struct ChannelBody: Decodable {
        let kind: String?
        let url: String
        let secret: String?

        enum CodingKeys: String, CodingKey { case kind, url, secret }

        /// The object is tried first so that the API reference (`SchemaProbe`) shows its fields.
        init(from decoder: any Decoder) throws {
            guard let container = try? decoder.container(keyedBy: CodingKeys.self) else {
                let text = try decoder.singleValueContainer().decode(String.self)
                kind = text.contains("@") && !text.contains("://") ? "email" : nil
                url = text
                secret = nil
                return
            }
            kind = try container.decodeIfPresent(String.self, forKey: .kind)
            url = try container.decode(String.self, forKey: .url)
            secret = try container.decodeIfPresent(String.self, forKey: .secret)
        }
    }

    static func channels(_ bodies: [ChannelBody]?) throws -> [AlertRuleDecider.Channel] {
        try (bodies ?? []).enumerated().map { index, body in
            guard body.kind == nil || body.kind == "webhook" else {
                throw APIError.invalid(
                    "only webhooks are delivered (\(body.kind ?? "") has no transport here)", field: "notification_channels[\(index)]")
            }
            return AlertRuleDecider.Channel(url: body.url, secret: body.secret ?? "")
        }
    }

    var queries: MetricsQueries { MetricsQueries(client: environment.postgres, logger: environment.logger) }
    var alertQueries: AlertQueries { AlertQueries(client: environment.postgres, logger: environment.logger) }

    func require(_ id: String, history: Bool = false) async throws -> AlertJSON {
        guard let alert = try await alertQueries.rule(id, history: history) else { throw APIError.notFound("no alert '\(id)'") }
        return alert
    }
}
