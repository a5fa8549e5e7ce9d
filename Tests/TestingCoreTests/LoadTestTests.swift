import Foundation
import Hummingbird
import HummingbirdTesting
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayLoadGenerator
import SlipwayPlatform
import SlipwayTestSupport
import Testing

@testable import TestingCore

/// Load tests through testing-svc's API on a real database, against `EndpointTestServiceTests`' loopback server
/// (scoring with a real bundle) standing in for serving-router; the worker runs the generator.
@Suite(.serialized)
struct LoadTestTests {
    typealias Fixture = EndpointTestServiceTests

    /// Polls the load test until it has ended.
    static func ended(_ api: APITestClient, _ id: String, within limit: Duration = .seconds(30)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + limit
        var test: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            test = try await api.get("/api/load-tests/\(id)", expect: .ok).json()
            if test["status"] as? String != "running" { return test }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("load test \(id) still running: \(test)")
        return test
    }

    @Test func aLoadTestReportsRateAndPercentilesOneRunsAtATimeAndCancelStopsItWithinASecond() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("testing-keys-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: keys) }
        try await Fixture.server().test(.live) { upstream in
            let reader = Fixture.reader(port: try #require(upstream.port), keys: keys)
            try await withTestService(TestingService.definition(reader: reader), reader: reader) { service in
                try await Fixture.deploy(service, endpoints: ["shop", "broken"])
                let api = service.api
                let marked = Fixture.loadTestRequests.load(ordering: .relaxed)

                // Who started it is the caller the gateway named, whatever the body says.
                let started = try await api.post(
                    "/api/deployed-endpoints/shop/load-test",
                    #"{"connections": 4, "duration_seconds": 2, "sample_count": 20, "started_by": "mallory"}"#,
                    headers: .actor("alice"), expect: .accepted
                ).json()
                let id = try #require(started["id"] as? String)
                #expect(started["status"] as? String == "running", "\(started)")
                #expect(started["started_by"] as? String == "alice", "\(started)")
                try await api.post("/api/deployed-endpoints/shop/load-test", #"{"duration_seconds": 5}"#).expectError(.conflict)
                let done = try await Self.ended(api, id)
                #expect(done["status"] as? String == "completed", "\(done)")
                let results = try #require(done["results"] as? [String: Any], "\(done)")
                let requests = results["requests"] as? Int ?? 0
                // How many a machine busy with other tests manages varies; what is reported must agree with itself.
                #expect(requests > 0 && results["succeeded"] as? Int == requests && results["failed"] as? Int == 0, "\(results)")
                let durationSeconds = Double(results["duration_ms"] as? Int ?? 0) / 1000
                let rate = results["achieved_rps"] as? Double ?? 0
                #expect(durationSeconds >= 2 && abs(rate * durationSeconds - Double(requests)) <= max(1, Double(requests) / 100), "\(results)")
                let latency = try #require(results["latency"] as? [String: Any])
                let p50 = latency["p50_ms"] as? Double ?? 0
                let p99 = latency["p99_ms"] as? Double ?? 0
                #expect(p50 > 0 && p99 >= p50 && (latency["max_ms"] as? Double ?? 0) >= p99, "\(latency)")
                #expect((results["errors_by_status"] as? [String: Any])?.isEmpty == true)
                let seconds = try #require(done["per_second"] as? [[String: Any]])
                #expect(
                    seconds.count >= 2 && seconds.count <= 4, "seconds 0 and 1, and on a busy machine the stop may reach into 2 and 3: \(seconds)")
                #expect(seconds.map { $0["requests"] as? Int ?? 0 }.reduce(0, +) == requests)
                // Every request went with testing-svc's key and the load-test mark (the router logs it as such); the
                // ones in flight at the end (one per connection at most) are sent but not counted.
                let sent = Fixture.loadTestRequests.load(ordering: .relaxed) - marked
                #expect(sent >= requests && sent <= requests + 4, "sent \(sent), counted \(requests)")

                // Paced: never above the asked rate (unpaced, the same connections went thousands a second above), and
                // close to it when the server keeps up (on a machine busy with other tests it may not).
                let paced = try await api.post(
                    "/api/deployed-endpoints/shop/load-test", #"{"connections": 8, "target_rps": 40, "duration_seconds": 2}"#, expect: .accepted
                ).json()
                let pacedID = try #require(paced["id"] as? String)
                #expect(paced["started_by"] as? String == "internal", "no X-Slipway-Actor: a caller on the service's own port")
                let pacedResults = try #require(try await Self.ended(api, pacedID)["results"] as? [String: Any])
                let pacedRate = pacedResults["achieved_rps"] as? Double ?? 0
                #expect(pacedRate > 0 && pacedRate < 44, "asked for 40/s: \(pacedResults)")
                if ((pacedResults["latency"] as? [String: Any])?["p99_ms"] as? Double ?? .infinity) < 50 {
                    #expect(pacedRate > 32, "asked for 40/s from a server answering within 50 ms: \(pacedResults)")
                }

                // A failing endpoint: its errors by status.
                let broken = try await api.post(
                    "/api/deployed-endpoints/broken/load-test", #"{"connections": 2, "duration_seconds": 1}"#, expect: .accepted
                ).json()
                let brokenID = try #require(broken["id"] as? String)
                let brokenDone = try await Self.ended(api, brokenID)
                let brokenResults = try #require(brokenDone["results"] as? [String: Any])
                #expect((brokenResults["errors_by_status"] as? [String: Int])?["500"] == brokenResults["requests"] as? Int, "\(brokenResults)")

                // Cancel: a 60 s test stops within a second, keeping what it measured.
                let long = try await api.post(
                    "/api/deployed-endpoints/shop/load-test", #"{"connections": 2, "duration_seconds": 60}"#, expect: .accepted
                ).json()
                let longID = try #require(long["id"] as? String)
                var running: [String: Any] = [:]
                var progress: [String: Any] = [:]
                for _ in 0..<100 {
                    running = try await api.get("/api/load-tests/\(longID)", expect: .ok).json()
                    progress = running["progress"] as? [String: Any] ?? [:]
                    if progress["elapsed_seconds"] as? Int ?? 0 >= 1 { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(progress["elapsed_seconds"] as? Int ?? 0 >= 1 && progress["requests"] as? Int ?? 0 > 0, "\(progress)")
                // The seconds so far, for a live chart: one per elapsed second, numbered from 0.
                let soFar = running["per_second"] as? [[String: Any]] ?? []
                #expect(soFar.count == progress["elapsed_seconds"] as? Int, "\(running)")
                #expect(soFar.first?["second"] as? Int == 0, "\(running)")
                let asked = ContinuousClock.now
                let cancelling = try await api.post("/api/load-tests/\(longID)/cancel", headers: .actor("bob"), expect: .accepted).json()
                #expect(cancelling["cancel_requested"] as? Bool == true)
                let cancelled = try await Self.ended(api, longID, within: .seconds(5))
                // By the service's clock, from the cancel's event to the end's (this test's polling adds its own delay).
                let stream = try await service.store.events(aggregateType: LoadTestDecider.aggregateType, aggregateID: "shop")
                let cancelAt = try #require(stream.last { $0.eventType == LoadTestCancelRequested.protoMessageName }?.occurredAt)
                let endAt = try #require(stream.last { $0.eventType == LoadTestFinished.protoMessageName }?.occurredAt)
                #expect(endAt.timeIntervalSince(cancelAt) < 1, "the cancel took \(endAt.timeIntervalSince(cancelAt)) s")
                // The cancel is bob's (payload and envelope); the end is the runner's, which records it.
                let cancel = try #require(stream.last { $0.eventType == LoadTestCancelRequested.protoMessageName })
                #expect(cancel.actor == "bob")
                #expect(try LoadTestCancelRequested(serializedBytes: cancel.payload).requestedBy == "bob")
                #expect(stream.last { $0.eventType == LoadTestFinished.protoMessageName }?.actor == "load-test-runner")
                #expect(ContinuousClock.now - asked < .seconds(5))
                #expect(cancelled["status"] as? String == "cancelled", "\(cancelled)")
                let measured = try #require(cancelled["results"] as? [String: Any])
                #expect((measured["duration_ms"] as? Int ?? 60_000) < 10_000 && measured["requests"] as? Int ?? 0 > 0, "\(measured)")
                try await api.post("/api/load-tests/\(longID)/cancel").expectError(.conflict)

                let history = try await api.get("/api/deployed-endpoints/shop/load-test", expect: .ok).json()
                #expect((history["load_tests"] as? [[String: Any]])?.map { $0["id"] as? String ?? "" } == [longID, pacedID, id])

                let replayed = try await Replayer.replay(TestingReadModel(), from: service.store, verify: true, logger: TestInfrastructure.logger)
                #expect(replayed.verified == true, "\(replayed.tables)")
            }
        }
    }

    /// A stall is a second of nothing in the report, not a missing second: a server that stops answering after its
    /// first 300 ms leaves the second half of a 2 s run empty, and the report still has both seconds.
    @Test func aSecondWithNothingAnsweredIsReportedAsZero() async throws {
        let started = ContinuousClock.now
        let router = Router()
        router.post("/recommend") { _, _ -> String in
            if ContinuousClock.now - started > .milliseconds(300) { try await Task.sleep(for: .seconds(3)) }
            return "{}"
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let plan = LoadPlan(
                host: "127.0.0.1", port: client.port ?? 0, requests: [LoadPlan.Request(path: "/recommend", body: Array("{}".utf8))],
                connections: 2, duration: .seconds(2))
            let report = try await LoadGenerator(plan: plan).run()
            #expect(report.seconds.map(\.second) == [0, 1], "\(report.seconds.map { ($0.second, $0.requests) })")
            #expect((report.seconds.first?.requests ?? 0) > 0 && report.seconds.last?.requests == 0)
        }
    }

    @Test func badLoadTestsNameTheFieldAndWriteNothing() async throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("testing-keys-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: keys) }
        let reader = Fixture.reader(port: 1, keys: keys)
        try await withTestService(TestingService.definition(reader: reader), reader: reader, runWorkers: false) { service in
            try await Fixture.deploy(service, endpoints: ["shop", "gone"], undeployed: ["gone"])
            let api = service.api
            let path = "/api/deployed-endpoints/shop/load-test"
            for (body, field) in [
                (#"{"connections": 0}"#, "connections"), (#"{"connections": 257}"#, "connections"),
                (#"{"duration_seconds": 301}"#, "duration_seconds"),
                (#"{"duration_seconds": 0}"#, "duration_seconds"), (#"{"target_rps": 0}"#, "target_rps"), (#"{"sample_count": 0}"#, "sample_count"),
                (#"{"top_k": 101}"#, "top_k"), (#"{"request_timeout_ms": 5}"#, "request_timeout_ms"),
            ] {
                try await api.post(path, body).expectError(.unprocessableContent, field: field)
            }
            try await api.post(path, #"{"connections": "many"}"#).expectError(.badRequest, field: "connections")
            try await api.post("/api/deployed-endpoints/nowhere/load-test").expectError(.notFound)
            try await api.post("/api/deployed-endpoints/gone/load-test").expectError(.conflict, field: "id")
            try await api.get("/api/deployed-endpoints/nowhere/load-test").expectError(.notFound)
            try await api.get("/api/load-tests/load-nope").expectError(.notFound)
            try await api.post("/api/load-tests/load-nope/cancel").expectError(.notFound)
            #expect(try await service.scalar("SELECT count(*) FROM slipway.events") == 0, "nothing was written")
        }
    }

    /// A test whose process died blocks the endpoint only until a minute after its planned end.
    @Test func aStartAfterAnAbandonedTestsDeadlineRecordsItAbandoned() throws {
        let endpoint = TestedEndpoint(
            name: "shop", endpointID: "ep-shop", modelName: "recs", deploymentID: "d-1", modelVersionID: "recs-v1", versionNumber: 1,
            artifactURI: "/b")
        func new(_ id: String) -> LoadTestDecider.NewLoadTest {
            .init(
                id: id, endpoint: endpoint, connections: 4, targetRPS: nil, durationSeconds: 30, sampleCount: 10, seed: 1, topK: 10,
                requestTimeoutMs: 1000, targetURL: "http://r/shop", datasetID: "ds", startedBy: "alice")
        }
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var state = LoadTestDecider.initial
        for event in try LoadTestDecider.decide(.start(new("a"), now: start), state) { state = LoadTestDecider.evolve(state, event) }
        #expect(throws: CommandRejected.self) { try LoadTestDecider.decide(.start(new("b"), now: start.addingTimeInterval(89)), state) }
        let events = try LoadTestDecider.decide(.start(new("b"), now: start.addingTimeInterval(91)), state)
        guard events.count == 2, case .loadTestFinished(let abandoned) = events[0], case .loadTestStarted(let next) = events[1] else {
            Issue.record("\(events)")
            return
        }
        #expect(abandoned.loadTestID == "a" && abandoned.outcome == .abandoned && next.loadTestID == "b")
        for event in events { state = LoadTestDecider.evolve(state, event) }
        #expect(state.running?.loadTestID == "b")
        #expect(try LoadTestDecider.decide(.finish(id: "a", .completed, report: nil, error: ""), state).isEmpty, "a's end was recorded")
        #expect(throws: CommandRejected.self) { try LoadTestDecider.decide(.cancel(id: "a", by: "alice"), state) }
    }
}
