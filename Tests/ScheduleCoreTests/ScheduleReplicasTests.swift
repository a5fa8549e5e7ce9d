import Foundation
import PostgresNIO
import SlipwayContracts
import SlipwayLocalRuntime
import SlipwayTestSupport
import Testing

/// Two schedule-svc processes as `slipway up` runs one, on one database (and a dev broker of their own): every
/// slot of many schedules fires exactly once, even when one replica is killed with SIGKILL while slots are due and
/// started again.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ScheduleReplicasTests {
    let infrastructure = TestInfrastructure.shared

    @Test func twoReplicasOneKilledMidFireStillOneRunPerSlot() async throws {
        let work = URL(fileURLWithPath: infrastructure.workDirectory).appendingPathComponent("schedule-replicas-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let broker = try await infrastructure.ownBroker(in: work)
        defer { withExtendedLifetime(broker.process) {} }
        let database = try await infrastructure.freshDatabase("schedule_replicas")
        @Sendable func start(_ name: String, port: Int) throws -> Launched {
            try Launched(
                infrastructure.executable("schedule-svc"),
                [
                    "--host", "127.0.0.1", "--port", "\(port)", "--database-url", "\(database)", "--kafka-brokers", broker.address,
                    "--log-level", "error", "--webhook-key-file", work.appendingPathComponent("webhook.key").path,
                ] + TestInfrastructure.isolatedPeerArguments, log: work.appendingPathComponent("\(name).log"))
        }
        let ports = (try freeTCPPort(), try freeTCPPort())
        var first = try start("a1", port: ports.0)
        let api = APITestClient(baseURL: "http://127.0.0.1:\(ports.0)")
        try await first.waitUntil("replica a ready") { (try? await api.get("/readyz").status) == .ok }

        // What training-svc published: a dataset and configs the schedules train on. One key, so one replica's projector
        // gets them in order; sent again until a schedule is accepted, as the consumers may join after the first send
        // (training-svc, not running here, has no feed to catch up from). The projector ignores positions it has.
        var training = EnvelopeBuilder(service: "training")
        var dataset = DatasetRegistered()
        dataset.datasetID = "ds"
        var features = FeatureConfigCreated()
        features.featureConfigID = "fc"
        var model = ModelConfigCreated()
        model.modelConfigID = "mc"
        let catalog = [
            try training.envelope(dataset, aggregateType: "Dataset", aggregateID: "catalog"),
            try training.envelope(features, aggregateType: "FeatureConfig", aggregateID: "catalog"),
            try training.envelope(model, aggregateType: "ModelConfig", aggregateID: "catalog"),
        ]
        let probe =
            #"{"model_name": "probe", "name": "p", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "schedule_type": "once", "scheduled_datetime": "2099-01-01T00:00:00Z"}"#
        try await eventually(timeout: .seconds(90), "the catalog projected") {
            try await RequestLogs.publish(envelopes: catalog, topic: EventContext.training.topic, brokers: broker.address)
            for _ in 0..<10 {
                if try await api.post("/api/training/schedules", probe).status == .created { return true }
                try await Task.sleep(for: .milliseconds(100))
            }
            return false
        }

        // The second replica joins once the catalog is in (its joining the consumer group pauses consumption meanwhile).
        let second = try start("b", port: ports.1)
        try await second.waitUntil("replica b ready") {
            (try? await APITestClient(baseURL: "http://127.0.0.1:\(ports.1)").get("/readyz").status) == .ok
        }

        // 40 one-off schedules, a slot every 150 ms from 20 s on (made eight at a time: a machine busy with the whole
        // suite takes up to a quarter of a second per request).
        let begin = Date().addingTimeInterval(20)
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let bodies = (0..<40).map { index in
            #"{"model_name": "m\#(index)", "name": "s\#(index)", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "schedule_type": "once", "scheduled_datetime": "\#(iso.string(from: begin.addingTimeInterval(Double(index) * 0.15)))"}"#
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in stride(from: worker, to: 40, by: 8) {
                        try await api.post("/api/training/schedules", bodies[index], expect: .created)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(Date() < begin, "making the schedules took past their first slot")
        // Kill replica a while the slots come due; start it again.
        try await Task.sleep(until: .now + .seconds(max(0, begin.timeIntervalSinceNow + 2.5)), clock: .continuous)
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        first = try start("a2", port: ports.0)
        try await first.waitUntil("replica a ready again") { (try? await api.get("/readyz").status) == .ok }

        let restarted = first
        try await withPostgres(database) { client in
            @Sendable func count(_ sql: String) async throws -> Int64 {
                for try await value in try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestInfrastructure.logger).decode(Int64.self) {
                    return value
                }
                return 0
            }
            do {
                try await eventually(timeout: .seconds(30), "every slot fired") {
                    try await count("SELECT count(*) FROM schedules WHERE status = 'completed'") == 40
                }
            } catch {
                let active = try await count("SELECT count(*) FROM schedules WHERE status = 'active'")
                let due = try await count("SELECT count(*) FROM schedules WHERE status = 'active' AND next_run_at <= now()")
                Issue.record("\(active) still active, \(due) due; a: \(restarted.logTail)\nb: \(second.logTail)")
                throw error
            }
            try await Task.sleep(for: .seconds(1))
            let triggered = try await count("SELECT count(*) FROM slipway.events WHERE event_type = '\(ScheduleTriggered.protoMessageName)'")
            let slots = try await count(
                "SELECT count(DISTINCT aggregate_id) FROM slipway.events WHERE event_type = '\(ScheduleTriggered.protoMessageName)'")
            #expect(triggered == 40 && slots == 40, "\(triggered) triggers for \(slots) slots")
        }
        withExtendedLifetime((restarted, second)) {}
    }
}
