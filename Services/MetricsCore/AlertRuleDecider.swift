import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// An alert rule on one endpoint and the alerts it raises, Prometheus-style: a breach with enough samples
/// makes the rule pending; still breached `for_seconds` later it fires (one active alert per rule); it
/// resolves by itself once the value is back past the resolve threshold (hysteresis, so it does not flap),
/// or by hand. Too few samples give no verdict either way. The aggregate id is the rule's id.
public enum AlertRuleDecider: Decider {
    public enum Command: Sendable, Equatable {
        case create(Rule, actor: String)
        case update(Rule, actor: String)
        case delete(actor: String)
        /// The rule's metric over its window at `at`, as the evaluator measured it.
        case evaluate(Observation)
        case acknowledge(actor: String, note: String)
        case resolve(actor: String, note: String)
        /// The outcome of one attempt to deliver a notification (the webhook deliverer's report).
        case recordDelivery(DeliveryAttempt)
    }

    /// A webhook the rule's alerts are posted to, signed with `secret` (HMAC-SHA256 of the body).
    public struct Channel: Sendable, Equatable {
        public var url: String
        public var secret: String

        public init(url: String, secret: String) {
            self.url = url
            self.secret = secret
        }
    }

    public struct DeliveryAttempt: Sendable, Equatable {
        public var deliveryID: String
        public var alertID: String
        public var target: String
        public var attempt: Int32
        /// 0 when nothing answered.
        public var statusCode: Int32
        public var error: String
        public var at: Date

        public init(deliveryID: String, alertID: String, target: String, attempt: Int32, statusCode: Int32, error: String, at: Date) {
            self.deliveryID = deliveryID
            self.alertID = alertID
            self.target = target
            self.attempt = attempt
            self.statusCode = statusCode
            self.error = error
            self.at = at
        }

        var delivered: Bool { (200..<300).contains(statusCode) }
    }

    /// Attempts per delivery: with the backoff below, the last one is about 10 minutes after the first.
    public static let maxDeliveryAttempts: Int32 = 8

    /// Wait after a failed attempt: 2^(n-1) s, at most 5 minutes.
    public static func retryDelay(afterAttempt attempt: Int32) -> TimeInterval {
        min(300, pow(2, Double(max(0, attempt - 1))))
    }

    public enum Metric: String, Sendable, CaseIterable {
        case latencyP50 = "latency_p50_ms"
        case latencyP95 = "latency_p95_ms"
        case latencyP99 = "latency_p99_ms"
        case errorRate = "error_rate"
        case serverErrorRate = "server_error_rate"
        /// The latest scheduled drift analysis's score (0–1).
        case driftScore = "drift_score"
        /// Share of the window's feedback that is positive (0–1); its samples are the feedback items.
        case feedbackPositiveRate = "feedback_positive_rate"
        /// Share of the window's endpoint tests (scheduled checks, smoke tests, manual) that passed (0–1); its samples
        /// are the tests. `lt 1` with `min_samples 1` fires on any failed test.
        case endpointTestPassRate = "endpoint_test_pass_rate"

        var type: AlertType {
            switch self {
            case .latencyP50, .latencyP95, .latencyP99: .latency
            case .errorRate, .serverErrorRate: .errorRate
            case .driftScore: .drift
            case .feedbackPositiveRate, .endpointTestPassRate: .quality
            }
        }
    }

    public enum Condition: String, Sendable, CaseIterable {
        case gt, lt, eq

        func holds(_ value: Double, _ threshold: Double) -> Bool {
            switch self {
            case .gt: value > threshold
            case .lt: value < threshold
            case .eq: abs(value - threshold) <= 1e-9 * max(1, abs(threshold))
            }
        }

        var proto: AlertCondition {
            switch self {
            case .gt: .gt
            case .lt: .lt
            case .eq: .eq
            }
        }

        init?(_ proto: AlertCondition) {
            switch proto {
            case .gt: self = .gt
            case .lt: self = .lt
            case .eq: self = .eq
            case .unspecified, .UNRECOGNIZED: return nil
            }
        }
    }

