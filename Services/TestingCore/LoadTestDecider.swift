import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayLoadGenerator

/// The load tests of one endpoint (the aggregate id is the endpoint's name), so that at most one runs at a time: a
/// start while one runs is refused, unless the running one is long past its end — its process died — and is then
/// recorded as abandoned first.
public enum LoadTestDecider: Decider {
    public enum Command: Sendable {
        case start(NewLoadTest, now: Date)
        case cancel(id: String, by: String)
        case finish(id: String, LoadTestOutcome, report: LoadReport?, error: String)
    }

    /// The limits of a load test's settings (the API's 422s name the field).
    public enum Limits {
        public static let connections = 1...256
        public static let durationSeconds = 1...300
        public static let targetRPS = 1...100_000
        public static let sampleCount = 1...1000
        public static let topK = EndpointTestDecider.Limits.topK
    }

    /// How long after its planned end a running test counts as abandoned: its generator stops on time, and
    /// recording the end takes well under a second.
    public static let abandonedAfter: TimeInterval = 60

    public struct NewLoadTest: Sendable {
        public var id: String
        public var endpoint: TestedEndpoint
        public var connections: Int
        /// nil: as fast as the connections are answered.
        public var targetRPS: Int?
        public var durationSeconds: Int
        public var sampleCount: Int
        public var seed: UInt64
        public var topK: Int
        public var requestTimeoutMs: Int
        public var targetURL: String
        public var datasetID: String
        public var startedBy: String
    }

    public struct State: Sendable {
        public var running: LoadTestStarted?
        public var cancelRequested = false
    }

    public static let aggregateType = "EndpointLoadTests"
    public static let initial = State()

    public static func decide(_ command: Command, _ state: State) throws -> [TestingEvent] {
        switch command {
        case .start(let new, let now):
            try EndpointTestDecider.check(new.connections, in: Limits.connections, field: "connections")
            try EndpointTestDecider.check(new.durationSeconds, in: Limits.durationSeconds, field: "duration_seconds")
            if let rate = new.targetRPS { try EndpointTestDecider.check(rate, in: Limits.targetRPS, field: "target_rps") }
            try EndpointTestDecider.check(new.sampleCount, in: Limits.sampleCount, field: "sample_count")
            try EndpointTestDecider.check(new.topK, in: Limits.topK, field: "top_k")
            var events: [TestingEvent] = []
            if let running = state.running {
                let end = running.startedAt.date.addingTimeInterval(TimeInterval(running.params.durationSeconds))
                guard now >= end.addingTimeInterval(abandonedAfter) else {
                    throw CommandRejected(
                        .conflict, "load test \(running.loadTestID) is still running on endpoint \(running.endpointName): cancel it or wait for it")
                }
                var abandoned = finished(running, .abandoned, report: nil)
                abandoned.error = "its process stopped before recording the end"
                events.append(.loadTestFinished(abandoned))
            }
            var started = LoadTestStarted()
            started.loadTestID = new.id
            started.endpointID = new.endpoint.endpointID
            started.endpointName = new.endpoint.name
            started.modelName = new.endpoint.modelName
            started.deploymentID = new.endpoint.deploymentID
            started.modelVersionID = new.endpoint.modelVersionID
            started.versionNumber = Int32(new.endpoint.versionNumber)
            started.artifactUri = new.endpoint.artifactURI
            started.datasetID = new.datasetID
            started.targetURL = new.targetURL
            started.startedBy = new.startedBy
            started.startedAt = .init(date: now)
            started.params = LoadTestParams.with {
                $0.concurrency = Int32(new.connections)
                $0.durationSeconds = Int32(new.durationSeconds)
                $0.targetRps = Int32(new.targetRPS ?? 0)
                $0.sampleCount = Int32(new.sampleCount)
                $0.seed = new.seed
                $0.topK = Int32(new.topK)
                $0.requestTimeoutMs = Int32(new.requestTimeoutMs)
            }
            events.append(.loadTestStarted(started))
            return events

        case .cancel(let id, let by):
            guard let running = state.running, running.loadTestID == id else {
                throw CommandRejected(.conflict, "load test \(id) is not running")
            }
            guard !state.cancelRequested else { return [] }
            var requested = LoadTestCancelRequested()
            requested.loadTestID = id
            requested.endpointName = running.endpointName
            requested.requestedBy = by
            return [.loadTestCancelRequested(requested)]

        case .finish(let id, let outcome, let report, let error):
            guard let running = state.running, running.loadTestID == id else { return [] }  // ended already
            var event = finished(running, outcome, report: report)
            event.error = error
            return [.loadTestFinished(event)]
        }
    }

    static func finished(_ started: LoadTestStarted, _ outcome: LoadTestOutcome, report: LoadReport?) -> LoadTestFinished {
        var finished = LoadTestFinished()
        finished.loadTestID = started.loadTestID
        finished.endpointID = started.endpointID
        finished.endpointName = started.endpointName
        finished.outcome = outcome
        guard let report else { return finished }
        finished.requests = Int64(report.requests)
        finished.succeeded = Int64(report.succeeded)
        finished.failed = Int64(report.failed)
        finished.achievedRps = report.achievedRPS
        finished.durationMs = Int64(report.elapsed.components.seconds * 1000 + report.elapsed.components.attoseconds / 1_000_000_000_000_000)
        finished.errorsByStatus = report.errorsByStatus.mapValues(Int64.init)
        finished.latency = .with {
            $0.count = Int64(report.latency.count)
            $0.avgMs = (report.latency.mean ?? 0) / 1000
            $0.minMs = (report.latency.min ?? 0) / 1000
            $0.maxMs = (report.latency.max ?? 0) / 1000
            $0.p50Ms = report.latencyMs(0.5)
            $0.p95Ms = report.latencyMs(0.95)
            $0.p99Ms = report.latencyMs(0.99)
        }
        finished.perSecond = report.seconds.map { second in
            LoadTestSecond.with {
                $0.second = Int32(second.second)
                $0.requests = Int64(second.requests)
                $0.errors = Int64(second.errors)
                $0.p50Ms = (second.latency.quantile(0.5) ?? 0) / 1000
                $0.p99Ms = (second.latency.quantile(0.99) ?? 0) / 1000
            }
        }
        return finished
    }

    public static func evolve(_ state: State, _ event: TestingEvent) -> State {
        var state = state
        switch event {
        case .loadTestStarted(let e):
            state.running = e
            state.cancelRequested = false
        case .loadTestCancelRequested: state.cancelRequested = true
        case .loadTestFinished(let e) where e.loadTestID == state.running?.loadTestID:
            state.running = nil
            state.cancelRequested = false
        case .loadTestFinished, .endpointTestStarted, .endpointTestCompleted, .scheduledCheckConfigured, .scheduledCheckSkipped: break
        }
        return state
    }
}
