import Foundation
import SlipwayContracts
import SlipwayModelBundle
import SlipwayPlatform
import SwiftProtobuf

/// An endpoint test as the API shows it — the spec's `POST /api/deployed-endpoints/{id}/test/` answer, with the
/// `EndpointTestResult` fields — written by the read model from the test's events.
struct TestReport: Encodable {
    struct Config: Encodable {
        var datasetId: String
        var sampleCount: Int
        var seed: UInt64
        var batchSize: Int
        var timeoutSeconds: Int
        var topK: Int
    }

    struct Health: Encodable {
        var healthy: Bool
        var statusCode: Int
        var latencyMs: Double
        var message: String
    }

    struct Results: Encodable {
        var requestsSent: Int64
        var successful: Int64
        var failed: Int64
        var avgLatencyMs: Double
        var minLatencyMs: Double
        var maxLatencyMs: Double
        var p50LatencyMs: Double
        var p95LatencyMs: Double
        var p99LatencyMs: Double
    }

    struct Validation: Encodable {
        var allValid: Bool
        var validCount: Int
        var totalCount: Int
        var issues: [String]
    }

    struct Sample: Encodable {
        struct Output: Encodable {
            var productIds: [String]
            var scores: [Float]
        }
        var input: [String: SlipwayModelBundle.FeatureValue]
        var output: Output
        var latencyMs: Double
    }

    struct Comparison: Encodable {
        var previousTestId: String
        var previousModelVersionId: String
        var previousVersion: Int
        var samplesCompared: Int
        var k: Int
        var meanOverlap: Double
        var identicalFraction: Double
    }

    struct Check: Encodable {
        var kind: String
        var status: String
        var message: String
        var durationMs: Int64
    }

    var success: Bool
    var testId: String
    var status: String
    var endpoint: String
    var endpointUrl: String
    var deploymentId: String
    var modelVersionId: String
    var version: Int
    var triggeredBy: String
    var requestedBy: String
    var testConfig: Config
    @Nullable var healthCheck: Health?
    @Nullable var testResults: Results?
    @Nullable var validation: Validation?
    var samplePredictions: [Sample]
    @Nullable var comparison: Comparison?
    var checks: [Check]
    @Nullable var durationMs: Int64?
    var error: String
    var createdAt: Date
    @Nullable var completedAt: Date?

    /// The report's JSON text (for the read model's `report` column).
    static func report(started: EndpointTestStarted, completed: EndpointTestCompleted?, startedAt: Date, completedAt: Date?) throws -> String {
        var report = TestReport(
            success: completed?.passed ?? false, testId: started.testID, status: completed.map(status) ?? "running", endpoint: started.endpointName,
            endpointUrl: started.targetURL, deploymentId: started.deploymentID, modelVersionId: started.modelVersionID,
            version: Int(started.versionNumber), triggeredBy: triggerName(started.trigger), requestedBy: started.triggeredBy,
            testConfig: Config(
                datasetId: started.datasetID, sampleCount: Int(started.sampleCount), seed: started.seed, batchSize: Int(started.batchSize),
                timeoutSeconds: Int(started.timeoutSeconds), topK: Int(started.topK)),
            samplePredictions: [], checks: [], error: completed?.error ?? "", createdAt: startedAt, completedAt: completedAt)
        if let completed {
            if completed.hasHealth {
                report.healthCheck = Health(
                    healthy: completed.health.healthy, statusCode: Int(completed.health.statusCode), latencyMs: completed.health.latencyMs,
                    message: completed.health.message)
            }
            if completed.requestsSent > 0 {
                let latency = completed.latency
                report.testResults = Results(
                    requestsSent: completed.requestsSent, successful: completed.requestsSucceeded, failed: completed.requestsFailed,
                    avgLatencyMs: latency.avgMs, minLatencyMs: latency.minMs, maxLatencyMs: latency.maxMs, p50LatencyMs: latency.p50Ms,
                    p95LatencyMs: latency.p95Ms, p99LatencyMs: latency.p99Ms)
                report.validation = Validation(
                    allValid: completed.allResponsesValid, validCount: Int(completed.validCount), totalCount: Int(completed.totalCount),
                    issues: completed.validationIssues)
            }
            report.samplePredictions = completed.samplePredictions.map { sample in
                Sample(
                    input: sample.input.features.mapValues(value), output: .init(productIds: sample.productIds, scores: sample.scores),
                    latencyMs: sample.latencyMs)
            }
            if completed.hasComparison {
                let c = completed.comparison
                report.comparison = Comparison(
                    previousTestId: c.previousTestID, previousModelVersionId: c.previousModelVersionID, previousVersion: Int(c.previousVersionNumber),
                    samplesCompared: Int(c.samplesCompared), k: Int(c.k), meanOverlap: c.meanOverlap, identicalFraction: c.identicalFraction)
            }
            report.checks = completed.checks.map { check in
                Check(kind: checkName(check.kind), status: checkStatus(check.status), message: check.message, durationMs: check.durationMs)
            }
            report.durationMs = completed.durationMs
        }
        return String(decoding: try PlatformJSON.encode(report), as: UTF8.self)
    }

    static func value(_ value: SlipwayContracts.FeatureValue) -> SlipwayModelBundle.FeatureValue {
        switch value.kind {
        case .stringValue(let text): .string(text)
        case .int64Value(let number): .int(Int(number))
        case .doubleValue(let number): .double(number)
        case .boolValue(let flag): .int(flag ? 1 : 0)
        case .stringList(let list): .string(list.values.joined(separator: ","))
        case .doubleList(let list): .string(list.values.map { "\($0)" }.joined(separator: ","))
        case nil: .string("")
        }
    }

    static func status(_ completed: EndpointTestCompleted) -> String {
        !completed.error.isEmpty ? "error" : completed.passed ? "passed" : "failed"
    }

    static func triggerName(_ trigger: TestTrigger) -> String {
        switch trigger {
        case .manual: "manual"
        case .scheduled: "scheduled"
        case .deployment: "rollout"
        case .api, .unspecified, .UNRECOGNIZED: "api"
        }
    }

    static func checkName(_ kind: TestCheckKind) -> String {
        switch kind {
        case .health: "health"
        case .sampleExtraction: "sample_extraction"
        case .prediction: "prediction"
        case .validation: "validation"
        case .latency: "latency"
        case .load: "load"
        case .unspecified, .UNRECOGNIZED: "other"
        }
    }

    static func checkStatus(_ status: TestCheckStatus) -> String {
        switch status {
        case .passed: "passed"
        case .failed: "failed"
        case .skipped: "skipped"
        case .error, .unspecified, .UNRECOGNIZED: "error"
        }
    }

    // MARK: Protobuf JSON of the stored parts

    static let decoding: JSONDecodingOptions = {
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        return options
    }()

    static func jsonText(_ message: some SwiftProtobuf.Message) throws -> String {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        return try message.jsonString(options: options)
    }

    static func jsonList(_ messages: [some SwiftProtobuf.Message]) throws -> String {
        "[" + (try messages.map(jsonText).joined(separator: ",")) + "]"
    }
}
