import ArgumentParser
import Foundation

/// `slipway schedules`: retraining schedules (schedule-svc).
struct SchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedules", abstract: "Retraining schedules: create, list, show, preview, pause, resume, trigger, delete.",
        subcommands: [Create.self, List.self, Show.self, Preview.self, Pause.self, Resume.self, Trigger.self, Webhook.self, Delete.self])

    /// When a schedule fires, as flags: exactly one of the kinds.
    struct Timing: ParsableArguments {
        @Option(help: "Every hour at this minute (0–59).") var hourly: Int?
        @Option(help: "Every day at HH:MM.") var daily: String?
        @Option(help: "Every week: \"mon 09:00\" (mon … sun).") var weekly: String?
        @Option(help: "Every month: \"15 09:00\" (day 1–31).") var monthly: String?
        @Option(help: "Once, at an ISO-8601 instant.") var once: String?
        @Option(help: "IANA time zone of the times above.") var tz = "UTC"
        @Option(help: "Monthly on 29–31 in shorter months: skip or last_day.") var monthEnd: String?
        @Option(help: "A slot missed by at most this fires late: 30m, 1h, 3600s.") var catchup: String?
        @Option(help: "While the last run is going: skip, queue_one or allow.") var overlap: String?

        static let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

        func fields() throws -> [String: Any] {
            var body: [String: Any] = ["schedule_timezone": tz]
            let given = [hourly != nil, daily != nil, weekly != nil, monthly != nil, once != nil].filter { $0 }.count
            guard given == 1 else { throw ValidationError("give one of --hourly, --daily, --weekly, --monthly, --once") }
            if let hourly {
                body["schedule_type"] = "hourly"
                body["schedule_time"] = String(format: "00:%02d", hourly)
            } else if let daily {
                body["schedule_type"] = "daily"
                body["schedule_time"] = daily
            } else if let weekly {
                let parts = weekly.split(separator: " ")
                guard parts.count == 2, let day = Self.days.firstIndex(of: parts[0].lowercased()) else {
                    throw ValidationError("--weekly takes \"mon 09:00\"")
                }
                body["schedule_type"] = "weekly"
                body["schedule_day_of_week"] = day
                body["schedule_time"] = String(parts[1])
            } else if let monthly {
                let parts = monthly.split(separator: " ")
                guard parts.count == 2, let day = Int(parts[0]) else { throw ValidationError("--monthly takes \"15 09:00\"") }
                body["schedule_type"] = "monthly"
                body["schedule_day_of_month"] = day
                body["schedule_time"] = String(parts[1])
            } else if let once {
                body["schedule_type"] = "once"
                body["scheduled_datetime"] = once
            }
            if let monthEnd { body["month_end"] = monthEnd }
            if let overlap { body["overlap"] = overlap }
            if let catchup { body["catchup_window_seconds"] = try Self.seconds(catchup) }
            return body
        }

        static func seconds(_ text: String) throws -> Int {
            let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
            if let unit = text.last, let factor = units[unit], let number = Int(text.dropLast()) { return number * factor }
            guard let number = Int(text) else { throw ValidationError("--catchup takes 30m, 1h or seconds") }
            return number
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Schedule retraining from a training run's configuration.")
        @Option(help: "The run whose configuration the schedule freezes.") var fromRun: String
        @Option var name: String?
        @Option var description: String?
        @OptionGroup var timing: Timing
        @Option var gateway: String?
        func run() async throws {
            var body = try timing.fields()
            body["source_training_run_id"] = fromRun
            body["name"] = name ?? "Retrain from \(fromRun)"
            if let description { body["description"] = description }
            let created = try await APIClient(gateway: gateway).expect(.POST, "/api/training/schedules/from-run", body)
            say(SchedulesCommand.line(created["schedule"] as? [String: Any] ?? [:]))
        }
    }

    struct List: AsyncParsableCommand {
        @Option var model: String?
        @Option(help: "active, paused, completed or cancelled.") var status: String?
        @Option var gateway: String?
        func run() async throws {
            var query: [String] = []
            if let model { query.append("model_name=\(model.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? model)") }
            if let status { query.append("status=\(status)") }
            let json = try await APIClient(gateway: gateway).expect(
                .GET, "/api/training/schedules" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")))
            for schedule in json["schedules"] as? [[String: Any]] ?? [] { say(SchedulesCommand.line(schedule)) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A schedule with its next fire times and its ledger.")
        @Argument var id: String
        @Option var gateway: String?
        func run() async throws {
            let schedule = try await APIClient(gateway: gateway).expect(.GET, "/api/training/schedules/\(id)")
            say(SchedulesCommand.line(schedule))
            let rate = (schedule["success_rate"] as? Double).map { String(format: "%.0f%%", $0) } ?? "–"
            say(
                "runs: \(schedule["total_runs"] ?? 0) ended, \(schedule["successful_runs"] ?? 0) succeeded, \(schedule["failed_runs"] ?? 0) failed, \(schedule["not_blessed_runs"] ?? 0) not blessed (\(rate))"
            )
            say("next:")
            for slot in schedule["upcoming"] as? [[String: Any]] ?? [] {
                let dst = (slot["dst"] as? String).map { "  (DST: \($0))" } ?? ""
                say("  \(slot["local"] ?? "")  \(slot["at"] ?? "")\(dst)")
            }
            say("ledger:")
            for entry in schedule["ledger"] as? [[String: Any]] ?? [] {
                say(
                    "  \(entry["slot_time"] ?? "")  \(entry["outcome"] ?? "")  \(entry["trigger"] ?? "")  \(entry["run_id"] ?? "")  \(entry["detail"] ?? "")"
                )
            }
        }
    }

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The next fire times of a timing (and a run's configuration).")
        @Option var fromRun: String?
        @OptionGroup var timing: Timing
        @Option var count = 10
        @Option var gateway: String?
        func run() async throws {
            var query = ["count=\(count)"]
            for (key, value) in try timing.fields() {
                query.append("\(key)=\("\(value)".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")")
            }
            if let fromRun { query.append("source_run_id=\(fromRun)") }
            let json = try await APIClient(gateway: gateway).expect(.GET, "/api/training/schedules/preview?" + query.joined(separator: "&"))
            if let source = json["preview"] as? [String: Any] {
                say(
                    "from \(source["source_run_id"] ?? ""): dataset \(source["dataset_id"] ?? ""), features \(source["feature_config_id"] ?? ""), model \(source["model_config_id"] ?? "")"
                )
            }
            for slot in json["next_runs"] as? [[String: Any]] ?? [] {
                let dst = (slot["dst"] as? String).map { "  (DST: \($0))" } ?? ""
                say("\(slot["local"] ?? "")  \(slot["at"] ?? "")\(dst)")
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        @Argument var id: String
        @Option var reason: String?
        @Option var gateway: String?
        func run() async throws {
            say(
                SchedulesCommand.line(
                    try await APIClient(gateway: gateway).expect(.POST, "/api/training/schedules/\(id)/pause", ["reason": reason ?? ""])))
        }
    }

    struct Resume: AsyncParsableCommand {
        @Argument var id: String
        @Option var gateway: String?
        func run() async throws {
            say(SchedulesCommand.line(try await APIClient(gateway: gateway).expect(.POST, "/api/training/schedules/\(id)/resume")))
        }
    }

    struct Trigger: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start the schedule's run now.")
        @Argument var id: String
        @Flag(help: "Even while its previous run is going.") var force = false
        @Option var gateway: String?
        func run() async throws {
            let started = try await APIClient(gateway: gateway).expect(.POST, "/api/training/schedules/\(id)/trigger", ["force": force])
            say("schedule \(id) triggered at \(started["slot_time"] ?? ""): training-svc starts its run")
        }
    }

    struct Webhook: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the webhook an external scheduler calls for this schedule, with its secret.")
        @Argument var id: String
        @Flag(help: "Replace the secret first; the old one stops working.") var rotate = false
        @Option var gateway: String?
        func run() async throws {
            let client = try APIClient(gateway: gateway)
            let path = "/api/training/schedules/\(id)/webhook"
            let webhook = rotate ? try await client.expect(.POST, path + "/rotate") : try await client.expect(.GET, path)
            say("POST \(client.base)\(webhook["path"] ?? path)")
            say("secret (generation \(webhook["generation"] ?? "")): \(webhook["secret"] ?? "")")
            for way in webhook["authentication"] as? [String] ?? [] { say("  \(way)") }
            say("Each slot starts one run: send {\"slot_time\": \"<ISO-8601>\"} so a retried call starts nothing new.")
        }
    }

    struct Delete: AsyncParsableCommand {
        @Argument var id: String
        @Option var gateway: String?
        func run() async throws {
            _ = try await APIClient(gateway: gateway).expect(.DELETE, "/api/training/schedules/\(id)")
            say("schedule \(id) deleted")
        }
    }

    static func line(_ schedule: [String: Any]) -> String {
        let when: String
        switch schedule["schedule_type"] as? String {
        case "once": when = "once at \(schedule["scheduled_datetime"] ?? "")"
        case "weekly": when = "weekly on day \(schedule["schedule_day_of_week"] ?? "") at \(schedule["schedule_time"] ?? "")"
        case "monthly": when = "monthly on the \(schedule["schedule_day_of_month"] ?? "") at \(schedule["schedule_time"] ?? "")"
        case let type: when = "\(type ?? "") at \(schedule["schedule_time"] ?? "")"
        }
        return
            "\(schedule["id"] ?? "")\t\(schedule["status"] ?? "")\t\(schedule["model_name"] ?? "")\t\(when) \(schedule["schedule_timezone"] ?? "")\tnext \(schedule["next_run_at"] ?? "–")\t\(schedule["name"] ?? "")"
    }
}
