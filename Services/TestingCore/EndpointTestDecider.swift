import Foundation
import SlipwayContracts
import SlipwayEventSourcing

/// One test of a deployed endpoint: started with what it will send and where, completed once with what it found.
/// The aggregate id is the test's id.
public enum EndpointTestDecider: Decider {
    public enum Command: Sendable {
        case start(NewTest)
        case complete(TestOutcome)
    }

    /// The limits of a test's settings (the API's 422s name the field).
    public enum Limits {
        public static let sampleCount = 1...1000
        public static let timeoutSeconds = 1...300
        public static let batchSize = 1...100
        public static let topK = 1...100
    }

    public struct NewTest: Sendable {
        public var id: String
        public var endpoint: TestedEndpoint
        public var trigger: TestTrigger
        public var triggeredBy: String
        public var sampleCount: Int
        public var timeoutSeconds: Int
        public var batchSize: Int
        public var topK: Int
        public var seed: UInt64
        public var datasetID: String
        public var targetURL: String
        /// A scheduled check's test: the check and its slot.
        public var check: (id: String, slot: Date)?
        /// A rollout gate's test: the step of the deployment (`endpoint.deploymentID`) it judges.
        public var rolloutStep: Int?

        public init(
            id: String, endpoint: TestedEndpoint, trigger: TestTrigger, triggeredBy: String, sampleCount: Int, timeoutSeconds: Int,
            batchSize: Int, topK: Int, seed: UInt64, datasetID: String, targetURL: String, check: (id: String, slot: Date)? = nil
        ) {
            self.check = check
            self.id = id
            self.endpoint = endpoint
            self.trigger = trigger
            self.triggeredBy = triggeredBy
            self.sampleCount = sampleCount
            self.timeoutSeconds = timeoutSeconds
            self.batchSize = batchSize
            self.topK = topK
            self.seed = seed
            self.datasetID = datasetID
            self.targetURL = targetURL
        }
    }

    /// What a finished test found (`EndpointTestRunner.Result`, or why it could not run).
    public struct TestOutcome: Sendable {
        public var result: EndpointTestRunner.Result?
        public var comparison: VersionComparison?
        public var error: String

        public init(result: EndpointTestRunner.Result?, comparison: VersionComparison? = nil, error: String = "") {
            self.result = result
            self.comparison = comparison
            self.error = error
        }
    }

    public struct State: Sendable {
        public var started: EndpointTestStarted?
        public var completed = false
    }

    public static let aggregateType = "EndpointTest"
    public static let initial = State()

    public static func decide(_ command: Command, _ state: State) throws -> [TestingEvent] {
        switch command {
        case .start(let new):
            guard state.started == nil else { throw CommandRejected(.conflict, "test \(new.id) exists already") }
            try check(new.sampleCount, in: Limits.sampleCount, field: "sample_count")
            try check(new.timeoutSeconds, in: Limits.timeoutSeconds, field: "timeout_seconds")
            try check(new.batchSize, in: Limits.batchSize, field: "batch_size")
            try check(new.topK, in: Limits.topK, field: "top_k")
            var started = EndpointTestStarted()
            started.testID = new.id
            started.endpointID = new.endpoint.endpointID
            started.endpointName = new.endpoint.name
            started.deploymentID = new.endpoint.deploymentID
            started.modelVersionID = new.endpoint.modelVersionID
            started.versionNumber = Int32(new.endpoint.versionNumber)
            started.artifactUri = new.endpoint.artifactURI
            started.trigger = new.trigger
            started.triggeredBy = new.triggeredBy
            started.datasetID = new.datasetID
            started.sampleCount = Int32(new.sampleCount)
            started.timeoutSeconds = Int32(new.timeoutSeconds)
            started.batchSize = Int32(new.batchSize)
            started.topK = Int32(new.topK)
            started.seed = new.seed
            started.targetURL = new.targetURL
            started.checks = [.health, .sampleExtraction, .prediction, .validation, .latency]
            started.rolloutStepIndex = Int32(new.rolloutStep ?? -1)
            if let check = new.check {
                started.scheduledCheckID = check.id
                started.checkSlot = .init(date: check.slot)
            }
            return [.endpointTestStarted(started)]

        case .complete(let outcome):
            guard let started = state.started else { throw CommandRejected(.notFound, "no such test") }
            guard !state.completed else { return [] }  // recorded already
            var completed = EndpointTestCompleted()
            completed.testID = started.testID
            completed.endpointID = started.endpointID
            completed.deploymentID = started.deploymentID
            completed.error = outcome.error
            if let comparison = outcome.comparison { completed.comparison = comparison }
            guard let result = outcome.result else {
                completed.passed = false
                return [.endpointTestCompleted(completed)]
            }
            completed.health = result.health
            completed.checks = result.checks
            completed.latency = result.latency
            completed.requestsSent = Int64(result.requestsSent)
            completed.requestsSucceeded = Int64(result.requestsSucceeded)
            completed.requestsFailed = Int64(result.requestsSent - result.requestsSucceeded)
            completed.validationIssues = result.issues.map(\.text)
            completed.validCount = Int32(result.validCount)
            completed.totalCount = Int32(result.totalCount)
            completed.allResponsesValid = result.issues.isEmpty && result.validCount == result.totalCount
            completed.samplePredictions = result.samplePredictions
            completed.answers = result.answers
            completed.durationMs = result.durationMs
            completed.passed = outcome.error.isEmpty && result.passed
            return [.endpointTestCompleted(completed)]
        }
    }

    static func check(_ value: Int, in range: ClosedRange<Int>, field: String) throws {
        guard range.contains(value) else {
            throw CommandRejected(field: field, "\(field) must be \(range.lowerBound) to \(range.upperBound), got \(value)")
        }
    }

    public static func evolve(_ state: State, _ event: TestingEvent) -> State {
        var state = state
        switch event {
        case .endpointTestStarted(let e): state.started = e
        case .endpointTestCompleted: state.completed = true
        case .scheduledCheckConfigured, .scheduledCheckSkipped, .loadTestStarted, .loadTestCancelRequested, .loadTestFinished:
            break  // another aggregate's
        }
        return state
    }
}
