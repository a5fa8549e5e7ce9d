import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import SlipwayStatistics
import SlipwayTestSupport
import SwiftProtobuf
import Testing

@testable import MetricsCore

/// Drift through the real path: request logs with features ingested from the dev broker into feature samples,
/// analysed by `GET /api/v1/monitoring/drift/{endpoint_id}` (baseline: the week before the last 24 hours).
struct DriftIntegrationTests {
    static let now = ServingRollupIntegrationTests.now

    /// `count` logs spread evenly over `[from, from + seconds)`, features drawn from the given distribution.
    static func logs(
        endpoint: String, count: Int, from: Date, seconds: Double, basketMean: Double, newCityShare: Double, seed: UInt64
    ) -> [PredictionRequestLogged] {
        var random = SeededGenerator(state: seed)
        let cities = ["lyon", "porto", "graz", "turku", "split"]
        return (0..<count).map { index in
            var log = RequestLogs.log(
                endpoint: endpoint, revision: "r1", status: 200, latencyMicros: 1000,
                at: from.addingTimeInterval(seconds * Double(index) / Double(count)),
                customer: "C\(index)")
            var row = FeatureRow()
            row.features["customer_id"] = .with { $0.stringValue = "C\(seed)-\(index)" }
            row.features["basket_value"] = .with { $0.doubleValue = random.normal(mean: basketMean, deviation: 20) }
            row.features["visits_30d"] = .with { $0.int64Value = Int64.random(in: 0..<30, using: &random) }
            let city = Double.random(in: 0..<1, using: &random) < newCityShare ? "atlantis" : cities[Int.random(in: 0..<5, using: &random)]
            row.features["city"] = .with { $0.stringValue = city }
            row.features["segment"] = .with { $0.stringValue = Bool.random(using: &random) ? "horeca" : "retail" }
            log.instances = [row]
            return log
        }
    }

