import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayContracts
import SlipwayModelBundle

/// Runs one endpoint test over HTTP, the way a client would: a health check, then the samples as `:predict`
/// requests (`batch_size` instances each, one request at a time so the latency figures are a single client's),
/// every answer held to `PredictionValidator`'s rules, and the first request sent again to check the endpoint
/// answers the same question the same way.
public struct EndpointTestRunner: Sendable {
    /// Where the requests go: `<base>/health` and `<base>/v1/models/<model>:predict` (serving-router's
    /// `http://router/<endpoint>`, or one revision's model-server).
    public var base: String
    public var model: String
    public var authorization: String?
    public var httpClient: HTTPClient

    public init(base: String, model: String, authorization: String?, httpClient: HTTPClient) {
        self.base = base
        self.model = model
        self.authorization = authorization
        self.httpClient = httpClient
    }

    public struct Result: Sendable {
        public var health = HealthCheck()
        public var checks: [TestCheckResult] = []
        public var latency = LatencyStats()
        public var requestsSent = 0
        public var requestsSucceeded = 0
        public var issues: [PredictionValidator.Issue] = []
        public var validCount = 0
        public var totalCount = 0
        public var samplePredictions: [SamplePrediction] = []
        public var answers: [SampleAnswer] = []
        public var durationMs: Int64 = 0

        public var passed: Bool {
            health.healthy && requestsSent > 0 && requestsSucceeded == requestsSent && issues.isEmpty
        }
    }

    /// Sample predictions kept for people to look at.
    static let shownSamples = 3
    /// Ids kept per answer for comparing versions.
    static let comparedItems = 10
    /// Issues kept (the first ones; the count says how many there were).
    static let maxIssues = 50

    public func run(
        instances: [[String: SlipwayModelBundle.FeatureValue]], topK: Int, batchSize: Int, timeout: Duration, validator: PredictionValidator,
        keyGrace: Duration = .seconds(10)
    ) async -> Result {
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + timeout
        var result = Result()

        // Health, retried while the router does not know a key made moments ago (it learns keys from deploy-svc).
        let healthStart = clock.now
        var health = await call(.GET, "/health", body: nil, until: deadline)
        while health.status == 401, clock.now < min(deadline, healthStart + keyGrace) {
            try? await Task.sleep(for: .milliseconds(200))
            health = await call(.GET, "/health", body: nil, until: deadline)
        }
        result.health.statusCode = Int32(health.status)
        result.health.latencyMs = health.latencyMs
        result.health.healthy = health.status == 200
        result.health.message = health.status == 200 ? "healthy" : health.error ?? "answered \(health.status)"
        result.checks.append(check(.health, result.health.healthy, result.health.message, ms: health.latencyMs))
        guard result.health.healthy else {
            result.durationMs = Int64(Self.ms(clock.now - started).rounded())
            return result
        }

        var latencies: [Double] = []
        var firstRequest: (body: [UInt8], predictions: [PredictionValidator.Prediction])?
        let predictStart = clock.now
        for batchStart in stride(from: 0, to: instances.count, by: batchSize) {
            let batch = Array(instances[batchStart..<min(batchStart + batchSize, instances.count)])
            let body = Self.predictBody(batch, topK: topK)
            result.requestsSent += 1
            let answer = await call(.POST, "/v1/models/\(model):predict", body: body, until: deadline)
            latencies.append(answer.latencyMs)
            result.totalCount += batch.count
            guard answer.status == 200 else {
                let issue = PredictionValidator.Issue(
                    sample: batchStart, rule: .status, message: answer.error ?? "answered \(answer.status): \(Self.excerpt(answer.body))")
                record([issue], into: &result)
                continue
            }
            guard let predictions = PredictionValidator.predictions(in: answer.body), predictions.count == batch.count else {
                let issue = PredictionValidator.Issue(
                    sample: batchStart, rule: .shape,
                    message:
                        "the answer is not {\"predictions\": [{\"product_ids\", \"scores\"}]} for \(batch.count) instance(s): \(Self.excerpt(answer.body))"
                )
                record([issue], into: &result)
                continue
            }
            result.requestsSucceeded += 1
            if firstRequest == nil { firstRequest = (body, predictions) }
            for (offset, prediction) in predictions.enumerated() {
                let sample = batchStart + offset
                let issues = validator.check(sample: sample, prediction)
                if issues.isEmpty { result.validCount += 1 }
                record(issues, into: &result)
                let customer = batch[offset]["customer_id"].map { "\($0)" } ?? ""
                result.answers.append(
                    SampleAnswer.with {
                        $0.customerID = customer
                        $0.productIds = Array(prediction.productIDs.prefix(Self.comparedItems))
                    })
                if result.samplePredictions.count < Self.shownSamples {
                    result.samplePredictions.append(
                        SamplePrediction.with {
                            $0.input = Self.row(batch[offset])
                            $0.productIds = prediction.productIDs
                            $0.scores = prediction.scores.map(Float.init)
                            $0.latencyMs = answer.latencyMs
                            $0.statusCode = 200
                        })
                }
            }
        }
        let predictMs = Self.ms(clock.now - predictStart)
        let failed = result.requestsSent - result.requestsSucceeded
        result.checks.append(
            check(.prediction, failed == 0, "\(result.requestsSucceeded) of \(result.requestsSent) requests answered 200", ms: predictMs))

        // The first request again: the same question must get the same answer.
        if let firstRequest {
            let again = await call(.POST, "/v1/models/\(model):predict", body: firstRequest.body, until: deadline)
            if again.status == 200, let repeated = PredictionValidator.predictions(in: again.body), repeated.count == firstRequest.predictions.count {
                for (index, pair) in zip(firstRequest.predictions, repeated).enumerated() {
                    record(validator.checkRepeat(sample: index, first: pair.0, again: pair.1), into: &result)
                }
            } else {
                record(
                    [.init(sample: 0, rule: .deterministic, message: "the repeated request answered \(again.status) \(again.error ?? "")")],
                    into: &result)
            }
        }
        result.checks.append(
            check(
                .validation, result.issues.isEmpty, result.issues.isEmpty ? "all \(result.totalCount) answers valid" : result.issues[0].text,
                ms: 0))
        result.latency = Self.stats(latencies)
        result.checks.append(
            check(.latency, !latencies.isEmpty, String(format: "p50 %.1f ms, p95 %.1f ms", result.latency.p50Ms, result.latency.p95Ms), ms: 0))
        result.durationMs = Int64(Self.ms(clock.now - started).rounded())
        return result
    }

