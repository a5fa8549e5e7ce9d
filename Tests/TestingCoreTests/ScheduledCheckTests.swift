import Foundation
import Hummingbird
import HummingbirdTesting
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayTestSupport
import Testing

@testable import TestingCore

/// Scheduled checks: configured through the API, fired by slot with a clock the test moves, a slot skipped (and
/// recorded) while the check's previous test still runs, and bad settings refused naming the field.
struct ScheduledCheckTests {
    static let t0 = ISO8601DateFormatter().date(from: "2026-06-01T08:00:00Z")!

    @Test func aCheckRunsEachSlotOnceAndSkipsASlotWhileItsTestRuns() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("testing-keys-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: keys) }
        let clock = TestClock(start: Self.t0)
        try await EndpointTestServiceTests.server().test(.live) { upstream in
            let reader = EndpointTestServiceTests.reader(port: try #require(upstream.port), keys: keys)
            try await withTestService(TestingService.definition(reader: reader, now: { clock.now }), reader: reader, runWorkers: false) { service in
                try await EndpointTestServiceTests.deploy(service, endpoints: ["shop"])
                let api = service.api
                let check = try await api.put(
                    "/api/deployed-endpoints/shop/test/schedule", #"{"interval_minutes": 15, "sample_count": 5}"#, expect: .ok
                ).json()
                #expect(check["enabled"] as? Bool == true && check["next_run_at"] as? String == "2026-06-01T08:15:00Z", "\(check)")

                let tests = EndpointTests(
                    environment: service.environment, settings: try TestingSettings.load(reader: reader),
                    now: { clock.now })
                let runner = CheckRunner(tests: tests)
                #expect(try await runner.startDue(at: Self.t0.addingTimeInterval(14 * 60)).isEmpty, "not due yet")
                clock.set(minutes: 15.01)
                let first = try await runner.startDue(at: clock.now)
                #expect(first.map(\.test.id) == ["check-shop-\(Int64(Self.t0.timeIntervalSince1970) + 900)"])
                #expect(try await runner.startDue(at: clock.now).isEmpty, "the slot was taken")

                // The next slot comes while the first test still runs: skipped and recorded, not queued.
                clock.set(minutes: 30.01)
                #expect(try await runner.startDue(at: clock.now).isEmpty)
                var shown = try await api.get("/api/deployed-endpoints/shop/test/schedule", expect: .ok).json()
                #expect(shown["skipped"] as? Int == 1 && shown["next_run_at"] as? String == "2026-06-01T08:45:00Z", "\(shown)")

                for started in first { await runner.finish(started) }
                shown = try await api.get("/api/deployed-endpoints/shop/test/schedule", expect: .ok).json()
                #expect(shown["last_status"] as? String == "passed", "\(shown)")
                clock.set(minutes: 45.01)
                let second = try await runner.startDue(at: clock.now)
                for started in second { await runner.finish(started) }
                let history = try await api.get("/api/deployed-endpoints/shop/test", expect: .ok).json()
                let triggers = (history["tests"] as? [[String: Any]] ?? []).map { $0["triggered_by"] as? String ?? "" }
                #expect(triggers == ["scheduled", "scheduled"], "\(history)")

                // Turned off: no slot comes.
                let off = try await api.put("/api/deployed-endpoints/shop/test/schedule", #"{"enabled": false}"#, expect: .ok).json()
                #expect(off["enabled"] as? Bool == false && off["next_run_at"] is NSNull)
                clock.set(minutes: 120)
                #expect(try await runner.startDue(at: clock.now).isEmpty)

                let report = try await Replayer.replay(TestingReadModel(), from: service.store, verify: true, logger: TestInfrastructure.logger)
                #expect(report.verified == true, "\(report.tables)")
            }
        }
    }

    @Test func badCheckSettingsNameTheFieldAndWriteNothing() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("testing-keys-\(UUID().uuidString.prefix(8))")
        let reader = EndpointTestServiceTests.reader(port: 1, keys: keys)
        try await withTestService(TestingService.definition(reader: reader), reader: reader, runWorkers: false) { service in
            try await EndpointTestServiceTests.deploy(service, endpoints: ["shop"])
            let api = service.api
            let path = "/api/deployed-endpoints/shop/test/schedule"
            try await api.put(path, #"{"interval_minutes": 0}"#).expectError(.unprocessableContent, field: "interval_minutes")
            try await api.put(path, #"{"interval_minutes": 1441}"#).expectError(.unprocessableContent, field: "interval_minutes")
            // Minutes whose seconds overflow Int are out of range too (it once trapped the service).
            try await api.put(path, #"{"interval_minutes": 9223372036854775807}"#).expectError(.unprocessableContent, field: "interval_minutes")
            try await api.put(path, #"{"sample_count": 0}"#).expectError(.unprocessableContent, field: "sample_count")
            try await api.put(path, #"{"enabled": "yes"}"#).expectError(.badRequest, field: "enabled")
            try await api.put("/api/deployed-endpoints/nowhere/test/schedule", #"{"interval_minutes": 15}"#).expectError(.notFound)
            try await api.get(path).expectError(.notFound)
            #expect(try await service.scalar("SELECT count(*) FROM slipway.events") == 0, "nothing was written")
        }
    }
}