    @Test func sameDistributionIsQuietAShiftIsFoundOnExactlyItsFeaturesAndTwentyRowsAreNoVerdict() async throws {
        let topic = TestInfrastructure.shared.uniqueTopic("serving")
        let comparisonStart = Self.now.addingTimeInterval(-86_400)
        let baselineStart = comparisonStart.addingTimeInterval(-7 * 86_400)
        let prefix = "drift-\(UUID().uuidString.prefix(6).lowercased())"
        var logs: [PredictionRequestLogged] = []
        for (name, mean, newCity, comparisonCount) in [("same", 100.0, 0.0, 2000), ("shifted", 120.0, 0.6, 2000), ("few", 100.0, 0.0, 20)] {
            let endpoint = "\(prefix)-\(name)"
            logs += Self.logs(endpoint: endpoint, count: 2000, from: baselineStart, seconds: 7 * 86_400, basketMean: 100, newCityShare: 0, seed: 1)
            logs += Self.logs(
                endpoint: endpoint, count: comparisonCount, from: comparisonStart, seconds: 86_000, basketMean: mean, newCityShare: newCity, seed: 2)
        }
        let published = logs
        try await withTestService(MetricsService.definition(now: { Self.now })) { service in
            try await RequestLogs.publish(published, topic: topic)
            try await ServingRollupIntegrationTests.ingest(service, topic: topic, group: "g") { ingestor in ingestor.messagesSeen >= published.count }

            let same = try await service.api.get("/api/v1/monitoring/drift/\(prefix)-same", expect: .ok).json()
            #expect(same["status"] as? String == "ok")
            #expect(same["drift_detected"] as? Bool == false, "\(same)")
            #expect((same["baseline"] as? [String: Any])?["rows"] as? Int == 2000)
            #expect((same["comparison"] as? [String: Any])?["rows"] as? Int == 2000)
            let features = (same["features"] as? [[String: Any]] ?? []).compactMap { $0["feature"] as? String }
            #expect(features == ["basket_value", "city", "segment", "visits_30d"], "identifiers are left out")

            let shifted = try await service.api.get("/api/v1/monitoring/drift/\(prefix)-shifted?baseline_days=7&comparison_hours=24", expect: .ok)
                .json()
            #expect(shifted["drift_detected"] as? Bool == true)
            #expect(shifted["affected_features"] as? [String] == ["basket_value", "city"], "\(shifted)")
            let city = (shifted["features"] as? [[String: Any]])?.first { $0["feature"] as? String == "city" }
            #expect(abs((city?["unseen_share"] as? Double ?? 0) - 0.6) < 0.05)

            let few = try await service.api.get("/api/v1/monitoring/drift/\(prefix)-few", expect: .ok).json()
            #expect(few["status"] as? String == "insufficient_data")
            #expect(few["drift_detected"] as? Bool == false)

            // The hourly analysis records a report per endpoint with traffic; a drift alert reads the newest. At start it
            // runs at once when the newest report is an interval old or there is none, and not again before then.
            let monitor = DriftMonitor(environment: service.environment, now: { Self.now })
            try await monitor.analyzeIfOverdue(at: Self.now)
            let reportCount = try await service.scalar("SELECT count(*) FROM drift_reports")
            #expect(reportCount > 0)
            try await monitor.analyzeIfOverdue(at: Self.now.addingTimeInterval(3599))
            #expect(try await service.scalar("SELECT count(*) FROM drift_reports") == reportCount, "not overdue yet")
            let history = try await service.api.get("/api/v1/monitoring/drift/\(prefix)-shifted/reports", expect: .ok).json()
            let report = try #require((history["reports"] as? [[String: Any]])?.first)
            #expect(report["drift_detected"] as? Bool == true)
            #expect(report["affected_features"] as? [String] == ["basket_value", "city"])
            // The hourly analysis answers the drift route while it is fresh enough, feature by feature as a live one made
            // at the same instant (the test's clock stands still); asked for the hourly analysis of other windows, a 400.
            let live = try await service.api.get("/api/v1/monitoring/drift/\(prefix)-shifted", expect: .ok).json()
            let recorded = try await service.api.get(
                "/api/v1/monitoring/drift/\(prefix)-shifted?recorded_within_minutes=120", expect: .ok
            ).json()
            for key in ["features", "status", "drift_score", "severity", "affected_features", "baseline", "comparison", "analyzed_at"] {
                #expect(
                    try JSONSerialization.data(withJSONObject: ["v": live[key] as Any], options: .sortedKeys)
                        == JSONSerialization.data(withJSONObject: ["v": recorded[key] as Any], options: .sortedKeys),
                    "\(key): \(live[key] ?? "-") vs \(recorded[key] ?? "-")")
            }
            #expect(((recorded["features"] as? [[String: Any]]) ?? []).count >= 2, "\(recorded)")
            let replay = try await Replayer.replay(MetricsReadModel(), from: service.store, verify: true, logger: TestInfrastructure.logger)
            #expect(replay.verified == true, "the reports' features rebuild from the events: \(replay.tables)")
            try await service.api.get("/api/v1/monitoring/drift/\(prefix)-shifted?recorded_within_minutes=120&comparison_hours=6")
                .expectError(.badRequest, field: "recorded_within_minutes")
            try await service.api.get("/api/v1/monitoring/drift/\(prefix)-shifted?recorded_within_minutes=0")
                .expectError(.badRequest, field: "recorded_within_minutes")
            let analyzedAt = try #require(report["analyzed_at"] as? String)
            let before = try await service.api.get("/api/v1/monitoring/drift/\(prefix)-shifted/reports?before=\(analyzedAt)", expect: .ok).json()
            #expect((before["reports"] as? [[String: Any]])?.isEmpty == true, "none before the only analysis: \(before)")
            #expect(
                (try await service.api.get("/api/v1/monitoring/drift/\(prefix)-few/reports", expect: .ok).json()["reports"] as? [[String: Any]])?
                    .first?["status"] as? String == "insufficient_data")
            var ids: [String: String] = [:]
            for name in ["same", "shifted", "few"] {
                let alert = try await service.api.post(
                    "/api/v1/monitoring/alerts",
                    #"{"endpoint_id": "\#(prefix)-\#(name)", "alert_type": "drift", "threshold": 0.2, "for_seconds": 0, "min_samples": 100}"#,
                    expect: .created
                ).json()
                #expect(alert["metric"] as? String == "drift_score" && alert["window_seconds"] as? Int == 7200)
                ids[name] = alert["id"] as? String
            }
            try await AlertEvaluator(environment: service.environment, now: { Self.now }).evaluateAll(at: Self.now)
            for (name, status) in [("same", "ok"), ("shifted", "active"), ("few", "ok")] {
                let alert = try await service.api.get("/api/v1/monitoring/alerts/\(ids[name] ?? "")", expect: .ok).json()
                #expect(alert["status"] as? String == status, "\(name): \(alert)")
            }

