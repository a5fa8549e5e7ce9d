import Foundation
import HTTPTypes
import Hummingbird
import NIOHTTP1
import SlipwayContracts
import SlipwayPlatform
import SwiftProtobuf

/// The training wizard's `schedule_config` on a run: `"schedule_type": "now"` runs now; a timing type makes the
/// model's retraining schedule from the run's configuration, and with `"run_now": true` also starts the run ("both").
/// Schedules are schedule-svc's: training-svc asks it over HTTP (its peer `schedule`), and asks it to check the
/// schedule before anything is written, so a bad timing or a model that has a schedule already is refused (the field
/// named `schedule_config.<field>`) with no run started.
struct WizardSchedule {
    /// Passed to schedule-svc as given (its `POST /api/training/schedules` fields).
    static let timingFields = [
        "schedule_type", "schedule_time", "scheduled_datetime", "schedule_day_of_week", "schedule_day_of_month", "schedule_timezone",
        "month_end", "catchup_window_seconds", "overlap",
    ]
    static let ownFields = ["run_now", "schedule_name", "schedule_description"]

    /// The timing fields, as JSON values.
    let timing: [String: JSONValue]
    let runNow: Bool
    let name: String?
    let description: String?

    /// A JSON value passed through (Sendable, unlike `Any`).
    enum JSONValue: Sendable {
        case string(String), number(Double), integer(Int)

        var any: Any {
            switch self {
            case .string(let value): value
            case .number(let value): value
            case .integer(let value): value
            }
        }
    }

    /// The body's `schedule_config`; nil when absent or when it only asks to run now.
    static func parse(_ bytes: some DataProtocol) throws -> WizardSchedule? {
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] ?? [:]
        guard let value = object["schedule_config"], !(value is NSNull) else { return nil }
        guard let config = value as? [String: Any] else { throw APIError.invalid("schedule_config is an object", field: "schedule_config") }
        if let unknown = config.keys.sorted().first(where: { !timingFields.contains($0) && !ownFields.contains($0) }) {
            throw APIError.invalid(
                "schedule_config has no field '\(unknown)' (it takes \((timingFields + ownFields).joined(separator: ", ")))",
                field: "schedule_config.\(unknown)")
        }
        guard let type = config["schedule_type"] as? String else {
            throw APIError.badRequest(
                "schedule_config.schedule_type is required: now, once, hourly, daily, weekly or monthly", field: "schedule_config.schedule_type")
        }
        if type == "now" { return nil }
        var timing: [String: JSONValue] = [:]
        for field in timingFields {
            switch config[field] {
            case nil, is NSNull: continue
            case let number as NSNumber:
                timing[field] = number.doubleValue == number.doubleValue.rounded() ? .integer(number.intValue) : .number(number.doubleValue)
            case let text as String: timing[field] = .string(text)
            default: throw APIError.invalid("schedule_config.\(field) is not a string or a number", field: "schedule_config.\(field)")
            }
        }
        func text(_ field: String) throws -> String? {
            guard let value = config[field], !(value is NSNull) else { return nil }
            guard let text = value as? String else {
                throw APIError.invalid("schedule_config.\(field) is a string", field: "schedule_config.\(field)")
            }
            return text
        }
        let runNow = config["run_now"]
        guard runNow == nil || runNow is NSNull || runNow is Bool else {
            throw APIError.invalid("schedule_config.run_now is true or false", field: "schedule_config.run_now")
        }
        return WizardSchedule(
            timing: timing, runNow: runNow as? Bool ?? false, name: try text("schedule_name"), description: try text("schedule_description"))
    }

    /// schedule-svc's creation body: this timing for `model`, freezing `config`.
    func body(model: String, config: TrainingRunConfig, sourceRunID: String?) throws -> [String: Any] {
        var body = timing.mapValues(\.any)
        body["model_name"] = model
        body["name"] = name ?? "\(model) - Retraining"
        body["description"] = description ?? ""
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        body["training_config"] = try JSONSerialization.jsonObject(with: Data(try config.jsonUTF8Data(options: options)))
        if let sourceRunID { body["source_training_run_id"] = sourceRunID }
        return body
    }
}

/// schedule-svc as training-svc calls it: its answers' JSON, its refusals relayed with the wizard's field names.
struct SchedulePeer: Sendable {
    let environment: ServiceEnvironment
    /// Whom training-svc acts for (`Request.actor`): passed on in `X-Slipway-Actor`, so the schedule names its creator.
    let actor: String

    @discardableResult
    func send(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> [UInt8] {
        let answer = try await exchange(method, path, body: try body.map { Array(try JSONSerialization.data(withJSONObject: $0)) })
        guard answer.isSuccess else { throw Self.relayed(answer.status, answer.body) }
        return answer.body
    }

    func json(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        (try JSONSerialization.jsonObject(with: Data(try await send(method, path, body)))) as? [String: Any] ?? [:]
    }

    /// Makes the schedule; the schedule as schedule-svc shows it.
    func create(_ body: [String: Any]) async throws -> EmbeddedJSON? {
        let made = try await json(.POST, "/api/training/schedules", body)
        return EmbeddedJSON(text: String(decoding: try JSONSerialization.data(withJSONObject: made["schedule"] ?? [:]), as: UTF8.self))
    }

    /// The model's active or paused schedule, if it has one.
    func liveSchedule(model: String) async throws -> String? {
        let query = model.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? model
        let listed = try await json(.GET, "/api/training/schedules?model_name=\(query)")
        let schedules = listed["schedules"] as? [[String: Any]] ?? []
        return schedules.first { ["active", "paused"].contains($0["status"] as? String ?? "") }?["id"] as? String
    }

    /// One call, its status and body as they came; schedule-svc unreachable is a 503 saying nothing was written.
    func exchange(_ method: HTTPMethod, _ path: String, body: [UInt8]?, headers: [(String, String)] = []) async throws -> PeerAnswer {
        do {
            return try await environment.callPeer("schedule", method, path, json: body, headers: headers, actor: actor)
        } catch let unreachable as PeerUnreachable {
            throw unreachable.unavailable("nothing was changed")
        }
    }

    /// schedule-svc's refusal as training-svc's: the same status and message, the field as the wizard names it.
    static func relayed(_ status: UInt, _ body: [UInt8]) -> APIError {
        let error = ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any])?["error"] as? [String: Any] ?? [:]
        var details = error["details"] as? [String: String] ?? [:]
        if let field = details["field"] {
            details["field"] =
                switch field {
                case "model_name": "name"
                case "name": "schedule_config.schedule_name"
                case "description": "schedule_config.schedule_description"
                case _ where WizardSchedule.timingFields.contains(field): "schedule_config.\(field)"
                default: field
                }
        }
        return APIError(
            HTTPResponse.Status(code: Int(status)), code: error["code"] as? String ?? "schedule_error",
            message: "schedule-svc: \(error["message"] as? String ?? "answered \(status)")", details: details)
    }
}