    private func record(_ issues: [PredictionValidator.Issue], into result: inout Result) {
        for issue in issues where result.issues.count < Self.maxIssues { result.issues.append(issue) }
    }

    private func check(_ kind: TestCheckKind, _ passed: Bool, _ message: String, ms: Double) -> TestCheckResult {
        TestCheckResult.with {
            $0.kind = kind
            $0.status = passed ? .passed : .failed
            $0.message = message
            $0.durationMs = Int64(ms.rounded())
        }
    }

    struct Answer {
        var status: Int
        var body: [UInt8]
        var latencyMs: Double
        var error: String?
    }

    /// One request, its status 0 with the error when it got no answer (refused, timed out).
    private func call(_ method: HTTPMethod, _ path: String, body: [UInt8]?, until deadline: ContinuousClock.Instant) async -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let clock = ContinuousClock()
        let start = clock.now
        let remaining = deadline - start
        guard remaining > .zero else { return Answer(status: 0, body: [], latencyMs: 0, error: "the test's timeout passed before this request") }
        do {
            let response = try await httpClient.execute(request, timeout: .milliseconds(Int64(Self.ms(remaining).rounded(.up))))
            let bytes = Array(try await response.body.collect(upTo: 16 << 20).readableBytesView)
            return Answer(status: Int(response.status.code), body: bytes, latencyMs: Self.ms(clock.now - start), error: nil)
        } catch {
            return Answer(status: 0, body: [], latencyMs: Self.ms(clock.now - start), error: "no answer: \(error)")
        }
    }

    static func predictBody(_ instances: [[String: SlipwayModelBundle.FeatureValue]], topK: Int) -> [UInt8] {
        struct Body: Encodable {
            let instances: [[String: SlipwayModelBundle.FeatureValue]]
            let top_k: Int
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(Body(instances: instances, top_k: topK))) ?? Data())
    }

    static func row(_ instance: [String: SlipwayModelBundle.FeatureValue]) -> FeatureRow {
        FeatureRow.with { row in
            for (name, value) in instance {
                row.features[name] = SlipwayContracts.FeatureValue.with {
                    switch value {
                    case .string(let text): $0.stringValue = text
                    case .int(let number): $0.int64Value = Int64(number)
                    case .double(let number): $0.doubleValue = number
                    }
                }
            }
        }
    }

    static func stats(_ latencies: [Double]) -> LatencyStats {
        guard !latencies.isEmpty else { return LatencyStats() }
        let sorted = latencies.sorted()
        /// Nearest rank: the smallest value with at least `q` of the values at or below it.
        func quantile(_ q: Double) -> Double { sorted[max(1, Int((q * Double(sorted.count)).rounded(.up))) - 1] }
        return LatencyStats.with {
            $0.count = Int64(sorted.count)
            $0.avgMs = sorted.reduce(0, +) / Double(sorted.count)
            $0.minMs = sorted[0]
            $0.maxMs = sorted[sorted.count - 1]
            $0.p50Ms = quantile(0.5)
            $0.p95Ms = quantile(0.95)
            $0.p99Ms = quantile(0.99)
        }
    }

    static func ms(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func excerpt(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        return body.count > 200 ? text + "…" : text
    }
}