            // The health score reads the same hourly analysis while it is fresh: requests that shift "same" after it
            // show in a drift analysis now, not in the health score until the next analysis.
            let late = Self.logs(
                endpoint: "\(prefix)-same", count: 4000, from: comparisonStart, seconds: 86_000, basketMean: 160, newCityShare: 0.8, seed: 3)
            try await RequestLogs.publish(late, topic: topic)
            try await ServingRollupIntegrationTests.ingest(service, topic: topic, group: "g") { ingestor in ingestor.messagesSeen >= late.count }
            let now = try await service.api.get("/api/v1/monitoring/drift/\(prefix)-same", expect: .ok).json()
            #expect(now["drift_detected"] as? Bool == true, "\(now)")
            let health = try await service.api.get("/api/v1/monitoring/health/\(prefix)-same", expect: .ok).json()
            let drift = try #require(health["drift"] as? [String: Any])
            #expect(drift["affected_features"] as? [String] == [], "the hourly analysis, from before: \(drift)")
            #expect(["none", "low"].contains(drift["severity"] as? String ?? ""), "\(drift)")
            #expect((drift["analyzed_at"] as? String)?.hasPrefix(String(Self.now.ISO8601Format().dropLast())) == true, "\(drift)")

            for (path, field) in [
                ("/api/v1/monitoring/drift/\(prefix)-same/reports?limit=0", "limit"),
                ("/api/v1/monitoring/drift/\(prefix)-same/reports?before=an-hour-ago", "before"),
                ("/api/v1/monitoring/drift/\(prefix)-same?baseline_days=31", "baseline_days"),
                ("/api/v1/monitoring/drift/\(prefix)-same?comparison_hours=0", "comparison_hours"),
                ("/api/v1/monitoring/drift/unknown-\(prefix)", "endpoint_id"),
            ] {
                let answer = try await service.api.get(path)
                #expect((400..<500).contains(answer.status.code) && answer.text.contains(field), "\(path): \(answer.text)")
            }

