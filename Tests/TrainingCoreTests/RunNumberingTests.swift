import Foundation
import Hummingbird
import HummingbirdTesting
import SlipwayPlatform
import SlipwayTestSupport
import Testing

@testable import TrainingCore

/// A sweep creates many runs of one model at once: none may be refused, and the runs are numbered
/// 1…N without gaps or repeats — also when two replicas share the database.
@Suite("run numbering", .serialized, .timeLimit(.minutes(3)))
struct RunNumberingTests {
    static let body = #"{"name": "sweep", "dataset_id": "ds", "feature_config_id": "fc", "model_config_id": "mc", "executor": "external"}"#

    /// Creates `count` runs of `sweep` at once through `clients` (round robin); returns each answer's status and run number.
    static func sweep(_ clients: [APITestClient], count: Int) async throws -> [(status: Int, number: Int?)] {
        try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
            for i in 0..<count {
                let client = clients[i % clients.count]
                group.addTask {
                    let answer = try await client.post("/api/training-runs", body)
                    let number = ((try? answer.json())?["training_run"] as? [String: Any])?["run_number"] as? Int
                    return (answer.status.code, number)
                }
            }
            var results: [(status: Int, number: Int?)] = []
            for try await result in group { results.append(result) }
            return results
        }
    }

    static func expectNumbered(_ results: [(status: Int, number: Int?)], count: Int, _ training: TrainingHarness) async throws {
        let refused = results.filter { $0.status != 201 }
        #expect(refused.isEmpty, "\(refused.count) of \(count) creations were refused: \(refused.map(\.status))")
        #expect(results.compactMap(\.number).sorted() == Array(1...count), "gapless, unique numbers")
        let list = try await training.api.get("/api/models/sweep/training-runs?limit=500", expect: .ok).json()
        let ids = Set(((list["training_runs"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String })
        #expect(ids == Set((1...count).map { "sweep-\($0)" }))
        #expect((list["pagination"] as? [String: Any])?["total"] as? Int == count)
        // Pages of it, newest first: consecutive pages are the whole list in order, one after the other.
        let whole = ((list["training_runs"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
        var paged: [String] = []
        for offset in stride(from: 0, to: count, by: 7) {
            let page = try await training.api.get("/api/training-runs?name=sweep&limit=7&offset=\(offset)", expect: .ok).json()
            paged += ((page["training_runs"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
        }
        #expect(paged == whole, "pages in the list's order")
        let created = ((list["training_runs"] as? [[String: Any]]) ?? []).compactMap { $0["created_at"] as? String }
        #expect(created == created.sorted(by: >), "newest first")
        // Before an instant: the runs created before it (where a timeline's older page begins). The answers' times are
        // whole seconds, and the sweep took less than one: before its first second nothing, a second after it all.
        let firstSecond = try #require(created.last)
        let none = try await training.api.get("/api/training-runs?name=sweep&before=\(firstSecond)", expect: .ok).json()
        #expect((none["pagination"] as? [String: Any])?["total"] as? Int == 0, "\(none)")
        let afterAll = (ISO8601.date(try #require(created.first)) ?? Date()).addingTimeInterval(1)
        let all = try await training.api.get("/api/training-runs?name=sweep&limit=500&before=\(ISO8601.millisecondString(afterAll))", expect: .ok)
            .json()
        #expect(((all["training_runs"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String } == whole)
        try await training.api.get("/api/training-runs?name=sweep&before=yesterday").expectError(.badRequest, field: "before")
        // External runs: the client holds the token (in the answer, once); nothing keeps it on disk.
        let tokens = (try? FileManager.default.contentsOfDirectory(atPath: training.scratch.appendingPathComponent("artifacts/tokens").path)) ?? []
        #expect(tokens.isEmpty, "an external run's token is kept only as its hash")
    }

    @Test("many concurrent creates of one model: no conflict, numbers 1…N")
    func concurrentCreates() async throws {
        try await withTraining { training in
            let count = 64
            try await Self.expectNumbered(try await Self.sweep([training.api], count: count), count: count, training)
        }
    }

    @Test("two replicas creating runs of one model at once: no conflict, numbers 1…N")
    func twoReplicas() async throws {
        try await withTraining { training in
            // A second training-svc on the same database: its own routes, with their own numbering.
            let definition = TrainingService.definition(reader: training.reader)
            let components = try definition.build(training.service.environment)
            let router = SlipwayServiceRunner.buildRouter(definition, components, environment: training.service.environment, readiness: Readiness())
            try await Application(router: router).test(.router) { client in
                let count = 48
                let results = try await Self.sweep([training.api, APITestClient(client)], count: count)
                try await Self.expectNumbered(results, count: count, training)
            }
        }
    }
}