    /// A rule's definition, as created or replaced.
    public struct Rule: Sendable, Equatable {
        public var id: String
        public var endpointID: String
        public var name: String
        public var metric: Metric
        public var condition: Condition
        public var threshold: Double
        /// Nil: the threshold itself (no hysteresis).
        public var resolveThreshold: Double?
        public var windowSeconds: Int32
        public var forSeconds: Int32
        public var minSamples: Int64
        public var enabled: Bool
        public var channels: [Channel]

        public init(
            id: String, endpointID: String, name: String, metric: Metric, condition: Condition, threshold: Double, resolveThreshold: Double? = nil,
            windowSeconds: Int32 = 300, forSeconds: Int32 = 60, minSamples: Int64 = 20, enabled: Bool = true, channels: [Channel] = []
        ) {
            self.id = id
            self.endpointID = endpointID
            self.name = name
            self.metric = metric
            self.condition = condition
            self.threshold = threshold
            self.resolveThreshold = resolveThreshold
            self.windowSeconds = windowSeconds
            self.forSeconds = forSeconds
            self.minSamples = minSamples
            self.enabled = enabled
            self.channels = channels
        }
    }

    public struct Observation: Sendable, Equatable {
        /// Nil when the window had no value (no requests reached a model-server, for a latency).
        public var value: Double?
        public var samples: Int64
        public var windowStart: Date
        public var at: Date

        public init(value: Double?, samples: Int64, windowStart: Date, at: Date) {
            self.value = value
            self.samples = samples
            self.windowStart = windowStart
            self.at = at
        }
    }

    public enum Phase: Sendable, Equatable {
        case quiet
        case pending(alertID: String, since: Date)
        case firing(alertID: String, acknowledged: Bool)
    }

    public struct State: Sendable, Equatable {
        public var rule: Rule?
        public var deleted = false
        public var phase = Phase.quiet
        /// Alerts raised so far (pending or fired): numbers the next one.
        public var raised = 0
    }

    public static let aggregateType = "AlertRule"
    public static let initial = State()

