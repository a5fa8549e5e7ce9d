import Foundation
import HTTPTypes
import SlipwayPlatform

/// A model's timeline (`/models/{name}?tab=timeline[&context=]`): the platform's events about the model, newest
/// first — its runs, versions and aliases, schedule firings, endpoints (deployments, traffic, rollbacks), API keys,
/// endpoint and load tests, alerts and drift analyses — with who caused each and why. The event log made readable:
/// each service is asked which of its aggregates belong to the model (its public lists), then for the newest events
/// of those aggregates (`/internal/events?newest_first=true`, reachable from the gateway only).
extension WebPages {
    /// The contexts a timeline shows, as the filter offers them.
    static let timelineContexts: [(id: String, title: String)] = [
        ("training", "Training"), ("registry", "Registry"), ("schedule", "Schedules"), ("deploy", "Deployment"), ("testing", "Tests"),
        ("metrics", "Monitoring"),
    ]
    /// The events a timeline shows at most (the newest).
    static let timelineLimit = 200
    /// How many of a model's runs, an endpoint's tests and drift analyses a page follows: the newest, or the newest
    /// before the page's instant (an aggregate's events come after its start, so these hold the page's events).
    static let timelineAggregates = 100

    /// The filter's `?context=`: nil for every context; a 400 naming it when it is none of them.
    static func timelineContext(_ text: String?) -> Result<String?, PageProblem> {
        guard let text, !text.isEmpty else { return .success(nil) }
        guard timelineContexts.contains(where: { $0.id == text }) else {
            return .failure(
                PageProblem(message: "context must be one of \(timelineContexts.map(\.id).joined(separator: ", "))", status: .badRequest))
        }
        return .success(text)
    }

    /// One service's aggregates of one type whose events the timeline reads.
    struct Aggregates {
        var service: String
        var type: String
        var ids: [String]
    }

    /// The timeline's `?before=`: the events older than this instant (the next page); nil for the newest.
    static func timelineBefore(_ text: String?) -> Result<Date?, PageProblem> {
        guard let text, !text.isEmpty else { return .success(nil) }
        guard let date = ISO8601.date(text) else { return .failure(PageProblem(message: "before must be an ISO 8601 instant", status: .badRequest)) }
        return .success(date)
    }

