import Foundation
import SlipwayContracts
import SwiftProtobuf
import Testing

@testable import MetricsCore

/// The window arithmetic and the rollup fold: pure, so every window length and clock position is tried.
struct ServingWindowTests {
    static let base = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

    @Test(arguments: [0.0, 1, 59.999, 60, 61, 3599, 3600, 5_000.5, 86_399])
    func bucketsAreAlignedAndHoldTheirInstant(offset: Double) {
        let date = Self.base.addingTimeInterval(offset)
        for granularity in RollupGranularity.allCases {
            let start = granularity.bucket(of: date)
            #expect(Int64(start.timeIntervalSince1970) % granularity.seconds == 0)
            #expect(start <= date)
            #expect(date.timeIntervalSince(start) < Double(granularity.seconds))
        }
    }

    /// Every minute of the window is read exactly once: from its minute bucket before `hoursFrom`, from its
    /// hour bucket from then on; nothing outside the window is read.
    @Test(arguments: [1, 2, 6, 7, 24, 168])
    func hourWindowsReadEachMinuteOnce(hours: Int) {
        for offset in stride(from: 0.0, to: 7200, by: 137) {
            let now = Self.base.addingTimeInterval(offset)
            let window = ServingWindow(lastHours: hours, now: now)
            #expect(window.start == RollupGranularity.minute.bucket(of: now).addingTimeInterval(-Double(hours * 3600 - 60)))
            var minute = window.start
            var readMinutes = 0
            while minute <= now {
                let viaMinute = window.minutes.contains(minute)
                let hour = RollupGranularity.hour.bucket(of: minute)
                let viaHour = hour >= window.hoursFrom && hour <= window.end
                #expect(viaMinute != viaHour, "minute \(minute) read \(viaMinute && viaHour ? "twice" : "never")")
                readMinutes += 1
                minute += 60
            }
            #expect(readMinutes == hours * 60)
            // An hour bucket read must lie wholly inside the window.
            if window.hoursFrom <= window.end { #expect(window.hoursFrom >= window.start) }
            #expect(window.step == (hours <= ServingWindow.minuteSeriesHours ? .minute : .hour))
        }
    }

    @Test(arguments: [1, 5, 60])
    func minuteWindowsReadOnlyMinutes(minutes: Int) {
        let now = Self.base.addingTimeInterval(90.5)
        let window = ServingWindow(lastMinutes: minutes, now: now)
        #expect(window.minutes.lowerBound == RollupGranularity.minute.bucket(of: now).addingTimeInterval(-Double((minutes - 1) * 60)))
        #expect(window.minutes.contains(RollupGranularity.minute.bucket(of: now)))
        #expect(window.hoursFrom > now)
        #expect(window.step == .minute)
    }

    @Test func accumulatorCountsEachRequestInItsMinuteAndHour() throws {
        var accumulator = RollupAccumulator()
        for (index, status) in [200, 200, 404, 503, 200].enumerated() {
            accumulator.add(Self.log(status: status, latencyMicros: Int64(1000 * (index + 1)), at: Self.base.addingTimeInterval(Double(index) * 30)))
        }
        var dropped = RequestLogsDropped()
        dropped.endpointID = "e1"
        dropped.deploymentID = "d1"
        dropped.revisionID = "r1"
        dropped.minute = Google_Protobuf_Timestamp(date: Self.base)
        dropped.count = 7
        accumulator.add(dropped)
        let hours = accumulator.cells.filter { $0.key.granularity == .hour }
        let minutes = accumulator.cells.filter { $0.key.granularity == .minute }
        #expect(hours.values.map(\.requests).reduce(0, +) == 5)
        #expect(minutes.values.map(\.requests).reduce(0, +) == 5)
        #expect(Set(minutes.keys.map(\.bucketStart)).count == 3)  // 0, 30 | 60, 90 | 120 seconds
        var total = RollupCell()
        for cell in minutes.values { total.merge(cell) }
        #expect(total.successes == 3)
        #expect(total.clientErrors == 1)
        #expect(total.serverErrors == 1)
        #expect(total.logsDropped == 7)
        #expect(total.latency.count == 5)
        #expect(total.customers.estimate == 5)
        let summary = ServingSummary(total, seconds: 300)
        #expect(summary.requests.failed == 2)
        #expect(summary.errorRate == 0.4)
        #expect(summary.serverErrorRate == 0.2)
        #expect(summary.requestsPerMinute == 1)
        #expect(!summary.complete)
        let p50 = try #require(summary.latency?.p50Ms)
        #expect(abs(p50 - 3) <= 0.03)
    }

    /// testing-svc's requests are logged, but serving figures, alerts and drift describe clients only.
    @Test func testTrafficIsLeftOutOfTheFigures() {
        var accumulator = RollupAccumulator()
        var test = Self.log(status: 200, latencyMicros: 1000, at: Self.base)
        test.traffic = .test
        accumulator.add(test)
        #expect(accumulator.cells.isEmpty && accumulator.samples.isEmpty)
        accumulator.add(Self.log(status: 200, latencyMicros: 1000, at: Self.base))
        #expect(accumulator.cells.values.map(\.requests).reduce(0, +) == 2, "a client's request, in its minute and its hour")
    }

    @Test func seriesHasAPointPerStepWithEmptyBucketsAndSumsToTheSummary() {
        let now = Self.base.addingTimeInterval(3 * 60 + 10)
        let window = ServingWindow(lastMinutes: 5, now: now)
        var accumulator = RollupAccumulator()
        accumulator.add(Self.log(status: 200, latencyMicros: 500, at: Self.base.addingTimeInterval(5)))
        accumulator.add(Self.log(status: 500, latencyMicros: 500, at: Self.base.addingTimeInterval(125)))
        var figures = ServingFiguresBuilder(window: window)
        for (key, cell) in accumulator.cells where key.granularity == .minute { figures.add(key, cell) }
        let series = figures.series
        #expect(series.count == 5)
        #expect(series.map(\.requests) == [0, 1, 0, 1, 0])
        #expect(series.map(\.requests).reduce(0, +) == figures.summary.requests.total)
        #expect(figures.byRevision.map(\.revisionId) == ["r1"])
        #expect(figures.byApiKey.first?.requests == 2)
    }

    static func log(status: Int, latencyMicros: Int64, at date: Date, customer: String? = nil) -> PredictionRequestLogged {
        var log = PredictionRequestLogged()
        log.requestID = UUID().uuidString
        log.endpointID = "e1"
        log.deploymentID = "d1"
        log.revisionID = "r1"
        log.apiKeyID = "k1"
        log.modelVersionID = "m/1"
        log.versionNumber = 1
        log.statusCode = Int32(status)
        log.latencyUs = latencyMicros
        log.upstreamLatencyUs = latencyMicros / 2
        log.receivedAt = Google_Protobuf_Timestamp(date: date)
        log.customerID = customer ?? "C\(latencyMicros)"
        log.topK = 10
        log.instanceCount = 1
        return log
    }
}