    public static func decide(_ command: Command, _ state: State) throws -> [MetricsEvent] {
        // A deleted rule still records how the notifications of its last transitions went.
        if state.deleted, !isDeliveryReport(command) { throw CommandRejected(.notFound, "alert \(state.rule?.id ?? "") was deleted") }
        switch command {
        case .create(let rule, let actor):
            guard state.rule == nil else { throw CommandRejected(.conflict, "alert \(rule.id) already exists") }
            try validate(rule)
            var created = AlertRuleCreated()
            created.ruleID = rule.id
            created.endpointID = rule.endpointID
            created.name = rule.name
            created.alertType = rule.metric.type
            created.metric = rule.metric.rawValue
            created.condition = rule.condition.proto
            created.threshold = rule.threshold
            created.resolveThreshold = rule.resolveThreshold ?? rule.threshold
            created.windowSeconds = rule.windowSeconds
            created.forSeconds = rule.forSeconds
            created.minSamples = rule.minSamples
            created.enabled = rule.enabled
            created.channels = rule.channels.map(\.proto)
            created.createdBy = actor
            return [.alertRuleCreated(created)]

        case .update(let rule, let actor):
            guard let current = state.rule else { throw CommandRejected(.notFound, "no alert \(rule.id)") }
            try validate(rule)
            guard rule.endpointID == current.endpointID, rule.metric == current.metric else {
                throw CommandRejected(
                    .invalid, field: rule.endpointID == current.endpointID ? "metric" : "endpoint_id",
                    "a rule's endpoint and metric cannot change: create another")
            }
            let fields = changedFields(current, rule)
            guard !fields.isEmpty else { return [] }
            var updated = AlertRuleUpdated()
            updated.ruleID = rule.id
            updated.name = rule.name
            updated.condition = rule.condition.proto
            updated.threshold = rule.threshold
            updated.resolveThreshold = rule.resolveThreshold ?? rule.threshold
            updated.windowSeconds = rule.windowSeconds
            updated.forSeconds = rule.forSeconds
            updated.minSamples = rule.minSamples
            updated.enabled = rule.enabled
            updated.channels = rule.channels.map(\.proto)
            updated.updatedFields = fields
            updated.updatedBy = actor
            // A disabled rule raises nothing: what it had raised ends with it.
            let ending = rule.enabled ? [] : try end(state, actor: actor, note: "rule disabled")
            return ending + [.alertRuleUpdated(updated)]

        case .delete(let actor):
            guard let rule = state.rule else { throw CommandRejected(.notFound, "no such alert") }
            var deleted = AlertRuleDeleted()
            deleted.ruleID = rule.id
            deleted.deletedBy = actor
            return try end(state, actor: actor, note: "rule deleted") + [.alertRuleDeleted(deleted)]

        case .evaluate(let observation):
            guard let rule = state.rule, rule.enabled else { return [] }
            return evaluate(rule, observation, state)

        case .acknowledge(let actor, let note):
            guard let rule = state.rule else { throw CommandRejected(.notFound, "no such alert") }
            guard case .firing(let alertID, let acknowledged) = state.phase else {
                throw CommandRejected(.conflict, "alert \(rule.id) is not active: nothing to acknowledge")
            }
            guard !acknowledged else { throw CommandRejected(.conflict, "alert \(rule.id) is already acknowledged") }
            var event = AlertAcknowledged()
            event.alertID = alertID
            event.ruleID = rule.id
            event.acknowledgedBy = actor
            event.note = note
            return [.alertAcknowledged(event)]

        case .resolve(let actor, let note):
            guard let rule = state.rule else { throw CommandRejected(.notFound, "no such alert") }
            guard case .firing = state.phase else { throw CommandRejected(.conflict, "alert \(rule.id) is not active: nothing to resolve") }
            return try end(state, actor: actor, note: note)

        case .recordDelivery(let report):
            guard let rule = state.rule else { throw CommandRejected(.notFound, "no such alert") }
            var event = AlertNotificationAttempted()
            event.deliveryID = report.deliveryID
            event.ruleID = rule.id
            event.alertID = report.alertID
            event.target = report.target
            event.attempt = report.attempt
            event.statusCode = report.statusCode
            event.error = report.error
            event.delivered = report.delivered
            event.gaveUp = !report.delivered && report.attempt >= maxDeliveryAttempts
            if !event.delivered && !event.gaveUp {
                event.nextAttemptAt = .init(date: report.at.addingTimeInterval(retryDelay(afterAttempt: report.attempt)))
            }
            return [.alertNotificationAttempted(event)]
        }
    }

    static func isDeliveryReport(_ command: Command) -> Bool {
        if case .recordDelivery = command { return true }
        return false
    }

    static func evaluate(_ rule: Rule, _ observation: Observation, _ state: State) -> [MetricsEvent] {
        // Too few samples, or no value: no verdict. A firing alert stays firing; a pending one keeps waiting.
        guard observation.samples >= rule.minSamples, let value = observation.value else { return [] }
        let breached = rule.condition.holds(value, rule.threshold)
        switch state.phase {
        case .quiet:
            guard breached else { return [] }
            let alertID = "\(rule.id)-\(state.raised + 1)"
            if rule.forSeconds == 0 { return [fired(rule, alertID: alertID, value: value, observation: observation)] }
            var pending = AlertPending()
            pending.alertID = alertID
            pending.ruleID = rule.id
            pending.observedValue = value
            pending.samples = observation.samples
            pending.since = .init(date: observation.at)
            return [.alertPending(pending)]
        case .pending(let alertID, let since):
            if breached {
                guard observation.at.timeIntervalSince(since) >= Double(rule.forSeconds) else { return [] }
                return [fired(rule, alertID: alertID, value: value, observation: observation)]
            }
            var cleared = AlertPendingCleared()
            cleared.alertID = alertID
            cleared.ruleID = rule.id
            cleared.observedValue = value
            return [.alertPendingCleared(cleared)]
        case .firing(let alertID, _):
            // Back past the resolve threshold, not merely under the firing one: that is what keeps it from flapping.
            guard !rule.condition.holds(value, rule.resolveThreshold ?? rule.threshold) else { return [] }
            var resolved = AlertResolved()
            resolved.alertID = alertID
            resolved.ruleID = rule.id
            resolved.automatic = true
            resolved.observedValue = value
            return [.alertResolved(resolved)]
        }
    }