    /// An instant as the next page's `before`: rounded down to the millisecond, so that the page's oldest event is not
    /// shown again.
    static func pageBoundary(_ date: Date) -> String {
        ISO8601.millisecondString(Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.down) / 1000))
    }

    func timeline(_ model: ModelDetail, context: String?, before: Date?, for user: User) async throws -> Result<String, PageProblem> {
        let name = Self.pathSegment(model.modelName)
        func wanted(_ service: String) -> Bool { context == nil || context == service }
        let olderThanPage = before.map { "&before=" + ISO8601.millisecondString($0) } ?? ""
        // First what belongs to the model, each list read only when its context is shown.
        async let runs =
            wanted("training")
            ? read(
                IDList.self, from: "training", "/api/training-runs?name=\(name)&limit=\(Self.timelineAggregates)&offset=0\(olderThanPage)", for: user)
            : nil
        async let schedules = wanted("schedule") ? read(IDList.self, from: "schedule", "/api/training/schedules?model_name=\(name)", for: user) : nil
        async let keys = wanted("deploy") ? read(IDList.self, from: "deploy", "/api/models/\(name)/api-keys", for: user) : nil
        let endpoints: [String]
        switch try await read(IDList.self, from: "deploy", "/api/models/\(name)/endpoints", for: user) {
        case .success(let list): endpoints = list.ids
        // deploy-svc learns of a model from the registry's events: until then it has no endpoints (nor keys) for it.
        case .failure(let problem) where problem.status == .notFound: endpoints = []
        case .failure(let problem): return .failure(problem)
        }
        var groups = [Aggregates(service: "registry", type: "RegisteredModel", ids: [model.modelName])]
        groups.append(Aggregates(service: "deploy", type: "Endpoint", ids: endpoints))
        for (service, type, list) in [
            ("training", "TrainingRun", try await runs), ("schedule", "TrainingSchedule", try await schedules), ("deploy", "ApiKey", try await keys),
        ] {
            switch list {
            case .none: continue
            case .success(let list): groups.append(Aggregates(service: service, type: type, ids: list.ids))
            case .failure(let problem) where problem.status == .notFound: continue
            case .failure(let problem): return .failure(problem)
            }
        }
        if wanted("testing") || wanted("metrics") {
            switch try await endpointAggregates(
                endpoints, tests: wanted("testing"), monitoring: wanted("metrics"), olderThanPage: olderThanPage, for: user)
            {
            case .success(let found): groups += found
            case .failure(let problem): return .failure(problem)
            }
        }
        // Then the newest events of each group, all at once.
        let events = try await withThrowingTaskGroup(of: Result<[EventView], PageProblem>.self) { tasks in
            for group in groups where wanted(group.service) && !group.ids.isEmpty {
                tasks.addTask { try await self.events(of: group, before: before, for: user) }
            }
            var all: [EventView] = []
            for try await answer in tasks {
                switch answer {
                case .success(let events): all += events
                case .failure(let problem): return Result<[EventView], PageProblem>.failure(problem)
                }
            }
            return .success(all)
        }
        return events.map { all in
            Self.timeline(Self.newest(all, limit: Self.timelineLimit), model: model.modelName, context: context, paged: before != nil)
        }
    }

    /// An endpoint's tests and checks (testing-svc) and its alert rules and drift analyses (metrics-svc).
    func endpointAggregates(_ endpoints: [String], tests: Bool, monitoring: Bool, olderThanPage: String, for user: User) async throws
        -> Result<[Aggregates], PageProblem>
    {
        var groups: [Aggregates] = []
        if tests {
            groups += [
                Aggregates(service: "testing", type: "EndpointLoadTests", ids: endpoints),
                Aggregates(service: "testing", type: "ScheduledCheck", ids: endpoints),
            ]
        }
        var testIDs: [String] = []
        var reportIDs: [String] = []
        for endpoint in endpoints {
            let segment = Self.pathSegment(endpoint)
            if tests {
                switch try await read(
                    TestHistory.self, from: "testing", "/api/deployed-endpoints/\(segment)/test?limit=\(Self.timelineAggregates)\(olderThanPage)",
                    for: user)
                {
                case .success(let history): testIDs += history.tests.map(\.testId)
                // testing-svc has not heard of an endpoint that was never served: it has no tests.
                case .failure(let problem) where problem.status == .notFound: break
                case .failure(let problem): return .failure(problem)
                }
            }
            if monitoring {
                switch try await read(
                    DriftReportList.self, from: "metrics",
                    "/api/v1/monitoring/drift/\(segment)/reports?limit=\(Self.timelineAggregates)\(olderThanPage)", for: user)
                {
                case .success(let list): reportIDs += list.reports.map(\.id)
                case .failure(let problem) where problem.status == .notFound: break
                case .failure(let problem): return .failure(problem)
                }
            }
        }
        if tests { groups.append(Aggregates(service: "testing", type: "EndpointTest", ids: testIDs)) }
        if monitoring {
            switch try await read(AlertList.self, from: "metrics", "/api/v1/monitoring/alerts", for: user) {
            case .success(let list):
                let served = Set(endpoints)
                groups.append(Aggregates(service: "metrics", type: "AlertRule", ids: list.alerts.filter { served.contains($0.endpointId) }.map(\.id)))
            case .failure(let problem): return .failure(problem)
            }
            groups.append(Aggregates(service: "metrics", type: "DriftReport", ids: reportIDs))
        }
        return .success(groups)
    }

    /// The newest events of a group's aggregates (before `before`), from the service's event store.
    func events(of group: Aggregates, before: Date?, for user: User) async throws -> Result<[EventView], PageProblem> {
        var components = URLComponents()
        components.queryItems =
            [
                URLQueryItem(name: "newest_first", value: "true"), URLQueryItem(name: "aggregate_type", value: group.type),
                URLQueryItem(name: "limit", value: String(Self.timelineLimit)), URLQueryItem(name: "format", value: "json"),
            ] + (before.map { [URLQueryItem(name: "before", value: ISO8601.millisecondString($0))] } ?? [])
            + group.ids.map { URLQueryItem(name: "aggregate_id", value: $0) }
        // `+` is a space in a query; an id with one must keep it.
        let query = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        return try await read([EventView].self, from: group.service, "/internal/events?" + query, for: user)
    }

    /// The newest `limit` of events from several services, newest first (an event's own time; its id breaks a tie).
    static func newest(_ events: [EventView], limit: Int) -> [EventView] {
        Array(events.sorted { ($0.occurredAt, $0.eventId) > ($1.occurredAt, $1.eventId) }.prefix(limit))
    }

    /// `paged`: an older page (the filter and a link back to the newest say so).
    static func timeline(_ events: [EventView], model: String, context: String?, paged: Bool = false) -> String {
        let path = "/models/\(pathSegment(model))?tab=timeline"
        let filters =
            #"<nav class="tabs windows" aria-label="Contexts">"#
            + ([(id: "", title: "All")] + timelineContexts).map { item in
                let href = item.id.isEmpty ? path : path + "&amp;context=" + item.id
                return #"<a href="\#(href)"\#((context ?? "") == item.id ? #" aria-current="page""# : "")>\#(item.title)</a>"#
            }.joined() + "</nav>"
        let newest = paged ? #"<p><a href="\#(path)\#(context.map { "&amp;context=" + $0 } ?? "")">← The newest events</a></p>"# : ""
        guard !events.isEmpty else { return filters + newest + #"<p class="muted">\#(paged ? "No older events." : "No events yet.")</p>"# }
        let rows = events.map { event in
            let title = timelineContexts.first { $0.id == event.sourceService }?.title ?? event.sourceService
            let (summary, payload) = describe(event.payload)
            return """
                <li class="event"><time datetime="\(event.occurredAt.ISO8601Format())">\(day(event.occurredAt))</time>
                <span class="badge context">\(HTML.escape(title))</span> <strong>\(HTML.escape(humanized(event.eventType)))</strong>
                \(subject(event)) · <span class="muted">by</span> \(event.actor.isEmpty ? #"<span class="muted">—</span>"# : HTML.escape(event.actor))
                \(summary.isEmpty ? "" : #"<div class="facts-line">\#(summary)</div>"#)
                <details><summary>Event</summary><pre class="config">\(HTML.escape(payload))</pre>\
                <p class="muted">\(HTML.escape(event.eventType)) · \(HTML.escape(event.eventId)) · version \(event.version)\
                \(event.correlationId.isEmpty ? "" : " · correlation " + HTML.escape(event.correlationId))</p></details></li>
                """
        }.joined()
        // A full page may have older events behind it: the next page is those before its oldest.
        var older = ""
        if events.count >= timelineLimit, let oldest = events.last {
            var query = [("tab", "timeline")] + (context.map { [("context", $0)] } ?? [])
            query.append(("before", pageBoundary(oldest.occurredAt)))
            var components = URLComponents()
            components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
            older =
                #"<nav class="pages" aria-label="Pages"><a href="/models/\#(pathSegment(model))?\#(HTML.escape(components.percentEncodedQuery ?? ""))">Older events →</a></nav>"#
        }
        return filters + newest + #"<ol class="timeline">\#(rows)</ol>"# + older
    }

    /// "slipway.deploy.v1.DeploymentStarted" as "Deployment started".
    static func humanized(_ eventType: String) -> String {
        let name = eventType.split(separator: ".").last.map(String.init) ?? eventType
        var words = ""
        for (index, character) in name.enumerated() {
            if character.isUppercase, index > 0 { words += " " + character.lowercased() } else { words.append(character) }
        }
        return words
    }

    /// What the event is about, linked to its page where it has one.
    static func subject(_ event: EventView) -> String {
        let id = HTML.escape(event.aggregateId)
        switch event.aggregateType {
        case "TrainingRun": return #"run <a href="/training/\#(pathSegment(event.aggregateId))">\#(id)</a>"#
        case "Endpoint", "EndpointLoadTests", "ScheduledCheck":
            return #"endpoint <a href="/endpoints/\#(pathSegment(event.aggregateId))">\#(id)</a>"#
        case "RegisteredModel": return "model \(id)"
        case "TrainingSchedule": return "schedule \(id)"
        case "ApiKey": return "API key \(id)"
        case "EndpointTest": return "test \(id)"
        case "AlertRule": return "alert \(id)"
        case "DriftReport": return "drift analysis \(id)"
        default: return "\(HTML.escape(event.aggregateType)) \(id)"
        }
    }

    /// The payload's telling fields as a line (why, which version, what became of it), and the whole payload
    /// indented for the details.
    static let telling = [
        "reason", "stage", "epoch", "loss", "version_number", "version", "status", "outcome", "traffic_percent", "strategy", "trigger", "passed",
        "name", "metric", "threshold", "observed_value", "severity", "preset", "target", "address", "attempt", "blessed", "alias", "note",
        "error", "message",
    ]

    /// A protobuf enum's name as words: `reason` "TRAFFIC_SHIFT_REASON_ACTIVATION" is "activation".
    static func enumWords(_ text: String, key: String) -> String {
        guard !text.isEmpty, text.allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }) else { return text }
        let marker = "_" + key.uppercased() + "_"
        let tail = text.range(of: marker).map { String(text[$0.upperBound...]) } ?? text
        return tail.lowercased().replacingOccurrences(of: "_", with: " ")
    }

    static func describe(_ payload: String) -> (summary: String, pretty: String) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any] else { return ("", payload) }
        var facts: [String] = []
        for key in telling {
            guard facts.count < 5, let value = object[key] else { continue }
            let text: String
            if key == "passed" || key == "blessed", let flag = value as? Bool {
                text = flag ? "yes" : "no"
            } else if let string = value as? String, !string.isEmpty {
                text = enumWords(string, key: key)
            } else if let number = value as? Double {
                text = Charts.number(number)
            } else {
                continue
            }
            let shown = text.count > 160 ? String(text.prefix(160)) + "…" : text
            facts.append(#"<span class="muted">\#(HTML.escape(key.replacingOccurrences(of: "_", with: " ")))</span> \#(HTML.escape(shown))"#)
        }
        let pretty =
            (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]))
            .map { String(decoding: $0, as: UTF8.self) } ?? payload
        return (facts.joined(separator: " · "), pretty)
    }
}

/// The ids in one of the lists the timeline reads: a model's runs, schedules, API keys or endpoints.
struct IDList: Decodable {
    struct Item: Decodable {
        var id: String
    }

    var trainingRuns: [Item]?
    var schedules: [Item]?
    var apiKeys: [Item]?
    var endpoints: [Item]?

    var ids: [String] { (trainingRuns ?? schedules ?? apiKeys ?? endpoints ?? []).map(\.id) }
}

/// `GET /api/v1/monitoring/drift/{endpoint}/reports`.
struct DriftReportList: Decodable {
    struct Report: Decodable {
        var id: String
    }

    var reports: [Report]
}
