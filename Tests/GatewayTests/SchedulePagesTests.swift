import Foundation
import SlipwayPlatform
import Testing

@testable import GatewayCore

/// The schedules pages, rendered from schedule-svc's answers (the browser check changes a real schedule's timing).
@Suite("Schedule pages")
struct SchedulePagesTests {
    static func schedule(type: String = "weekly", status: String = "active", name: String = "<nightly>") throws -> ScheduleDetail {
        let json = """
            {"id": "sch-1", "model_name": "recs", "name": "\(name)", "status": "\(status)", "schedule_type": "\(type)", "schedule_time": "09:30",
             "schedule_day_of_week": 2, "schedule_day_of_month": null, "scheduled_datetime": null, "schedule_timezone": "Europe/Warsaw",
             "overlap": "skip_if_running", "catchup_window_seconds": 3600, "next_run_at": "2027-01-20T08:30:00Z", "last_run_at": null,
             "total_runs": 3, "successful_runs": 2, "failed_runs": 1, "not_blessed_runs": 0, "cancelled_runs": 0,
             "source_run_id": "recs-4", "created_by": "ann", "training_config": {"dataset_id": "<ds>"},
             "upcoming": [{"at": "2027-01-20T08:30:00Z", "local": "2027-01-20 09:30 CET"}],
             "ledger": [{"slot_time": "2027-01-13T08:30:00Z", "outcome": "started", "trigger": "timer", "run_id": "recs-5", "detail": "<ok>",
                         "recorded_at": "2027-01-13T08:30:01Z"}]}
            """
        return try PlatformJSON.decoder.decode(ScheduleDetail.self, from: Data(json.utf8))
    }

    @Test("timing reads as words in the schedule's zone")
    func timing() throws {
        #expect(WebPages.timing(try Self.schedule()) == "weekly on Wednesday at 09:30 (Europe/Warsaw)")
        #expect(WebPages.timing(try Self.schedule(type: "hourly")) == "hourly at :30 (Europe/Warsaw)")
        #expect(WebPages.timing(try Self.schedule(type: "daily")) == "daily at 09:30 (Europe/Warsaw)")
    }

    @Test("the list links each schedule and its model; editors pause an active one, resume a paused one, run either now")
    func list() throws {
        let editor = WebPages.scheduleTable([try Self.schedule(), try Self.schedule(status: "paused")], canEdit: true)
        #expect(editor.contains(#"<a href="/schedules/sch-1"><strong>&lt;nightly&gt;</strong></a>"#) && editor.contains(#"<a href="/models/recs">"#))
        #expect(
            editor.contains(#"data-api="/api/training/schedules/sch-1/pause""#)
                && editor.contains(#"data-api="/api/training/schedules/sch-1/resume""#))
        #expect(editor.components(separatedBy: "/trigger").count == 3 && !editor.contains("/cancel"), "the list has no cancel or delete")
        #expect(!WebPages.scheduleTable([try Self.schedule()], canEdit: false).contains("data-api"))
        #expect(!WebPages.scheduleTable([try Self.schedule(status: "completed")], canEdit: true).contains("/trigger"))
        #expect(WebPages.scheduleTable([], canEdit: true).contains("No schedules"))
    }

    @Test("a schedule's page: facts, actions with cancel and delete, the timing form, the ledger and the frozen configuration, escaped")
    func detail() throws {
        let now = try Date("2027-01-15T12:00:00Z", strategy: .iso8601)
        let html = WebPages.scheduleDetail(try Self.schedule(), now: now, canEdit: true)
        #expect(html.contains("<h1>&lt;nightly&gt; ") && !html.contains("<h2>Schedule:"), "titled once")
        #expect(html.contains(#"run <a href="/training/recs-4">recs-4</a>"#) && html.contains("within 60 minutes"))
        #expect(html.contains("/cancel") && html.contains(#"data-method="DELETE" data-redirect="/schedules""#))
        #expect(html.contains(#"<form class="action timing" data-api="/api/training/schedules/sch-1" data-method="PUT">"#))
        #expect(html.contains(#"<option value="weekly" selected>"#) && html.contains(#"name="schedule_day_of_week" min="0" max="6" value="2""#))
        #expect(html.contains(#"<a href="/training/recs-5">recs-5</a>"#) && html.contains("&lt;ok&gt;") && html.contains("&lt;ds&gt;"))
        let viewer = WebPages.scheduleDetail(try Self.schedule(), now: now, canEdit: false)
        #expect(!viewer.contains("data-api") && !viewer.contains("form class=\"action timing\""))
        #expect(!WebPages.scheduleDetail(try Self.schedule(status: "cancelled"), now: now, canEdit: true).contains("timing"))
    }
}
