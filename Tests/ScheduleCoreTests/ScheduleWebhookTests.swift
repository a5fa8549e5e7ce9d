import Crypto
import Foundation
import HTTPTypes
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayTestSupport
import Synchronization
import Testing

@testable import ScheduleCore

/// An external scheduler calling a schedule's webhook: its secret (bearer or signature), one run per slot shared
/// with the timer, rotation, and bad calls refused with nothing written.
struct ScheduleWebhookTests {
    static let key = String(repeating: "5a", count: 32)
    static let reader = ConfigReader(arguments: ["schedule-svc", "--webhook-key", key], environment: [:])

    static func bearer(_ secret: String) -> HTTPFields { [.authorization: "Bearer \(secret)"] }

    static func signed(_ body: String, _ secret: String) -> HTTPFields {
        let code = HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return [HTTPField.Name("X-Slipway-Signature")!: "sha256=" + code.map { String(format: "%02x", $0) }.joined()]
    }

    @Test func eachSlotStartsOneRunWhoeverAsksAndOnlyTheSecretsHolderMayAsk() async throws {
        let clock = TestClock(start: ScheduleIntegrationTests.t0)
        try await withTestService(ScheduleService.definition(now: { clock.now }, reader: Self.reader), runWorkers: false) { service in
            try await ScheduleIntegrationTests.announceTraining(service)
            let api = service.api
            let created = try await api.post(
                "/api/training/schedules/from-run",
                #"{"source_training_run_id": "recs-3", "name": "Daily", "schedule_type": "daily", "schedule_time": "09:00", "overlap": "allow"}"#,
                expect: .created
            ).json()
            let id = try #require((created["schedule"] as? [String: Any])?["id"] as? String)
            let webhook = "/api/training/schedules/\(id)/webhook"
            let info = try await api.get(webhook, expect: .ok).json()
            let secret = try #require(info["secret"] as? String)
            #expect(info["path"] as? String == webhook && info["generation"] as? Int == 1)

            // Without the secret: 401, nothing written.
            let events = try await service.scalar("SELECT count(*) FROM slipway.events")
            try await api.post(webhook).expectError(.unauthorized)
            try await api.post(webhook, headers: Self.bearer(secret + "x")).expectError(.unauthorized)
            try await api.post(webhook, #"{"slot_time": "2026-06-01T09:00:00Z"}"#, headers: Self.signed("{}", secret)).expectError(.unauthorized)
            #expect(try await service.scalar("SELECT count(*) FROM slipway.events") == events)

            // The scheduler fires the 09:00 slot (the timer's next one); its retry starts nothing; nor does the timer.
            clock.set(minutes: 60.1)
            let slot = #"{"slot_time": "2026-06-01T09:00:00Z"}"#
            let started = try await api.post(webhook, slot, headers: Self.bearer(secret), expect: .accepted).json()
            #expect(started["outcome"] as? String == "started" && (started["run_id"] as? String)?.isEmpty == false)
            #expect(
                try await api.post(webhook, slot, headers: Self.signed(slot, secret), expect: .ok).json()["outcome"] as? String == "already_handled")
            try await ScheduleTimer(environment: service.environment, now: { clock.now }).fireDue(at: clock.now)
            var shown = try await api.get("/api/training/schedules/\(id)", expect: .ok).json()
            #expect((shown["ledger"] as? [[String: Any]])?.map { $0["trigger"] as? String } == ["webhook"], "\(shown)")
            #expect(shown["next_run_at"] as? String == "2026-06-02T09:00:00Z", "the timer moved past the slot the webhook fired")

            // Cloud Scheduler's header names the slot; a slot off the timing starts a run and leaves the timer alone.
            clock.set(minutes: 90.2)
            let header: HTTPFields = [.authorization: "Bearer \(secret)", HTTPField.Name("X-CloudScheduler-ScheduleTime")!: "2026-06-01T09:30:00Z"]
            #expect(try await api.post(webhook, headers: header, expect: .accepted).json()["slot_time"] as? String == "2026-06-01T09:30:00Z")
            shown = try await api.get("/api/training/schedules/\(id)", expect: .ok).json()
            #expect(shown["next_run_at"] as? String == "2026-06-02T09:00:00Z")

            // Rotation: the old secret is refused at once, the new one works.
            let rotated = try await api.post("\(webhook)/rotate", expect: .ok).json()
            let newSecret = try #require(rotated["secret"] as? String)
            #expect(newSecret != secret && rotated["generation"] as? Int == 2)
            try await api.post(webhook, slot, headers: Self.bearer(secret)).expectError(.unauthorized)
            #expect(try await api.post(webhook, slot, headers: Self.bearer(newSecret), expect: .ok).json()["outcome"] as? String == "already_handled")

            // Bad calls name the field and write nothing.
            let before = try await service.scalar("SELECT count(*) FROM slipway.events")
            try await api.post(webhook, "{}", headers: Self.signed("{}", newSecret)).expectError(.unprocessableContent, field: "slot_time")
            try await api.post(webhook, #"{"slot_time": "2026-05-01T09:00:00Z"}"#, headers: Self.bearer(newSecret))
                .expectError(.unprocessableContent, field: "slot_time")
            try await api.post(webhook, #"{"slot_time": "soon"}"#, headers: Self.bearer(newSecret)).expectError(
                .unprocessableContent, field: "slot_time")
            try await api.post("/api/training/schedules/sch-nope/webhook", headers: Self.bearer(newSecret)).expectError(.notFound)
            try await api.get("/api/training/schedules/sch-nope/webhook").expectError(.notFound)
            try await api.post("/api/training/schedules/sch-nope/webhook/rotate").expectError(.notFound)
            // The creation check answers what creation would, and writes nothing either.
            try await api.post(
                "/api/training/schedules/validate",
                #"{"model_name": "other", "name": "n", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "schedule_type": "daily", "schedule_time": "24:00"}"#
            ).expectError(.unprocessableContent, field: "schedule_time")
            try await api.post(
                "/api/training/schedules/validate",
                #"{"model_name": "recs", "name": "n", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "schedule_type": "daily", "schedule_time": "06:00"}"#
            ).expectError(.conflict)
            let valid = try await api.post(
                "/api/training/schedules/validate",
                #"{"model_name": "other", "name": "n", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "schedule_type": "daily", "schedule_time": "06:00"}"#,
                expect: .ok
            ).json()
            #expect(valid["valid"] as? Bool == true && (valid["upcoming"] as? [Any])?.count == 10)
            try await api.post("/api/training/schedules/\(id)/pause", expect: .ok)
            try await api.post(webhook, #"{"slot_time": "2026-06-01T09:31:00Z"}"#, headers: Self.bearer(newSecret)).expectError(.conflict)
            #expect(try await service.scalar("SELECT count(*) FROM slipway.events") == before + 1, "only the pause")

            let report = try await Replayer.replay(ScheduleReadModel(), from: service.store, verify: true, logger: TestInfrastructure.logger)
            #expect(report.verified == true, "\(report.tables)")
        }
    }

    /// Replicas derive the same secret from the same key; another key gives another secret.
    @Test func secretsDeriveFromTheKeyTheScheduleAndTheGeneration() throws {
        let auth = try ScheduleWebhookAuth.load(reader: Self.reader)
        let again = try ScheduleWebhookAuth.load(reader: Self.reader)
        #expect(auth.secret(scheduleID: "s", generation: 1) == again.secret(scheduleID: "s", generation: 1))
        #expect(auth.secret(scheduleID: "s", generation: 1) != auth.secret(scheduleID: "s", generation: 2))
        #expect(auth.secret(scheduleID: "s", generation: 1) != auth.secret(scheduleID: "t", generation: 1))
        let other = ScheduleWebhookAuth(key: Array(repeating: 1, count: 32))
        #expect(other.secret(scheduleID: "s", generation: 1) != auth.secret(scheduleID: "s", generation: 1))
        #expect(throws: ConfigError.self) {
            try ScheduleWebhookAuth.load(reader: ConfigReader(arguments: ["x", "--webhook-key", "short"], environment: [:]))
        }
        // A key file is made once and then kept.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("webhook-key-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let fileReader = ConfigReader(arguments: ["x", "--webhook-key-file", directory.appendingPathComponent("key").path], environment: [:])
        let first = try ScheduleWebhookAuth.load(reader: fileReader).secret(scheduleID: "s", generation: 1)
        #expect(try ScheduleWebhookAuth.load(reader: fileReader).secret(scheduleID: "s", generation: 1) == first)
        // Replicas starting together in one directory all read the one key the first of them wrote (threads, not
        // tasks: the pool would run two at a time).
        for round in 0..<20 {
            let raced = directory.appendingPathComponent("raced-\(round)")
            let reader = ConfigReader(arguments: ["x", "--webhook-key-file", raced.appendingPathComponent("key").path], environment: [:])
            let secrets = Mutex<[String?]>(Array(repeating: nil, count: 8))
            DispatchQueue.concurrentPerform(iterations: 8) { index in
                let secret = try? ScheduleWebhookAuth.load(reader: reader).secret(scheduleID: "s", generation: 1)
                secrets.withLock { $0[index] = secret }
            }
            let read = secrets.withLock { $0 }
            #expect(!read.contains(nil) && Set(read).count == 1, "round \(round): \(read)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: raced.path) == ["key"])
        }
    }
}
