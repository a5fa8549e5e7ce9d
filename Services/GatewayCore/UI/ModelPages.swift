import Foundation
import HTTPTypes
import Hummingbird
import SlipwayPlatform

/// A model's page: the spec's tabs (overview, versions with their metrics compared, artifacts, deployment, lineage),
/// one tab rendered per request (`?tab=`), so a page makes only the calls its tab needs.
extension WebPages {
    enum ModelTab: String, CaseIterable {
        case overview, versions, artifacts, deployment, lineage, timeline

        var title: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }
    }

    @Sendable func model(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        guard let user = try await user(request) else { return Self.loginRedirect(request) }
        let name = try context.parameters.require("name")
        let path = "/models/" + Self.pathSegment(name)
        let tabText = request.uri.queryParameters.get("tab") ?? ModelTab.overview.rawValue
        func page(_ main: String, status: HTTPResponse.Status = .ok) -> Response {
            // Live: what the registry, deploy-svc and schedule-svc record shows as it happens (a rollout's progress);
            // the timeline follows every context it shows.
            let live = tabText == ModelTab.timeline.rawValue ? Self.timelineContexts.map(\.id) : ["registry", "deploy", "schedule"]
            return HTML.page(HTML.layout(title: name, user: user, current: "models", live: live, main: main), status: status)
        }
        guard let tab = ModelTab(rawValue: tabText) else {
            let names = ModelTab.allCases.map(\.rawValue).joined(separator: ", ")
            return page(PageProblem(message: "tab must be one of \(names), not '\(tabText)'", status: .badRequest).html, status: .badRequest)
        }
        var timelineContext: String?
        var timelineBefore: Date?
        if tab == .timeline {
            switch Self.timelineContext(request.uri.queryParameters.get("context")).flatMap({ context in
                Self.timelineBefore(request.uri.queryParameters.get("before")).map { (context, $0) }
            }) {
            case .success(let (context, before)): (timelineContext, timelineBefore) = (context, before)
            case .failure(let problem): return page(problem.html, status: problem.status)
            }
        }
        let model: ModelDetail
        switch try await read(ModelDetail.self, from: "registry", "/api/registered-models/" + Self.pathSegment(name), for: user) {
        case .success(let answer): model = answer
        case .failure(let problem): return page(#"<h1>\#(HTML.escape(name))</h1>"# + problem.html, status: problem.status)
        }
        let main = """
            <p class="crumbs"><a href="/models">Models</a> /</p>
            <h1>\(HTML.escape(model.modelName)) \(Self.badge(model.status))</h1>
            <p class="muted">\(HTML.escape(model.modelType))\(model.description.isEmpty ? "" : " · " + HTML.escape(model.description))</p>
            \(Self.tabNav(path: path, ModelTab.allCases.map { ($0.rawValue, $0.title) }, current: tab.rawValue, label: "Model sections"))
            """
        let section: Result<String, PageProblem>
        switch tab {
        case .overview: section = try await overview(model, for: user)
        case .versions, .artifacts, .lineage:
            section = try await read(ModelVersions.self, from: "registry", "/api/registered-models/\(Self.pathSegment(name))/versions", for: user)
                .map { list in
                    switch tab {
                    case .versions: Self.versionsTable(list.versions, deployed: model.deployedVersion)
                    case .artifacts: Self.artifacts(list.versions)
                    default: Self.lineage(list.versions)
                    }
                }
        case .deployment: section = try await deployment(model, for: user)
        case .timeline: section = try await timeline(model, context: timelineContext, before: timelineBefore, for: user)
        }
        switch section {
        case .success(let html): return page(main + html)
        case .failure(let problem): return page(main + problem.html, status: problem.status)
        }
    }

    /// A page's tabs: links to `path?tab=<id>`, the current one marked.
    static func tabNav(path: String, _ tabs: [(id: String, title: String)], current: String, label: String) -> String {
        #"<nav class="tabs" aria-label="\#(label)">"#
            + tabs.map { #"<a href="\#(path)?tab=\#($0.id)"\#($0.id == current ? #" aria-current="page""# : "")>\#($0.title)</a>"# }.joined()
            + "</nav>"
    }

    // MARK: Overview

    func overview(_ model: ModelDetail, for user: User) async throws -> Result<String, PageProblem> {
        let latest = model.latestVersion
        let recall = latest?.metrics["recall_at_100"].map { String(format: "%.3f", $0) } ?? "—"
        var html = HTML.kpis(
            "Model figures",
            [
                ("Versions", "\(model.totalVersions)"), ("Latest", latest.map { "v\($0.version)" } ?? "—"), ("Recall@100 (latest)", recall),
                ("Deployed", model.deployedVersion.map { "v\($0)" } ?? "—"), ("Schedule", HTML.escape(model.scheduleStatus ?? "none")),
            ])
        html += "<dl class=\"props\">"
        let aliases = model.aliases.sorted { $0.key < $1.key }.map { "\($0.key) → v\($0.value)" }.joined(separator: ", ")
        let tags = model.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        for (term, value) in [
            ("Aliases", aliases.isEmpty ? "none" : aliases), ("Tags", tags.isEmpty ? "none" : tags),
            ("Registered", model.isRegistered ? "yes" : "not yet"), ("Created", Self.day(model.createdAt)), ("Updated", Self.day(model.updatedAt)),
        ] {
            html += "<dt>\(term)</dt><dd>\(HTML.escape(value))</dd>"
        }
        html += "</dl>"
        let canEdit = user.role != "viewer"
        guard let scheduleID = model.scheduleId else {
            return .success(html + Self.newSchedule(model, canEdit: canEdit))
        }
        return try await read(ScheduleActivity.self, from: "schedule", "/api/training/schedules/" + Self.pathSegment(scheduleID), for: user)
            .map { html + Self.scheduleGrid($0, now: Date(), canEdit: canEdit) }
            .flatMapError { problem in .success(html + problem.html) }
    }

    /// The schedule's activity: a day per cell over the past twelve weeks (what each day's slots became) and the
    /// next fire times in the schedule's own zone.
    /// `titled`: headed by the schedule's name and status (the schedule's own page has them in its title).
    static func scheduleGrid(_ schedule: ScheduleActivity, now: Date, canEdit: Bool = false, weeks: Int = 12, titled: Bool = true) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let today = calendar.startOfDay(for: now)
        // The grid ends with the week holding today; columns are weeks, rows Monday to Sunday.
        let weekday = (calendar.component(.weekday, from: today) + 5) % 7  // Monday 0 … Sunday 6
        let firstDay = calendar.date(byAdding: .day, value: -(weeks - 1) * 7 - weekday, to: today)!
        var byDay: [Int: [ScheduleActivity.Slot]] = [:]
        for slot in schedule.ledger ?? [] {
            let day = calendar.dateComponents([.day], from: firstDay, to: calendar.startOfDay(for: slot.slotTime)).day ?? -1
            if day >= 0 && day < weeks * 7 { byDay[day, default: []].append(slot) }
        }
        var cells = ""
        for column in 0..<weeks {
            cells += #"<div class="week">"#
            for row in 0..<7 {
                let index = column * 7 + row
                let date = calendar.date(byAdding: .day, value: index, to: firstDay)!
                let slots = byDay[index] ?? []
                let kind =
                    date > today
                    ? "future"
                    : slots.isEmpty
                        ? "none"
                        : slots.contains { $0.outcome.hasPrefix("skipped") }
                            ? (slots.contains { $0.outcome.hasPrefix("started") } ? "mixed" : "skipped") : "started"
                let day = date.formatted(Date.ISO8601FormatStyle().year().month().day().dateSeparator(.dash))
                let what = slots.isEmpty ? "no slot" : slots.map { $0.outcome.replacingOccurrences(of: "_", with: " ") }.joined(separator: ", ")
                cells += #"<span class="day \#(kind)" title="\#(day): \#(HTML.escape(what))"></span>"#
            }
            cells += "</div>"
        }
        let next = (schedule.upcoming ?? []).prefix(5).map { "<li><time datetime=\"\($0.at.ISO8601Format())\">\(HTML.escape($0.local))</time></li>" }
            .joined()
        let ended = schedule.successfulRuns + schedule.failedRuns + schedule.notBlessedRuns + schedule.cancelledRuns
        // An editor pauses an active schedule, resumes a paused one, and starts a run now.
        var actions = ""
        if canEdit {
            let path = "/api/training/schedules/" + pathSegment(schedule.id)
            let verbs =
                (schedule.status == "active" ? [("pause", "Pause")] : schedule.status == "paused" ? [("resume", "Resume")] : [])
                + [("trigger", "Run now")]
            actions =
                #"<div class="actions">"#
                + verbs.map { verb, title in
                    #"<form data-api="\#(path)/\#(verb)"><button type="submit" class="secondary">\#(title)</button></form>"#
                }.joined() + #"<p class="error" role="alert" id="action-error" hidden></p></div>"#
        }
        return """
            <section class="schedule" aria-label="Retraining schedule">
            \(titled ? "<h2>Schedule: \(HTML.escape(schedule.name)) \(badge(schedule.status))</h2>" : "")\(actions)
            <p class="muted">\(HTML.escape(schedule.scheduleType))\(schedule.scheduleTime.map { " at " + HTML.escape($0) } ?? "") \
            (\(HTML.escape(schedule.scheduleTimezone))) · \(schedule.totalRuns) runs, \(schedule.successfulRuns) of \(ended) ended ones succeeded</p>
            <div class="activity" role="img" aria-label="What each day's slots became over the past \(weeks) weeks">\(cells)</div>
            <p class="activity-legend"><span class="day started"></span> started <span class="day mixed"></span> started and skipped \
            <span class="day skipped"></span> skipped <span class="day none"></span> no slot</p>
            <h3>Next fire times</h3>
            \(next.isEmpty ? #"<p class="muted">None: the schedule is not active.</p>"# : "<ol class=\"upcoming\">\(next)</ol>")
            </section>
            """
    }

    /// No schedule yet: an editor makes one from the latest version's run (its configuration frozen into it).
    static func newSchedule(_ model: ModelDetail, canEdit: Bool) -> String {
        let none = #"<p class="muted">No retraining schedule.</p>"#
        guard canEdit, let run = model.latestVersion?.sourceRunId else { return none }
        let kinds = ["daily", "weekly", "monthly", "hourly"].map { ($0, $0.prefix(1).uppercased() + $0.dropFirst()) }
        return none + """
            <form class="action" data-api="/api/training/schedules/from-run">
            <h2>Retrain on a schedule</h2>
            <input type="hidden" name="source_training_run_id" value="\(HTML.escape(run))">
            <label>Name <input name="name" required maxlength="200" value="\(HTML.escape(model.modelName)) retraining"></label>
            \(HTML.select("schedule_type", "Every", kinds, "daily"))
            <label>At (HH:MM; hourly 00:MM) <input name="schedule_time" required pattern="[0-9]{2}:[0-9]{2}" value="02:00"></label>
            <label>Weekday (weekly; 0 = Monday … 6) <input type="number" name="schedule_day_of_week" min="0" max="6" value="0"></label>
            <label>Day (monthly) <input type="number" name="schedule_day_of_month" min="1" max="31" value="1"></label>
            <label>Time zone <input name="schedule_timezone" required value="UTC"></label>
            <button type="submit">Create</button>
            </form>
            <p class="error" role="alert" id="action-error" hidden></p>
            """
    }

    // MARK: Versions, artifacts, lineage

    /// Up to six of the versions' metrics (recalls first, the widest cut-off first; then the rest by name); each
    /// value with its change from the version before it, and the deployed version marked.
    static func versionsTable(_ versions: [ModelVersions.Version], deployed: Int?) -> String {
        guard !versions.isEmpty else { return #"<p class="muted">No versions yet: a blessed run registers one.</p>"# }
        let names = comparedMetrics(versions)
        let byNumber = Dictionary(versions.map { ($0.version, $0) }, uniquingKeysWith: { first, _ in first })
        var rows = ""
        for version in versions.sorted(by: { $0.version > $1.version }) {
            let previous = byNumber[version.version - 1]
            var cells = ""
            for name in names {
                guard let value = version.metrics[name], value.isFinite else {
                    cells += #"<td class="muted">—</td>"#
                    continue
                }
                var change = ""
                if let before = previous?.metrics[name], before.isFinite, before != value {
                    let better = (value > before) != lowerIsBetter(name)
                    change =
                        #" <span class="delta \#(better ? "better" : "worse")">\#(value > before ? "+" : "−")\#(String(format: "%.4f", abs(value - before)))</span>"#
                }
                cells += String(format: "<td>%.4f", value) + change + "</td>"
            }
            let marks =
                (version.version == deployed ? [#"<span class="badge deployed">deployed</span>"#] : [])
                + version.aliases.map { #"<span class="badge">\#(HTML.escape($0))</span>"# }
            rows += """
                <tr><td><strong>v\(version.version)</strong> \(marks.joined(separator: " "))</td>
                <td>\(version.blessed ? "blessed" : #"<span class="muted">not blessed</span>"#)</td>
                <td><a href="/training/\(pathSegment(version.sourceRunId))">run \(version.runNumber)</a></td>\(cells)
                <td><time datetime="\(version.registeredAt.ISO8601Format())">\(day(version.registeredAt))</time></td></tr>
                """
        }
        let headers = names.map { #"<th scope="col">\#(HTML.escape(metricLabel($0)))</th>"# }.joined()
        return """
            <div class="table"><table>
            <thead><tr><th scope="col">Version</th><th scope="col">Blessing</th><th scope="col">Run</th>\(headers)<th scope="col">Registered</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            <p class="muted">Each metric's change is from the version before it.</p>
            """
    }

    /// The metrics versions are compared by: up to six, recalls first (the widest cut-off first), then the other ranking
    /// measures, then the rest (a model's parameters may be among its metrics) by name.
    static func comparedMetrics(_ versions: [ModelVersions.Version]) -> [String] {
        func order(_ name: String) -> (Int, Int, String) {
            if name.hasPrefix("recall_at_"), let cutoff = Int(name.dropFirst("recall_at_".count)) { return (0, -cutoff, name) }
            if ["ndcg", "map_at", "mrr", "precision"].contains(where: name.hasPrefix) { return (1, 0, name) }
            return (2, 0, name)
        }
        return Array(Set(versions.flatMap(\.metrics.keys)).sorted { order($0) < order($1) }.prefix(6))
    }

    /// Losses, errors and latencies improve downwards; recalls and the rest upwards.
    static func lowerIsBetter(_ name: String) -> Bool {
        name.contains("loss") || name.contains("error") || name.hasSuffix("_ms")
    }

    /// `recall_at_100` → `Recall@100`; other names as they are.
    static func metricLabel(_ name: String) -> String {
        if name.hasPrefix("recall_at_") { return "Recall@" + name.dropFirst("recall_at_".count) }
        return name
    }

    static func artifacts(_ versions: [ModelVersions.Version]) -> String {
        guard !versions.isEmpty else { return #"<p class="muted">No versions, so no artifacts.</p>"# }
        var html = ""
        for version in versions.sorted(by: { $0.version > $1.version }) {
            var items = "<li><strong>bundle</strong> <code>\(HTML.escape(version.artifactUri))</code></li>"
            for (name, uri) in version.lineage.artifacts.sorted(by: { $0.key < $1.key }) {
                items += "<li><strong>\(HTML.escape(name))</strong> <code>\(HTML.escape(uri))</code></li>"
            }
            html += "<section class=\"card\"><h2>v\(version.version)</h2><ul class=\"plain\">\(items)</ul></section>"
        }
        return html
    }

    /// Where each version came from: its run and that run's dataset, feature and model configurations, the schedule
    /// that started it, and the version it was trained from.
    static func lineage(_ versions: [ModelVersions.Version]) -> String {
        guard !versions.isEmpty else { return #"<p class="muted">No versions yet.</p>"# }
        var html = ""
        for version in versions.sorted(by: { $0.version > $1.version }) {
            let lineage = version.lineage
            let steps: [(String, String?)] = [
                ("Dataset", lineage.datasetId), ("Features", lineage.featureConfigId), ("Model config", lineage.modelConfigId),
                ("Schedule", lineage.scheduleId), ("Trained from", lineage.parentVersionId),
            ]
            var chain = steps.compactMap { label, value in
                value.map { #"<li><span class="muted">\#(label)</span> <code>\#(HTML.escape($0))</code></li>"# }
            }
            chain.append(
                #"<li><span class="muted">Run</span> <a href="/training/\#(pathSegment(version.sourceRunId))">\#(HTML.escape(version.sourceRunId))</a></li>"#
            )
            html += """
                <section class="card"><h2>v\(version.version) <span class="muted">\(HTML.escape(version.versionLabel))</span></h2>
                <ol class="lineage">\(chain.joined())<li><strong>v\(version.version)</strong></li></ol></section>
                """
        }
        return html
    }
}

/// What the model page reads of `GET /api/registered-models/{name}`.
struct ModelDetail: Decodable {
    var modelName: String
    var modelType: String
    var description: String
    var tags: [String: String]
    var status: String
    var isRegistered: Bool
    var totalVersions: Int
    var latestVersion: ModelVersions.Version?
    var aliases: [String: Int]
    var scheduleId: String?
    var scheduleStatus: String?
    var deployedVersion: Int?
    var createdAt: Date
    var updatedAt: Date
}

/// `GET /api/registered-models/{name}/versions`.
struct ModelVersions: Decodable {
    struct Lineage: Decodable {
        var datasetId: String?
        var featureConfigId: String?
        var modelConfigId: String?
        var scheduleId: String?
        var parentVersionId: String?
        var artifacts: [String: String]
    }

    struct Version: Decodable {
        var version: Int
        var versionLabel: String
        var sourceRunId: String
        var runNumber: Int
        var artifactUri: String
        var metrics: [String: Double]
        var blessed: Bool
        var aliases: [String]
        var registeredAt: Date
        var lineage: Lineage
    }

    var versions: [Version]
}

/// `GET /api/models/{model}/endpoints` (deploy-svc).
struct ModelEndpoints: Decodable {
    struct Endpoint: Decodable {
        var name: String
        var status: String
        var url: String
        var traffic: [EndpointDetail.Traffic]
    }

    var endpoints: [Endpoint]
}

/// What the model page's schedule grid reads of `GET /api/training/schedules/{id}`.
struct ScheduleActivity: Decodable {
    struct Upcoming: Decodable {
        var at: Date
        var local: String
    }

    struct Slot: Decodable {
        var slotTime: Date
        var outcome: String
    }

    var id: String
    var name: String
    var status: String
    var scheduleType: String
    var scheduleTime: String?
    var scheduleTimezone: String
    var totalRuns: Int
    var successfulRuns: Int
    var failedRuns: Int
    var notBlessedRuns: Int
    var cancelledRuns: Int
    var upcoming: [Upcoming]?
    var ledger: [Slot]?
}
