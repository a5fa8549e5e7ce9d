import Foundation
import Logging
import PostgresNIO
import SlipwayEventSourcing
import SlipwayPlatform

/// The scheduled drift analysis: every hour, each endpoint with sampled requests in the last 24 hours is
/// compared with the 7 days before and the result recorded as `DriftDetected`, which drift alerts read.
/// `analyzeAll(at:)` is what tests call with their own clock.
public struct DriftMonitor: Sendable {
    let environment: ServiceEnvironment
    let now: @Sendable () -> Date
    public static let interval: Duration = .seconds(3600)
    static let baselineDays = 7
    static let comparisonHours = 24
    /// A drift rule's default window: the newest report it reads must be at most this old (two rounds).
    static let reportFreshnessSeconds: Int32 = 7200

    public init(environment: ServiceEnvironment, now: @escaping @Sendable () -> Date) {
        self.environment = environment
        self.now = now
    }

    var worker: PollingWorker {
        PollingWorker("drift-monitor", every: Self.interval, logger: environment.logger, atStart: { try await analyzeIfOverdue(at: now()) }) {
            try await analyzeAll(at: now())
        }
    }

    /// At start: the analysis now when the newest is an interval old or there is none, so that drift alerts, the
    /// health score and the monitoring tab have a report to read after the service was down, not only an hour later.
    /// A report recorded before reports kept each feature's result does not count (the tab cannot show it).
    public func analyzeIfOverdue(at instant: Date) async throws {
        let rows = try await environment.postgres.query(
            "SELECT max(analyzed_at) FROM drift_reports WHERE features <> '[]'::jsonb", logger: environment.logger)
        var newest: Date?
        for try await value in rows.decode(Date?.self) { newest = value }
        if let newest, instant.timeIntervalSince(newest) < Double(Self.interval.components.seconds) { return }
        try await analyzeAll(at: instant)
    }

    /// One analysis per endpoint with traffic in the comparison window; one failing does not stop the others.
    public func analyzeAll(at instant: Date) async throws {
        let since = instant.addingTimeInterval(-Double(Self.comparisonHours) * 3600)
        let rows = try await environment.postgres.query(
            "SELECT DISTINCT endpoint_id FROM feature_samples WHERE bucket_start >= \(since) ORDER BY endpoint_id", logger: environment.logger)
        var endpoints: [String] = []
        for try await endpoint in rows.decode(String.self) { endpoints.append(endpoint) }
        for endpoint in endpoints {
            do {
                let report = try await DriftReport.measure(
                    endpointID: endpoint, baselineDays: Self.baselineDays, comparisonHours: Self.comparisonHours, end: instant,
                    client: environment.postgres, logger: environment.logger)
                let id = "drift-\(UUID.v7(now: instant).uuidString.lowercased())"
                try await environment.execute(
                    DriftReportDecider.self, aggregateID: id,
                    command: .record(.init(reportID: id, endpointID: endpoint, report: report, end: instant)),
                    metadata: CommandMetadata(causationID: "drift-monitor", actor: "drift-monitor"))
            } catch {
                environment.logger.warning("drift analysis failed", metadata: [LogKey.aggregateID: "\(endpoint)", LogKey.error: "\(error)"])
            }
        }
    }
}
