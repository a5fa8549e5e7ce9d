import Foundation
import ServiceLifecycleTestKit
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Synchronization
import Testing

@testable import DeployCore

/// The controller as a service: it ends on graceful shutdown within a tick, its revision starts end with
/// it (recording nothing), and it stops every revision on the way out when configured.
@Suite("deployment controller lifecycle", .serialized, .timeLimit(.minutes(1)))
struct DeploymentControllerTests {
    /// A target whose starts never finish on their own (a model-server that does not get healthy).
    final class HangingTarget: ServingTarget {
        let starts = Atomic<Int>(0)
        let stopAlls = Atomic<Int>(0)

        func start(_ revision: RevisionSpec, instance: Int) async throws -> (address: String, startupMs: Int64) {
            starts.add(1, ordering: .relaxed)
            try await Task.sleep(for: .seconds(600))
            return ("http://127.0.0.1:1", 0)
        }

        func isRunning(_ revisionID: String, instance: Int) -> Bool { false }
        func runningInstances(_ revisionID: String) -> [Int] { [] }
        func stop(_ revisionID: String, instance: Int) async {}
        func stop(_ revisionID: String) async {}
        func stopAll() async { stopAlls.add(1, ordering: .relaxed) }
    }

    @Test("graceful shutdown ends the controller within a tick, cancels revision starts and stops the revisions")
    func gracefulShutdown() async throws {
        try await withTestService(try DeployService.definition(), runWorkers: false) { service in
            let version = EndpointDecider.KnownVersion(id: "m/v1", number: 1, artifactURI: "file:///nowhere", blessed: true)
            let deploy = EndpointDecider.DeployRequest(endpoint: .init(name: "shop", model: "m", createdBy: "t"), version: version, requestedBy: "t")
            try await service.environment.execute(EndpointDecider.self, aggregateID: "shop", command: .deploy(deploy), metadata: CommandMetadata())

            let target = HangingTarget()
            var settings = DeploySettings(
                routerURL: "http://127.0.0.1:1", servingRoot: URL(fileURLWithPath: "/nonexistent"),
                modelServer: URL(fileURLWithPath: "/nonexistent"), rollbackWindowSeconds: 60, readinessTimeoutSeconds: 60, stopRevisionsOnExit: true,
                controllerInterval: .milliseconds(50))
            settings.routerAdminURLs = []  // no router load to read: a step is only this service's queries
            let controller = DeploymentController(settings: settings, target: target, environment: service.environment)
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await controller.run() }
                    try await eventually(timeout: .seconds(20), "the revision's start began") { target.starts.load(ordering: .relaxed) > 0 }
                    let shutdown = ContinuousClock.now
                    trigger.triggerGracefulShutdown()
                    try await group.next()
                    // The step in progress finishes first (a few queries), then the leadership lock is released, so
                    // "within a tick" has room for a loaded machine: 3.3 s and once 6.1 s while a whole test run shared
                    // the two cores. What this guards against is waiting on the start, which would take 600 s.
                    #expect(
                        ContinuousClock.now - shutdown < .seconds(15),
                        "the controller ended \(ContinuousClock.now - shutdown) after the shutdown began")
                }
            }
            #expect(target.stopAlls.load(ordering: .relaxed) == 1)
            let events = try await service.store.events(aggregateType: EndpointDecider.aggregateType, aggregateID: "shop").map(\.eventType)
            #expect(events.contains(RevisionStarted.protoMessageName))
            #expect(!events.contains(RevisionFailed.protoMessageName), "a start cut short by shutdown is not the revision's failure: \(events)")
        }
    }
}
