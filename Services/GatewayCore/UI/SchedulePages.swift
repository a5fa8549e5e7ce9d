import Foundation
import HTTPTypes
import Hummingbird
import SlipwayPlatform

/// The retraining schedules: `/schedules`, every schedule a page at a time with pause, resume and run now; and
/// `/schedules/{id}`, one schedule — its activity grid, next fire times and ledger, its frozen configuration, and for
/// editors the actions and a timing form whose next fire times are previewed (schedule-svc's preview) as it is
/// edited.
extension WebPages {
    @Sendable func schedules(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        guard let user = try await user(request) else { return Self.loginRedirect(request) }
        let query = request.uri.queryParameters
        let status = query.get("status") ?? ""
        var main = "<h1>Schedules</h1>" + Self.scheduleFilters(status: status)
        func page(_ status: HTTPResponse.Status = .ok) -> Response {
            HTML.page(HTML.layout(title: "Schedules", user: user, current: "schedules", live: ["schedule"], main: main), status: status)
        }
        guard ["", "active", "paused", "completed", "cancelled"].contains(status) else {
            main += PageProblem(message: "status must be active, paused, completed or cancelled", status: .badRequest).html
            return page(.badRequest)
        }
        let number: Int
        switch Self.pageNumber(query.get("page"), last: 1_000_000 / Self.pageSize) {
        case .success(let chosen): number = chosen
        case .failure(let problem):
            main += problem.html
            return page(problem.status)
        }
        let filter = status.isEmpty ? "" : "&status=" + status
        let path = "/api/training/schedules?limit=\(Self.pageSize)&offset=\((number - 1) * Self.pageSize)" + filter
        switch try await read(ScheduleList.self, from: "schedule", path, for: user) {
        case .success(let list):
            main += Self.scheduleTable(list.schedules, canEdit: user.role != "viewer")
            let pages = max(1, (list.totalMatching + Self.pageSize - 1) / Self.pageSize)
            if list.schedules.isEmpty, list.totalMatching > 0 { main += #"<p class="muted">Page \#(number) is past the last one.</p>"# }
            if pages > 1 || number > pages {
                main += HTML.pager(path: "/schedules", query: status.isEmpty ? [] : [("status", status)], page: number, pages: pages)
            }
            return page()
        case .failure(let problem):
            main += problem.html
            return page(problem.status)
        }
    }

    static func scheduleFilters(status: String) -> String {
        """
        <form class="filters" method="get" action="/schedules" role="search">
        \(HTML.select("status", "Status", [("", "All"), ("active", "Active"), ("paused", "Paused"), ("completed", "Completed"), ("cancelled", "Cancelled")], status))
        <button type="submit">Filter</button>
        </form>
        """
    }

    static func scheduleTable(_ schedules: [ScheduleDetail], canEdit: Bool) -> String {
        guard !schedules.isEmpty else {
            return
                #"<p class="muted">No schedules: make one on a model's page, from its latest run, or with <code>slipway schedules create</code>.</p>"#
        }
        let rows = schedules.map { schedule in
            let id = pathSegment(schedule.activity.id)
            return """
                <tr><td><a href="/schedules/\(id)"><strong>\(HTML.escape(schedule.activity.name))</strong></a></td>
                <td><a href="/models/\(pathSegment(schedule.modelName))">\(HTML.escape(schedule.modelName))</a></td>
                <td>\(HTML.escape(timing(schedule)))</td><td>\(badge(schedule.activity.status))</td>
                <td>\(schedule.nextRunAt.map(day) ?? #"<span class="muted">—</span>"#)</td>
                <td>\(schedule.lastRunAt.map(day) ?? #"<span class="muted">never</span>"#)</td>
                <td>\(schedule.activity.successfulRuns)/\(schedule.activity.totalRuns)</td>
                <td>\(canEdit ? scheduleActions(schedule, compact: true) : "")</td></tr>
                """
        }.joined()
        return """
            <div class="table"><table>
            <thead><tr><th scope="col">Schedule</th><th scope="col">Model</th><th scope="col">Timing</th><th scope="col">Status</th>
            <th scope="col">Next run</th><th scope="col">Last run</th><th scope="col">Succeeded</th>
            <th scope="col"><span class="muted">Actions</span></th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            <p class="error" role="alert" id="action-error" hidden></p>
            """
    }

    /// "daily at 02:00 (Europe/Warsaw)", "weekly on Monday at 09:30 (UTC)", "hourly at :15 (UTC)".
    static func timing(_ schedule: ScheduleDetail) -> String {
        let weekdays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        let at = schedule.activity.scheduleTime ?? ""
        let zone = " (\(schedule.activity.scheduleTimezone))"
        switch schedule.activity.scheduleType {
        case "hourly": return "hourly at :" + (at.split(separator: ":").last.map(String.init) ?? "00") + zone
        case "daily": return "daily at \(at)" + zone
        case "weekly": return "weekly on \(schedule.scheduleDayOfWeek.map { weekdays[min(max($0, 0), 6)] } ?? "?") at \(at)" + zone
        case "monthly": return "monthly on day \(schedule.scheduleDayOfMonth.map(String.init) ?? "?") at \(at)" + zone
        case "once": return "once at " + (schedule.scheduledDatetime.map(day) ?? "?")
        default: return schedule.activity.scheduleType + zone
        }
    }

    /// Pause or resume, run now; on the schedule's own page also cancel and delete.
    static func scheduleActions(_ schedule: ScheduleDetail, compact: Bool) -> String {
        let path = "/api/training/schedules/" + pathSegment(schedule.activity.id)
        let status = schedule.activity.status
        var forms = ""
        if status == "active" { forms += #"<form data-api="\#(path)/pause"><button type="submit" class="secondary">Pause</button></form>"# }
        if status == "paused" { forms += #"<form data-api="\#(path)/resume"><button type="submit" class="secondary">Resume</button></form>"# }
        if status == "active" || status == "paused" {
            forms += #"<form data-api="\#(path)/trigger"><button type="submit" class="secondary">Run now</button></form>"#
            if !compact {
                forms += """
                    <form data-api="\(path)/cancel" data-confirm="Cancel this schedule? It starts no more runs."><button type="submit" class="secondary">Cancel schedule</button></form>
                    """
            }
        }
        if !compact {
            forms += """
                <form data-api="\(path)" data-method="DELETE" data-redirect="/schedules" data-confirm="Delete this schedule for good? Its events keep its history.">\
                <button type="submit" class="secondary">Delete</button></form>
                """
        }
        return #"<div class="row-actions">\#(forms)</div>"#
    }

    @Sendable func schedule(_ request: Request, context: SlipwayRequestContext) async throws -> Response {
        guard let user = try await user(request) else { return Self.loginRedirect(request) }
        let id = try context.parameters.require("id")
        var main = #"<p class="crumbs"><a href="/schedules">Schedules</a> /</p>"#
        let status: HTTPResponse.Status
        switch try await read(ScheduleDetail.self, from: "schedule", "/api/training/schedules/" + Self.pathSegment(id), for: user) {
        case .success(let schedule):
            main += Self.scheduleDetail(schedule, now: Date(), canEdit: user.role != "viewer")
            status = .ok
        case .failure(let problem):
            main += "<h1>\(HTML.escape(id))</h1>" + problem.html
            status = problem.status
        }
        // Not live: the timing form holds what the user is typing, and its preview is the page's own script's.
        return HTML.page(HTML.layout(title: "Schedule", user: user, current: "schedules", main: main), status: status)
    }

    static func scheduleDetail(_ schedule: ScheduleDetail, now: Date, canEdit: Bool) -> String {
        let activity = schedule.activity
        var html = """
            <h1>\(HTML.escape(activity.name)) \(badge(activity.status))</h1>
            <dl class="props">
            <dt>Model</dt><dd><a href="/models/\(pathSegment(schedule.modelName))">\(HTML.escape(schedule.modelName))</a></dd>
            <dt>Timing</dt><dd>\(HTML.escape(timing(schedule)))</dd>
            <dt>While a run is going</dt><dd>\(HTML.escape(schedule.overlap.replacingOccurrences(of: "_", with: " "))) · slots missed \
            within \(schedule.catchupWindowSeconds / 60) minutes are caught up</dd>
            <dt>Made from</dt><dd>\(schedule.sourceRunId.isEmpty ? "a configuration" : #"run <a href="/training/\#(pathSegment(schedule.sourceRunId))">\#(HTML.escape(schedule.sourceRunId))</a>"#) \
            by \(HTML.escape(schedule.createdBy))</dd>
            </dl>
            """
        if canEdit { html += scheduleActions(schedule, compact: false) + #"<p class="error" role="alert" id="action-error" hidden></p>"# }
        html += scheduleGrid(activity, now: now, titled: false)
        if canEdit, activity.status == "active" || activity.status == "paused" { html += timingForm(schedule) }
        let entries = (schedule.ledger ?? []).prefix(50)
        html += "<h2>Ledger</h2>"
        if entries.isEmpty {
            html += #"<p class="muted">No slot has come yet.</p>"#
        } else {
            let rows = entries.map { entry in
                """
                <tr><td><time datetime="\(entry.slotTime.ISO8601Format())">\(day(entry.slotTime))</time></td><td>\(badge(entry.outcome))</td>
                <td>\(HTML.escape(entry.trigger))</td>
                <td>\(entry.runId.isEmpty ? "" : #"<a href="/training/\#(pathSegment(entry.runId))">\#(HTML.escape(entry.runId))</a>"#)</td>
                <td class="wrap">\(HTML.escape(entry.detail))</td></tr>
                """
            }.joined()
            html += """
                <div class="table"><table><thead><tr><th scope="col">Slot</th><th scope="col">Outcome</th><th scope="col">Trigger</th>
                <th scope="col">Run</th><th scope="col">Detail</th></tr></thead><tbody>\(rows)</tbody></table></div>
                """
        }
        return html + """
            <details><summary>Training configuration (frozen when the schedule was made)</summary>\
            <pre class="config">\(HTML.escape(compactJSON(schedule.trainingConfig)))</pre></details>
            """
    }

    /// The schedule's timing, editable; the next fire times of what is typed are previewed by schedule-svc.
    static func timingForm(_ schedule: ScheduleDetail) -> String {
        let activity = schedule.activity
        let kinds = ["hourly", "daily", "weekly", "monthly"].map { ($0, $0.prefix(1).uppercased() + $0.dropFirst()) }
        return """
            <form class="action timing" data-api="/api/training/schedules/\(pathSegment(activity.id))" data-method="PUT">
            <h2>Change the timing</h2>
            \(HTML.select("schedule_type", "Every", kinds, activity.scheduleType))
            <label>At (HH:MM; hourly 00:MM) <input name="schedule_time" required pattern="[0-9]{2}:[0-9]{2}" value="\(HTML.escape(activity.scheduleTime ?? "02:00"))"></label>
            <label>Weekday (weekly; 0 = Monday … 6) <input type="number" name="schedule_day_of_week" min="0" max="6" value="\(schedule.scheduleDayOfWeek ?? 0)"></label>
            <label>Day (monthly) <input type="number" name="schedule_day_of_month" min="1" max="31" value="\(schedule.scheduleDayOfMonth ?? 1)"></label>
            <label>Time zone <input name="schedule_timezone" required value="\(HTML.escape(activity.scheduleTimezone))"></label>
            <button type="submit">Save</button>
            <div class="preview" aria-live="polite"><h3>Next fire times</h3><ol id="preview"></ol><p class="error" id="preview-error" hidden></p></div>
            </form>
            <script>\(timingPreviewScript)</script>
            """
    }

    /// Asks schedule-svc for the next fire times of the form's timing whenever it changes (at most one request in
    /// flight; the last change wins).
    static let timingPreviewScript = """
        "use strict";
        (() => {
          const form = document.querySelector("form.timing");
          const list = document.getElementById("preview"), problem = document.getElementById("preview-error");
          let asked = 0;
          const preview = async () => {
            const ticket = ++asked;
            const query = new URLSearchParams({ count: "5" });
            for (const name of ["schedule_type", "schedule_time", "schedule_timezone"]) query.set(name, form.elements[name].value);
            const kind = form.elements.schedule_type.value;
            if (kind === "weekly") query.set("schedule_day_of_week", form.elements.schedule_day_of_week.value);
            if (kind === "monthly") query.set("schedule_day_of_month", form.elements.schedule_day_of_month.value);
            const answer = await fetch("/api/training/schedules/preview?" + query);
            const json = await answer.json().catch(() => ({}));
            if (ticket !== asked) return;
            list.textContent = "";
            problem.hidden = answer.ok;
            if (!answer.ok) { problem.textContent = (json.error || {}).message || "no preview (" + answer.status + ")"; return; }
            for (const time of json.next_runs || []) {
              const item = document.createElement("li");
              item.textContent = time.local + (time.dst ? " (" + time.dst + ")" : "");
              list.append(item);
            }
          };
          form.addEventListener("input", preview);
          form.addEventListener("change", preview);
          preview();
        })();
        """
}

/// `GET /api/training/schedules?limit=&offset=` (schedule-svc).
struct ScheduleList: Decodable {
    var schedules: [ScheduleDetail]
    var totalMatching: Int
}

/// A schedule as `GET /api/training/schedules/{id}` (or the list) answers: what the model page's activity grid
/// reads, and what the schedule pages add.
struct ScheduleDetail: Decodable {
    struct LedgerEntry: Decodable {
        var slotTime: Date
        var outcome: String
        var trigger: String
        var runId: String
        var detail: String
    }

    var activity: ScheduleActivity
    var modelName: String
    var scheduledDatetime: Date?
    var scheduleDayOfWeek: Int?
    var scheduleDayOfMonth: Int?
    var overlap: String
    var catchupWindowSeconds: Int
    var nextRunAt: Date?
    var lastRunAt: Date?
    var sourceRunId: String
    var createdBy: String
    var trainingConfig: EmbeddedJSON
    var ledger: [LedgerEntry]?

    enum CodingKeys: String, CodingKey {
        case modelName, scheduledDatetime, scheduleDayOfWeek, scheduleDayOfMonth, overlap, catchupWindowSeconds, nextRunAt, lastRunAt,
            sourceRunId, createdBy, trainingConfig, ledger
    }

    init(from decoder: any Decoder) throws {
        activity = try ScheduleActivity(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        modelName = try container.decode(String.self, forKey: .modelName)
        scheduledDatetime = try container.decodeIfPresent(Date.self, forKey: .scheduledDatetime)
        scheduleDayOfWeek = try container.decodeIfPresent(Int.self, forKey: .scheduleDayOfWeek)
        scheduleDayOfMonth = try container.decodeIfPresent(Int.self, forKey: .scheduleDayOfMonth)
        overlap = try container.decode(String.self, forKey: .overlap)
        catchupWindowSeconds = try container.decode(Int.self, forKey: .catchupWindowSeconds)
        nextRunAt = try container.decodeIfPresent(Date.self, forKey: .nextRunAt)
        lastRunAt = try container.decodeIfPresent(Date.self, forKey: .lastRunAt)
        sourceRunId = try container.decode(String.self, forKey: .sourceRunId)
        createdBy = try container.decode(String.self, forKey: .createdBy)
        trainingConfig = try container.decode(EmbeddedJSON.self, forKey: .trainingConfig)
        ledger = try container.decodeIfPresent([LedgerEntry].self, forKey: .ledger)
    }
}