    static func fired(_ rule: Rule, alertID: String, value: Double, observation: Observation) -> MetricsEvent {
        var fired = AlertFired()
        fired.alertID = alertID
        fired.ruleID = rule.id
        fired.endpointID = rule.endpointID
        fired.alertType = rule.metric.type
        fired.metric = rule.metric.rawValue
        fired.condition = rule.condition.proto
        fired.threshold = rule.threshold
        fired.observedValue = value
        fired.samples = observation.samples
        fired.windowStart = .init(date: observation.windowStart)
        fired.windowEnd = .init(date: observation.at)
        fired.message =
            "\(rule.name): \(rule.metric.rawValue) \(formatted(value)) \(rule.condition.rawValue) \(formatted(rule.threshold)) over \(rule.windowSeconds) s (\(observation.samples) requests)"
        return .alertFired(fired)
    }

    /// Ends what the rule has raised: resolves a firing alert (by `actor`), clears a pending one.
    static func end(_ state: State, actor: String, note: String) throws -> [MetricsEvent] {
        guard let rule = state.rule else { return [] }
        switch state.phase {
        case .quiet:
            return []
        case .pending(let alertID, _):
            var cleared = AlertPendingCleared()
            cleared.alertID = alertID
            cleared.ruleID = rule.id
            return [.alertPendingCleared(cleared)]
        case .firing(let alertID, _):
            var resolved = AlertResolved()
            resolved.alertID = alertID
            resolved.ruleID = rule.id
            resolved.automatic = false
            resolved.resolvedBy = actor
            resolved.note = note
            return [.alertResolved(resolved)]
        }
    }

    static func validate(_ rule: Rule) throws {
        let name = rule.name.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(name.count) else { throw CommandRejected(.invalid, field: "name", "name must be 1 to 200 characters") }
        guard rule.threshold.isFinite, rule.resolveThreshold?.isFinite ?? true else {
            throw CommandRejected(.invalid, field: "threshold", "thresholds must be finite numbers")
        }
        if rule.metric.type == .errorRate || rule.metric.type == .drift || rule.metric.type == .quality {
            guard (0...1).contains(rule.threshold) else {
                throw CommandRejected(.invalid, field: "threshold", "\(rule.metric.rawValue) is between 0 and 1")
            }
        } else {
            guard rule.threshold >= 0 else { throw CommandRejected(.invalid, field: "threshold", "a latency in ms is not negative") }
        }
        if let resolve = rule.resolveThreshold {
            // The resolve threshold must lie on the safe side of the firing one, or the alert would resolve while breached.
            let safe: Bool
            switch rule.condition {
            case .gt: safe = resolve <= rule.threshold
            case .lt: safe = resolve >= rule.threshold
            case .eq: safe = resolve == rule.threshold
            }
            guard safe else {
                throw CommandRejected(
                    .invalid, field: "resolve_threshold", "resolve_threshold must not be past the threshold (≤ it for gt, ≥ it for lt, equal for eq)")
            }
        }
        guard (60...86_400).contains(rule.windowSeconds) else {
            throw CommandRejected(.invalid, field: "window_seconds", "window_seconds is 60 to 86400 (rollups are per minute)")
        }
        guard (0...86_400).contains(rule.forSeconds) else { throw CommandRejected(.invalid, field: "for_seconds", "for_seconds is 0 to 86400") }
        guard (1...1_000_000).contains(rule.minSamples) else {
            throw CommandRejected(.invalid, field: "min_samples", "min_samples is 1 to 1000000: a verdict needs requests")
        }
        guard rule.channels.count <= 10 else { throw CommandRejected(.invalid, field: "notification_channels", "at most 10 channels") }
        for (index, channel) in rule.channels.enumerated() {
            guard let url = URL(string: channel.url), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host?.isEmpty == false else {
                throw CommandRejected(.invalid, field: "notification_channels[\(index)].url", "a webhook is an absolute http(s) URL")
            }
            guard channel.secret.count >= 16 else {
                throw CommandRejected(
                    .invalid, field: "notification_channels[\(index)].secret",
                    "a webhook needs a secret of at least 16 characters to sign deliveries with")
            }
        }
    }

