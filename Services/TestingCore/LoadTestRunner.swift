import Foundation
import Logging
import RecommenderKit
import ServiceLifecycle
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayLoadGenerator
import SlipwayPlatform
import Synchronization

/// Runs load tests (the spec's Phase 5): the route records the start and hands the test over; this worker builds the
/// requests from the training data (as an endpoint test does), sends them through serving-router with testing-svc's
/// key marked as load-test traffic, and records the end with what was measured — completed, cancelled, or failed
/// with why. A cancel reaches the generator within a second: at once in this process, by the store's state from
/// another replica. Graceful shutdown cancels the running tests and records their ends before the worker returns.
final class LoadTestRunner: Service, Sendable {
    let tests: EndpointTests
    private let queue = Mutex<[LoadTestStarted]>([])
    private let wakeSignal = WakeSignal()
    /// The tests running here: their generator (for progress) and whether they were asked to stop.
    private let running = Mutex<[String: Running]>([:])
    private let stopping = Atomic(false)

    struct Running: Sendable {
        var generator: LoadGenerator?
        var stop = false
    }

    init(tests: EndpointTests) { self.tests = tests }

    func enqueue(_ started: LoadTestStarted) {
        queue.withLock { $0.append(started) }
        wakeSignal.signal()
    }

    /// Asks a test running here to stop; false when it does not run here.
    @discardableResult
    func stop(_ id: String) -> Bool {
        running.withLock { running in
            guard running[id] != nil else { return false }
            running[id]?.stop = true
            return true
        }
    }

    /// How far a test running here has got.
    func progress(_ id: String) -> LoadProgress? { running.withLock { $0[id]?.generator?.progress } }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !stopping.load(ordering: .relaxed) {
                for started in queue.withLock({ queue in
                    defer { queue = [] }; return queue
                }) {
                    running.withLock { $0[started.loadTestID] = Running() }
                    group.addTask { await self.execute(started) }
                }
                await withGracefulShutdownHandler {
                    await wakeSignal.wait(upTo: .seconds(1))
                } onGracefulShutdown: {
                    self.stopping.store(true, ordering: .relaxed)
                    self.running.withLock { running in for id in running.keys { running[id]?.stop = true } }
                    self.wakeSignal.signal()
                }
            }
            // The group waits for the running tests, which stop within 100 ms and record their ends.
        }
    }

    func execute(_ started: LoadTestStarted) async {
        defer { running.withLock { _ = $0.removeValue(forKey: started.loadTestID) } }
        let (outcome, report, error) = await measure(started)
        do {
            try await tests.environment.execute(
                LoadTestDecider.self, aggregateID: started.endpointName,
                command: .finish(id: started.loadTestID, outcome, report: report, error: error),
                metadata: CommandMetadata(causationID: "load-test", actor: "load-test-runner"))
        } catch {
            tests.environment.logger.warning(
                "load test did not record its end", metadata: [LogKey.aggregateID: "\(started.loadTestID)", LogKey.error: "\(error)"])
        }
    }

    func measure(_ started: LoadTestStarted) async -> (LoadTestOutcome, LoadReport?, String) {
        let plan: LoadPlan
        do { plan = try await self.plan(started) } catch { return (.failed, nil, "\(error)") }
        let generator = LoadGenerator(plan: plan)
        running.withLock { $0[started.loadTestID]?.generator = generator }
        return await withTaskGroup(of: Ending.self) { group in
            group.addTask {
                do { return .measured(try await generator.run()) } catch { return .failed("\(error)") }
            }
            group.addTask { await self.waitForStop(started) }
            var stopReason: String?
            while let ending = await group.next() {
                switch ending {
                case .stop(let reason):
                    stopReason = reason
                    group.cancelAll()  // the generator ends within 100 ms with what it measured until now
                case .measured(let report):
                    group.cancelAll()
                    if let stopReason { return (.cancelled, report, stopReason) }
                    return (.completed, report, "")
                case .failed(let reason):
                    group.cancelAll()
                    return (.failed, nil, reason)
                }
            }
            return (.failed, nil, "the load generator ended without a report")
        }
    }

    enum Ending: Sendable {
        case measured(LoadReport)
        case failed(String)
        case stop(reason: String)
    }

    /// Returns when the test is asked to stop: here (a cancel on this replica, shutdown) within 10 ms (a lock read
    /// per tick; the cancel's one-second promise has little room to spare on a loaded machine), or by a cancel
    /// recorded by another replica, read from the store every second. Never returns otherwise until cancelled.
    func waitForStop(_ started: LoadTestStarted) async -> Ending {
        var ticks = 0
        while !Task.isCancelled {
            if running.withLock({ $0[started.loadTestID]?.stop ?? false }) {
                return .stop(reason: stopping.load(ordering: .relaxed) ? "testing-svc stopped" : "cancelled")
            }
            ticks += 1
            if ticks % 100 == 0,
                let state = try? await tests.environment.store.state(LoadTestDecider.self, aggregateID: started.endpointName),
                state.cancelRequested, state.running?.loadTestID == started.loadTestID
            {
                return .stop(reason: "cancelled")
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return .stop(reason: "cancelled")
    }

    /// The requests: one `:predict` per sample of the training data, through serving-router with testing-svc's key.
    func plan(_ started: LoadTestStarted) async throws -> LoadPlan {
        let bundle = URL(fileURLWithPath: started.artifactUri)
        let samples = try tests.samples(bundle: bundle, count: Int(started.params.sampleCount), seed: started.params.seed)
        guard let url = URL(string: tests.settings.routerURL), let host = url.host else {
            throw EndpointTests.Unrunnable("the router URL \(tests.settings.routerURL) has no host")
        }
        let key: String
        do { key = try await tests.keys.key(model: started.modelName) } catch {
            throw EndpointTests.Unrunnable("no API key to test with: \(error)")
        }
        let path = "\(url.path)/\(started.endpointName)/v1/models/\(started.modelName):predict"
        let requests = samples.instances.map { instance in
            LoadPlan.Request(
                path: path, headers: [("Authorization", "Bearer \(key)"), ("X-Slipway-Load-Test", started.loadTestID), ("Host", host)],
                body: EndpointTestRunner.predictBody([instance], topK: Int(started.params.topK)))
        }
        return LoadPlan(
            host: host, port: url.port ?? 80, requests: requests, connections: Int(started.params.concurrency),
            targetRPS: started.params.targetRps > 0 ? Int(started.params.targetRps) : nil, duration: .seconds(Int(started.params.durationSeconds)),
            requestTimeout: .milliseconds(Int(started.params.requestTimeoutMs)))
    }

}
