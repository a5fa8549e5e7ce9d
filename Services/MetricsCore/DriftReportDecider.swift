import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayStatistics

/// One scheduled drift analysis of an endpoint, recorded once (`DriftDetected`, whether or not drift was found):
/// the history drift alerts and dashboards read. The aggregate id is the report's id.
public enum DriftReportDecider: Decider {
    public enum Command: Sendable {
        case record(Analysis)
    }

    /// What `DriftReport.measure` found, with the windows it compared.
    public struct Analysis: Sendable {
        public var reportID: String
        public var endpointID: String
        public var report: DriftReport
        public var end: Date

        public init(reportID: String, endpointID: String, report: DriftReport, end: Date) {
            self.reportID = reportID
            self.endpointID = endpointID
            self.report = report
            self.end = end
        }
    }

    public struct State: Sendable, Equatable {
        public var recorded = false
    }

    public static let aggregateType = "DriftReport"
    public static let initial = State()

    public static func decide(_ command: Command, _ state: State) throws -> [MetricsEvent] {
        switch command {
        case .record(let analysis):
            guard !state.recorded else { throw CommandRejected(.conflict, "drift report \(analysis.reportID) is already recorded") }
            let summary = analysis.report.summary
            var event = DriftDetected()
            event.reportID = analysis.reportID
            event.endpointID = analysis.endpointID
            event.baselineStart = .init(date: analysis.report.baselineStart)
            event.baselineEnd = .init(date: analysis.report.comparisonStart)
            event.comparisonStart = .init(date: analysis.report.comparisonStart)
            event.comparisonEnd = .init(date: analysis.end)
            event.driftDetected = summary.driftDetected
            event.driftScore = summary.driftScore
            event.severity = severity(summary.severity)
            event.insufficientData = summary.status == .insufficientData
            event.baselineRows = Int64(analysis.report.baselineRows)
            event.comparisonRows = Int64(analysis.report.comparisonRows)
            event.features = summary.results.map { result in
                var feature = FeatureDrift()
                feature.feature = result.feature
                feature.numeric = result.kind == .numeric
                feature.psi = result.psi ?? 0
                feature.ksStatistic = result.ksStatistic ?? 0
                feature.ksPValue = result.ksPValue ?? 0
                feature.jensenShannon = result.jensenShannon ?? 0
                feature.unseenShare = result.unseenShare ?? 0
                feature.severity = severity(result.severity)
                feature.drifted = result.drifted
                feature.insufficientData = result.status == .insufficientData
                feature.baselineCount = Int64(result.baselineCount)
                feature.comparisonCount = Int64(result.comparisonCount)
                return feature
            }
            return [.driftDetected(event)]
        }
    }

    static func severity(_ severity: SlipwayStatistics.DriftSeverity) -> SlipwayContracts.DriftSeverity {
        switch severity {
        case .none: .none
        case .low: .low
        case .medium: .medium
        case .high: .high
        case .critical: .critical
        }
    }

    public static func evolve(_ state: State, _ event: MetricsEvent) -> State {
        switch event {
        case .driftDetected: State(recorded: true)
        case .alertRuleCreated, .alertRuleUpdated, .alertRuleDeleted, .alertPending, .alertPendingCleared, .alertFired, .alertAcknowledged,
            .alertResolved, .alertNotificationAttempted, .feedbackRecorded, .feedbackFlagChanged, .feedbackDeleted, .feedbackSentToTraining:
            state  // other aggregates of the context
        }
    }
}