    static func changedFields(_ old: Rule, _ new: Rule) -> [String] {
        var fields: [String] = []
        if old.name != new.name { fields.append("name") }
        if old.condition != new.condition { fields.append("condition") }
        if old.threshold != new.threshold { fields.append("threshold") }
        if old.resolveThreshold ?? old.threshold != new.resolveThreshold ?? new.threshold { fields.append("resolve_threshold") }
        if old.windowSeconds != new.windowSeconds { fields.append("window_seconds") }
        if old.forSeconds != new.forSeconds { fields.append("for_seconds") }
        if old.minSamples != new.minSamples { fields.append("min_samples") }
        if old.enabled != new.enabled { fields.append("enabled") }
        if old.channels != new.channels { fields.append("notification_channels") }
        return fields
    }

    static func formatted(_ value: Double) -> String { String(format: value < 1 ? "%.4g" : "%.1f", value) }

    public static func evolve(_ state: State, _ event: MetricsEvent) -> State {
        var state = state
        switch event {
        case .alertRuleCreated(let e):
            guard let metric = Metric(rawValue: e.metric), let condition = Condition(e.condition) else { return state }
            state.rule = Rule(
                id: e.ruleID, endpointID: e.endpointID, name: e.name, metric: metric, condition: condition, threshold: e.threshold,
                resolveThreshold: e.resolveThreshold, windowSeconds: e.windowSeconds, forSeconds: e.forSeconds, minSamples: e.minSamples,
                enabled: e.enabled, channels: e.channels.map(Channel.init))
        case .alertRuleUpdated(let e):
            guard var rule = state.rule else { return state }
            rule.name = e.name
            rule.condition = Condition(e.condition) ?? rule.condition
            rule.threshold = e.threshold
            rule.resolveThreshold = e.resolveThreshold
            rule.windowSeconds = e.windowSeconds
            rule.forSeconds = e.forSeconds
            rule.minSamples = e.minSamples
            rule.enabled = e.enabled
            rule.channels = e.channels.map(Channel.init)
            state.rule = rule
        case .alertRuleDeleted:
            state.deleted = true
            state.phase = .quiet
        case .alertPending(let e):
            state.raised += 1
            state.phase = .pending(alertID: e.alertID, since: e.since.date)
        case .alertPendingCleared:
            state.phase = .quiet
        case .alertFired(let e):
            if case .pending = state.phase {} else { state.raised += 1 }
            state.phase = .firing(alertID: e.alertID, acknowledged: false)
        case .alertAcknowledged(let e):
            state.phase = .firing(alertID: e.alertID, acknowledged: true)
        case .alertResolved:
            state.phase = .quiet
        case .alertNotificationAttempted:
            break  // delivery history is the read model's; it changes nothing the rule decides
        case .driftDetected, .feedbackRecorded, .feedbackFlagChanged, .feedbackDeleted, .feedbackSentToTraining:
            break  // other aggregates of the context
        }
        return state
    }
}

extension AlertRuleDecider.Channel {
    init(_ proto: NotificationChannel) { self.init(url: proto.target, secret: proto.secret) }

    var proto: NotificationChannel {
        var channel = NotificationChannel()
        channel.kind = .webhook
        channel.target = url
        channel.secret = secret
        return channel
    }
}