            // Two replicas' monitors, each behind `LeaderOnly` as metrics-svc runs it, start when an analysis is overdue:
            // one round of reports is recorded, not one a replica.
            let perRound = try await service.scalar("SELECT count(DISTINCT endpoint_id) FROM drift_reports")
            let reportsBefore = try await service.scalar("SELECT count(*) FROM drift_reports")
            let lock = "drift-monitor-test-\(UUID().uuidString.prefix(8))"
            let replicas = (0..<2).map { _ in
                let monitor = DriftMonitor(environment: service.environment, now: { Self.now.addingTimeInterval(7200) })
                return Task {
                    try await LeaderOnly(lock, postgres: service.environment.postgres, logger: TestInfrastructure.logger, monitor.worker).run()
                }
            }
            defer { replicas.forEach { $0.cancel() } }
            try await eventually(timeout: .seconds(30), "a round of analyses") {
                try await service.scalar("SELECT count(*) FROM drift_reports") >= reportsBefore + perRound
            }
            try await Task.sleep(for: .seconds(2))
            #expect(try await service.scalar("SELECT count(*) FROM drift_reports") == reportsBefore + perRound, "one replica analysed")
        }
    }

    /// Against the training data of the version that served the window (the baseline its trainer stored beside the
    /// bundle): the shifted feature is found; a bundle without a baseline, or one that is not local, is named.
    @Test func againstTheServingVersionsTrainingData() async throws {
        let topic = TestInfrastructure.shared.uniqueTopic("serving")
        let endpoint = "drift-trained-\(UUID().uuidString.prefix(6).lowercased())"
        var random = SeededGenerator(state: 9)
        let cities = ["lyon", "porto", "graz", "turku", "split"]
        let training = TrainingBaseline(
            rows: 3000,
            numeric: [
                "basket_value": NumericBaseline(values: (0..<3000).map { _ in random.normal(mean: 100, deviation: 20) }),
                "visits_30d": NumericBaseline(values: (0..<3000).map { _ in Double(Int.random(in: 0..<30, using: &random)) }),
            ],
            categorical: [
                "city": CategoricalBaseline(values: (0..<3000).map { cities[$0 % 5] }),
                "segment": CategoricalBaseline(values: (0..<3000).map { $0 % 2 == 0 ? "horeca" : "retail" }),
            ])
        let bundles = FileManager.default.temporaryDirectory.appendingPathComponent("drift-bundles-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: bundles) }
        let trained = bundles.appendingPathComponent("v1"), bare = bundles.appendingPathComponent("v2")
        for directory in [trained, bare] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        try training.write(toBundle: trained)
        // The last day's requests, all answered by model/r1: baskets are bigger than in training, the rest as trained.
        let logs = Self.logs(
            endpoint: endpoint, count: 2000, from: Self.now.addingTimeInterval(-86_000), seconds: 86_000, basketMean: 130, newCityShare: 0, seed: 3)
        try await withTestService(MetricsService.definition(now: { Self.now })) { service in
            var deploy = EnvelopeBuilder(service: "deploy")
            var envelopes: [EventEnvelope] = []
            for (number, uri) in [(1, trained.path), (2, bare.path), (3, "gs://models/v3")] {
                var requested = DeploymentRequested()
                requested.deploymentID = "\(endpoint)-\(number)"
                requested.endpointID = endpoint
                requested.modelVersionID = "model/r\(number)"
                requested.versionNumber = Int32(number)
                requested.artifactUri = uri
                envelopes.append(try deploy.envelope(requested, aggregateType: "Endpoint", aggregateID: endpoint))
            }
            try await service.project(envelopes, into: "served_endpoints")
            try await RequestLogs.publish(logs, topic: topic)
            try await ServingRollupIntegrationTests.ingest(service, topic: topic, group: "g") { ingestor in ingestor.messagesSeen >= logs.count }

            let drift = try await service.api.get("/api/v1/monitoring/drift/\(endpoint)?baseline=training", expect: .ok).json()
            let baseline = try #require(drift["baseline"] as? [String: Any])
            #expect(baseline["kind"] as? String == "training" && baseline["model_version_id"] as? String == "model/r1")
            #expect(baseline["rows"] as? Int == 3000 && baseline["version_number"] as? Int == 1)
            #expect(drift["status"] as? String == "ok" && drift["drift_detected"] as? Bool == true)
            #expect(drift["affected_features"] as? [String] == ["basket_value"], "\(drift)")

            let api = service.api
            let path = "/api/v1/monitoring/drift/\(endpoint)"
            try await api.get("\(path)?baseline=yesterday").expectError(.badRequest, field: "baseline")
            try await api.get("\(path)?baseline=training&baseline_days=3").expectError(.badRequest, field: "baseline_days")
            try await api.get("\(path)?model_version_id=model/r1").expectError(.badRequest, field: "model_version_id")
            try await api.get("\(path)?baseline=training&model_version_id=model/none").expectError(.notFound)
            try await api.get("\(path)?baseline=training&model_version_id=model/r2").expectError(.conflict)
            try await api.get("\(path)?baseline=training&model_version_id=model/r3").expectError(.conflict)
        }
    }
}
