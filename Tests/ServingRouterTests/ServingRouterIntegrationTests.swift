import AsyncHTTPClient
import Foundation
import HTTPTypes
import Logging
import SlipwayContracts
import SlipwayKafka
import SlipwayPlatform
import SlipwayTestSupport
import SwiftProtobuf
import Testing

@testable import ServingRouterCore

/// The router against real model-server processes, the dev broker and a stand-in deploy-svc snapshot.
@Suite("serving-router integration", .serialized, .timeLimit(.minutes(3)))
struct ServingRouterIntegrationTests {
    static let model = RouterTestEnvironment.modelName

    @Test func forwardsEachApiWithTheEndpointStrippedAndPassesUpstreamErrorsThrough() async throws {
        let server = try await ModelServerProcess.start(version: "1")
        defer { server.stop() }
        let key = TestKey()
        let name = uniqueName("strip")
        let document = RoutingDocument(endpoints: [endpointDocument(name: name, routes: [("r1", server.address, 100)])], apiKeys: [key.document()])
        try await withRouter(document) { router in
            let recommend = try await router.call("/\(name)/recommend", key: key, body: #"{"customer_id": "C1", "top_k": 3}"#)
            #expect(recommend.status == 200)
            #expect((try recommend.json()["product_ids"] as? [String])?.count == 3)
            #expect(try recommend.json()["model_version"] as? String == "1")

            let predict = try await router.call(
                "/\(name)/v1/models/\(Self.model):predict", key: key,
                body: #"{"instances": [{"customer_id": "C1"}, {"customer_id": "C2"}], "top_k": 2}"#)
            #expect(predict.status == 200)
            #expect((try predict.json()["predictions"] as? [Any])?.count == 2)

            let batch = try await router.call("/\(name)/recommend-batch", key: key, body: #"{"customers": [{"customer_id": "C3"}], "top_k": 2}"#)
            #expect(batch.status == 200)
            let metadata = try await router.call(.get, "/\(name)/v1/models/\(Self.model)", key: key)
            #expect(metadata.status == 200)
            #expect(metadata.text.contains("AVAILABLE"))
            let health = try await router.call(.get, "/\(name)/health", key: key)
            #expect(health.status == 200)
            #expect(try health.json()["model_name"] as? String == Self.model)

            // model-server's 400/404 bodies reach the caller unchanged.
            for (path, body) in [
                ("/recommend", #"{"customer_id": "C1", "top_k": 0}"#), ("/v1/models/\(Self.model):predict", #"{"instances": [{"city": "city1"}]}"#),
                ("/v1/models/other:predict", #"{"instances": [{"customer_id": "C1"}]}"#),
            ] {
                let direct = try await RouterHandle.call(server.address + path, body: body)
                let routed = try await router.call("/\(name)\(path)", key: key, body: body)
                #expect(direct.status == 400 || direct.status == 404)
                #expect(routed.status == direct.status)
                #expect(routed.text == direct.text)
            }
            let unknownRoute = try await router.call(.get, "/\(name)/v1/other", key: key)
            #expect(unknownRoute.status == 404)
        }
    }

    @Test func rejectsMissingWrongRevokedAndOtherModelsKeysWithoutDetail() async throws {
        let server = try await ModelServerProcess.start(version: "1")
        defer { server.stop() }
        let key = TestKey()
        let revoked = TestKey()
        let otherModelKey = TestKey(model: "another-model")
        let name = uniqueName("auth")
        let other = uniqueName("other")
        let document = RoutingDocument(
            endpoints: [
                endpointDocument(name: name, routes: [("r1", server.address, 100)]),
                endpointDocument(name: other, model: "another-model", routes: [("r9", server.address, 100)]),
            ],
            apiKeys: [key.document(), revoked.document(active: false, version: 2), otherModelKey.document()])
        try await withRouter(document) { router in
            let body = #"{"customer_id": "C1"}"#
            let attempts: [(String, String?)] = [
                ("missing", nil), ("wrong", "Bearer sk_test_not-a-key"), ("not bearer", key.secret), ("revoked", revoked.bearer),
                ("other model", otherModelKey.bearer),
            ]
            for (what, authorization) in attempts {
                // A valid key of another model is still a valid key: on an unknown endpoint that is a 404 (below).
                let paths =
                    what == "other model"
                    ? ["/\(name)/recommend", "/\(name)/v1/models/\(Self.model):predict"]
                    : ["/\(name)/recommend", "/no-such-endpoint/recommend"]
                for path in paths {
                    let answer = try await router.call(path, authorization: authorization ?? "", body: body)
                    #expect(answer.status == 401, "\(what) \(path)")
                    #expect(answer.text == #"{"error": "unauthorized"}"#, "\(what) \(path)")
                }
            }
            for holder in [key, otherModelKey] {
                let unknown = try await router.call("/no-such-endpoint/recommend", key: holder, body: body)
                #expect(unknown.status == 404)
                #expect(unknown.text == #"{"error": "endpoint no-such-endpoint not found"}"#)
            }
            // The other model's key does work on its own endpoint.
            #expect(try await router.call("/\(other)/recommend", key: otherModelKey, body: body).status == 200)
            #expect(try await router.call("/\(name)/recommend", key: key, body: body).status == 200)
        }
    }

    /// How long a test waits for a change that only the stream carries (the stand-in's snapshot never has it, and
    /// its resync is 30 s away). The product's figure is one second, measured by `slipway bench rollout`
    /// (`rollback_visible_ms`); a quiet machine shows 30–200 ms here (ROUTER-LIVE prints it). The whole suite
    /// starting in parallel on two cores took a change past 1 s once and past 2 s once, so the bound is wide.
    static let streamBound: Duration = .seconds(10)
    /// How long a test waits for resyncs it asked for every second. The test is about which version wins, not
    /// about speed; the whole suite in parallel on two cores once kept two resyncs from finishing in 5 s.
    static let resyncBound: Duration = .seconds(20)

    @Test func revocationAndTrafficChangesApplyFromTheStream() async throws {
        let v1 = try await ModelServerProcess.start(version: "1")
        let v2 = try await ModelServerProcess.start(version: "2")
        defer { v1.stop(); v2.stop() }
        let key = TestKey()
        let name = uniqueName("live")
        let endpoint = endpointDocument(name: name, version: 4, routes: [("r1", v1.address, 100), ("r2", v2.address, 0)])
        try await withRouter(RoutingDocument(endpoints: [endpoint], apiKeys: [key.document(version: 1)])) { router in
            try await router.waitForStream()
            #expect(try await router.servedVersion(customer: "C1", key: key, endpoint: name) == "1")

            var shifted = TrafficShifted()
            shifted.endpointID = endpoint.endpointID
            shifted.traffic = ["r2": 100]
            shifted.revisionVersions = ["r2": "\(Self.model)/r2"]
            try await DeployEvents.publish(shifted, aggregateType: "Endpoint", id: endpoint.endpointID, version: 5)
            let shiftTook = try await RouterHandle.waitUntil(timeout: Self.streamBound) {
                try await router.servedVersion(customer: "C1", key: key, endpoint: name) == "2"
            }
            print("ROUTER-LIVE traffic shift visible after \(shiftTook)")

            var undeployed = Undeployed()
            undeployed.endpointID = endpoint.endpointID
            try await DeployEvents.publish(undeployed, aggregateType: "Endpoint", id: endpoint.endpointID, version: 6)
            try await RouterHandle.waitUntil(timeout: Self.streamBound) {
                try await router.servedVersion(customer: "C1", key: key, endpoint: name) == "status 503"
            }
            let empty = try await router.call("/\(name)/recommend", key: key, body: #"{"customer_id": "C1"}"#)
            #expect(empty.text == #"{"error": "endpoint \#(name) has no serving revision"}"#)

            var revoked = ApiKeyRevoked()
            revoked.apiKeyID = key.id
            revoked.registeredModelID = Self.model
            try await DeployEvents.publish(revoked, aggregateType: "ApiKey", id: key.id, version: 2)
            let revokeTook = try await RouterHandle.waitUntil(timeout: Self.streamBound) {
                try await router.call("/\(name)/recommend", key: key, body: #"{"customer_id": "C1"}"#).status == 401
            }
            print("ROUTER-LIVE revocation visible after \(revokeTook)")

            // The admin view of the table shows what the stream changed.
            let routing = try await router.adminGet("/internal/routing")
            let keys = try routing.json()["api_keys"] as? [[String: Any]] ?? []
            #expect(keys.first { $0["api_key_id"] as? String == key.id }?["active"] as? Bool == false)
            let endpoints = try routing.json()["endpoints"] as? [[String: Any]] ?? []
            #expect(endpoints.first { $0["endpoint_id"] as? String == endpoint.endpointID }?["version"] as? Int == 6)
        }
    }

    /// The stream starts at the latest offset, so an event published after the first snapshot and before the stream
    /// joined reaches the router in neither; the router takes another snapshot once the stream has joined. Here the key
    /// is made right after the first snapshot is served and no event is published, so only that snapshot brings it,
    /// whenever the stream joins (before the first snapshot, its join's resync still waits for the next).
    @Test func aKeyCreatedWhileTheStreamJoinsIsServedWithoutWaitingForTheResync() async throws {
        let server = try await ModelServerProcess.start(version: "1")
        defer { server.stop() }
        let key = TestKey()
        let name = uniqueName("gap")
        let endpoint = endpointDocument(name: name, routes: [("r1", server.address, 100)])
        try await withRouter(
            RoutingDocument(endpoints: [endpoint], apiKeys: []),
            afterFirstSnapshot: RoutingDocument(endpoints: [endpoint], apiKeys: [key.document()]), configure: { $0.resyncSeconds = 600 }
        ) { router in
            try await RouterHandle.waitUntil(timeout: Self.resyncBound) {
                try await router.call("/\(name)/recommend", key: key, body: #"{"customer_id": "C1"}"#).status == 200
            }
            let joined = router.router.parts.sync.streamAssigned.load(ordering: .relaxed)
            #expect(joined && router.deploy.routingFetches.load(ordering: .relaxed) >= 2)
        }
    }

    @Test func olderSnapshotDoesNotUndoANewerStreamEvent() async throws {
        let v1 = try await ModelServerProcess.start(version: "1")
        let v2 = try await ModelServerProcess.start(version: "2")
        defer { v1.stop(); v2.stop() }
        let key = TestKey()
        let name = uniqueName("order")
        let endpoint = endpointDocument(name: name, version: 5, routes: [("r1", v1.address, 100), ("r2", v2.address, 0)])
        try await withRouter(RoutingDocument(endpoints: [endpoint], apiKeys: [key.document()]), configure: { $0.resyncSeconds = 1 }) { router in
            try await router.waitForStream()
            var shifted = TrafficShifted()
            shifted.endpointID = endpoint.endpointID
            shifted.traffic = ["r2": 100]
            try await DeployEvents.publish(shifted, aggregateType: "Endpoint", id: endpoint.endpointID, version: 6)
            try await RouterHandle.waitUntil(timeout: Self.streamBound) {  // the bound the live-stream test uses, for the same reason
                try await router.servedVersion(customer: "C1", key: key, endpoint: name) == "2"
            }
            // deploy-svc's snapshot still says version 5 (r1); two more resyncs must not move traffic back.
            let fetches = router.deploy.routingFetches.load(ordering: .relaxed)
            try await RouterHandle.waitUntil(timeout: Self.resyncBound) { router.deploy.routingFetches.load(ordering: .relaxed) >= fetches + 2 }
            #expect(try await router.servedVersion(customer: "C1", key: key, endpoint: name) == "2")
            // A snapshot that is newer wins.
            var newer = endpoint
            newer.version = 7
            router.deploy.document.withLock { $0.endpoints = [newer] }
            try await RouterHandle.waitUntil(timeout: Self.resyncBound) {
                try await router.servedVersion(customer: "C1", key: key, endpoint: name) == "1"
            }
        }
    }

    @Test func splitIsStickyPerCustomerWithAboutTheConfiguredShares() async throws {
        let v1 = try await ModelServerProcess.start(version: "1")
        let v2 = try await ModelServerProcess.start(version: "2")
        defer { v1.stop(); v2.stop() }
        let key = TestKey()
        let name = uniqueName("split")
        let endpoint = endpointDocument(name: name, routes: [("r1", v1.address, 70), ("r2", v2.address, 30)])
        try await withRouter(RoutingDocument(endpoints: [endpoint], apiKeys: [key.document()])) { router in
            var toV1 = 0
            for customer in 0..<200 {
                let id = "C\(customer)"
                let first = try await router.servedVersion(customer: id, key: key, endpoint: name)
                let second = try await router.servedVersion(customer: id, key: key, endpoint: name)
                #expect(first == second, "customer \(id) moved")
                #expect(first == (TrafficSplit.bucket(for: id) < 70 ? "1" : "2"), "customer \(id)")
                if first == "1" { toV1 += 1 }
            }
            #expect((120...160).contains(toV1), "r1 (70%) served \(toV1) of 200 customers")
        }
    }

    @Test func deadRevisionFailsOverAndStatsCountRequestsAndErrors() async throws {
        let v1 = try await ModelServerProcess.start(version: "1")
        let v2 = try await ModelServerProcess.start(version: "2")
        defer { v2.stop() }
        let key = TestKey()
        let name = uniqueName("dying")
        let solo = uniqueName("solo")
        let endpoint = endpointDocument(name: name, routes: [("r1", v1.address, 50), ("r2", v2.address, 50)])
        let soloEndpoint = endpointDocument(name: solo, routes: [("r3", v1.address, 100)])
        try await withRouter(RoutingDocument(endpoints: [endpoint, soloEndpoint], apiKeys: [key.document()])) { router in
            for customer in 0..<10 { #expect(try await router.servedVersion(customer: "C\(customer)", key: key, endpoint: solo) == "1") }
            v1.stop()
            // During a rollback a revision dies: its customers are served by the other one, no errors.
            for customer in 0..<20 {
                #expect(try await router.servedVersion(customer: "C\(customer)", key: key, endpoint: name) == "2")
            }
            // With no other revision to try: 502.
            for customer in 0..<5 {
                let answer = try await router.call("/\(solo)/recommend", key: key, body: #"{"customer_id": "C\#(customer)"}"#)
                #expect(answer.status == 502)
            }
            let stats = try await router.adminGet("/internal/stats?window_seconds=60")
            let revisions = try stats.json()["revisions"] as? [[String: Any]] ?? []
            let r3 = revisions.first { $0["revision_id"] as? String == "r3" }
            #expect(r3?["requests"] as? Int == 15)
            #expect(r3?["errors"] as? Int == 5)
            #expect(abs((r3?["error_rate"] as? Double ?? 0) - 5.0 / 15.0) < 0.001)
            #expect((r3?["p50_ms"] as? Double ?? 0) > 0)
            #expect((r3?["p99_ms"] as? Double ?? 0) >= (r3?["p50_ms"] as? Double ?? 0))
            #expect(r3?["endpoint_id"] as? String == soloEndpoint.endpointID)
            let r2 = revisions.first { $0["revision_id"] as? String == "r2" }
            #expect(r2?["errors"] as? Int == 0)
            #expect((r2?["requests"] as? Int ?? 0) >= 10)
            #expect(try await router.adminGet("/internal/stats?window_seconds=0").status == 400)
        }
    }

    @Test func notLoadedIsUnavailableUntilTheSnapshotArrives() async throws {
        let server = try await ModelServerProcess.start(version: "1")
        defer { server.stop() }
        let key = TestKey()
        let name = uniqueName("late")
        try await withRouter(
            RoutingDocument(endpoints: [endpointDocument(name: name, routes: [("r1", server.address, 100)])], apiKeys: [key.document()]),
            waitForLoad: false, initialRoutingStatus: 503
        ) { router in
            // deploy-svc is not answering yet: everything is 503 (the key cannot even be checked), health too.
            try await RouterHandle.waitUntil { router.deploy.routingFetches.load(ordering: .relaxed) >= 1 }
            let early = try await router.call("/\(name)/recommend", key: key, body: #"{"customer_id": "C1"}"#)
            #expect(early.status == 503)
            #expect(try await router.adminGet("/health").status == 503)
            router.deploy.routingStatus.withLock { $0 = 200 }
            try await RouterHandle.waitUntil(timeout: .seconds(10)) { try await router.adminGet("/health").status == 200 }
            let health = try await router.adminGet("/health").json()
            #expect(health["loaded"] as? Bool == true)
            #expect(health["endpoints"] as? Int == 1)
            #expect(health["api_keys"] as? Int == 1)
            #expect(try await router.call("/\(name)/recommend", key: key, body: #"{"customer_id": "C1"}"#).status == 200)
        }
    }

    @Test func requestLogsArriveWithTheRequestsFields() async throws {
        let server = try await ModelServerProcess.start(version: "1")
        defer { server.stop() }
        let key = TestKey()
        let name = uniqueName("logs")
        let endpoint = endpointDocument(name: name, routes: [("r1", server.address, 100)])
        let requests: @Sendable (RouterHandle) async throws -> Void = { router in
            let first = try await router.call(
                "/\(name)/recommend", key: key, body: #"{"customer_id": "C5", "top_k": 4, "features": {"city": "city2"}}"#)
            #expect(first.status == 200)
            let second = try await router.call(
                "/\(name)/v1/models/\(Self.model):predict", key: key,
                body: #"{"instances": [{"customer_id": "C1", "segment": "horeca"}, {"customer_id": "C2"}], "top_k": 2}"#)
            #expect(second.status == 200)
            let third = try await router.call("/\(name)/recommend", authorization: "Bearer nope", body: #"{"customer_id": "C9"}"#)
            #expect(third.status == 401)
            let fourth = try await router.call("/\(name)/recommend", key: key, body: #"{"customer_id": "C1", "top_k": 0}"#)
            #expect(fourth.status == 400)
        }
        try await withRouter(RoutingDocument(endpoints: [endpoint], apiKeys: [key.document()]), requests)
        let logs = try await servingEnvelopes(endpointID: endpoint.endpointID, count: 4).map { envelope in
            (envelope, try envelope.payload(as: PredictionRequestLogged.self))
        }
        #expect(logs.count == 4)
        guard logs.count == 4 else { return }
        let (envelope, recommend) = logs[0]
        #expect(envelope.aggregateType == "Endpoint")
        #expect(envelope.aggregateVersion == 0)
        #expect(envelope.sourceService == "serving-router")
        #expect(envelope.sourcePosition > 0)
        #expect(envelope.eventType == PredictionRequestLogged.protoMessageName)
        #expect(UUID(uuidString: envelope.eventID) != nil)
        #expect(!recommend.requestID.isEmpty)
        #expect(recommend.endpointName == name)
        #expect(recommend.deploymentID == "dep-r1")
        #expect(recommend.revisionID == "r1")
        #expect(recommend.registeredModelID == Self.model)
        #expect(recommend.modelVersionID == "\(Self.model)/r1")
        #expect(recommend.versionNumber == 1)
        #expect(recommend.apiKeyID == key.id)
        #expect(recommend.api == .recommend)
        #expect(recommend.statusCode == 200)
        #expect(recommend.customerID == "C5")
        #expect(recommend.topK == 4)
        #expect(recommend.instanceCount == 1)
        #expect(recommend.instances.first?.features["city"]?.stringValue == "city2")
        #expect(recommend.productIds.count == 4)
        #expect(recommend.latencyUs >= recommend.upstreamLatencyUs)
        #expect(recommend.upstreamLatencyUs > 0)
        #expect(recommend.hasReceivedAt)

        let predict = logs[1].1
        #expect(predict.api == .predict)
        #expect(predict.instanceCount == 2)
        #expect(predict.instances.count == 2)
        #expect(predict.instances[0].features["segment"]?.stringValue == "horeca")
        #expect(predict.customerID == "C1")
        #expect(predict.productIds.count == 2)

        let rejected = logs[2].1
        #expect(rejected.statusCode == 401)
        #expect(rejected.apiKeyID.isEmpty)
        #expect(rejected.revisionID.isEmpty)
        #expect(rejected.error == "unauthorized")
        #expect(rejected.customerID == "C9")

        let bad = logs[3].1
        #expect(bad.statusCode == 400)
        #expect(bad.revisionID == "r1")
        #expect(!bad.error.isEmpty)
        #expect(bad.productIds.isEmpty)
        #expect(logs.map(\.0.sourcePosition) == logs.map(\.0.sourcePosition).sorted())
    }

    @Test func fullLogBufferDropsAndCountsWithoutFailingRequests() async throws {
        let server = try await ModelServerProcess.start(version: "1")
        defer { server.stop() }
        let key = TestKey()
        let name = uniqueName("drop")
        let document = RoutingDocument(endpoints: [endpointDocument(name: name, routes: [("r1", server.address, 100)])], apiKeys: [key.document()])
        // No broker at all: the producer cannot deliver, the buffer of 5 fills and the rest is dropped.
        try await withRouter(document, kafkaBrokers: "127.0.0.1:1", configure: { $0.logBuffer = 5 }) { router in
            for customer in 0..<40 {
                #expect(try await router.call("/\(name)/recommend", key: key, body: #"{"customer_id": "C\#(customer)"}"#).status == 200)
            }
            let health = try await router.adminGet("/health").json()
            let logs = health["request_logs"] as? [String: Any] ?? [:]
            let dropped = logs["dropped"] as? Int ?? 0
            #expect(dropped >= 30, "dropped \(dropped): \(logs)")
            #expect(logs["sent"] as? Int == 0)
            let metrics = try await router.adminGet("/metrics").text
            #expect(metrics.contains("slipway_router_request_logs_dropped_total"))
        }
    }

    @Test func droppedLogsAreReportedPerEndpointMinuteAndReason() async throws {
        let endpointID = "ep-\(uniqueName("dropped"))"
        let buffer = RequestLogBuffer(capacity: 1)
        let minute = Date(timeIntervalSince1970: 1_800_000_000)
        for second in [1.0, 2, 3] {
            buffer.append(
                RequestLogRecord(
                    requestID: "r\(second)", endpointID: endpointID, endpointName: "n", api: .recommend, receivedAt: minute + second, status: 200))
        }
        buffer.droppedTally.record(
            RequestLogRecord(requestID: "x", endpointID: endpointID, endpointName: "n", api: .recommend, receivedAt: minute + 61, status: 200),
            reason: .deliveryFailed)
        #expect(buffer.dropped.load(ordering: .relaxed) == 2)
        let brokers = TestInfrastructure.shared.kafkaBrokers
        let shipper = RequestLogShipper(buffer: buffer, sampleInstances: 1, logger: RouterTestEnvironment.logger) {
            try KafkaProducer(
                configuration: KafkaProducerConfiguration(bootstrapServers: brokers, clientId: "drop-test"), logger: RouterTestEnvironment.logger)
        }
        let producer = try shipper.makeProducer()
        await shipper.reportDrops(with: producer)
        await producer.shutdown()
        let reports = try await servingEnvelopes(endpointID: endpointID, count: 2).map { try $0.payload(as: RequestLogsDropped.self) }
            .sorted { $0.minute.seconds < $1.minute.seconds }
        #expect(reports.map(\.count) == [2, 1])
        #expect(reports.map(\.reason) == ["buffer_full", "delivery_failed"])
        #expect(reports.map { $0.minute.seconds } == [1_800_000_000, 1_800_000_060])
        #expect(buffer.droppedTally.takeAll().isEmpty)
    }

    @Test func keyUsageIsReportedAndKeptAcrossAFailedReport() async throws {
        let server = try await ModelServerProcess.start(version: "1")
        defer { server.stop() }
        let key = TestKey()
        let name = uniqueName("usage")
        let endpoint = endpointDocument(name: name, routes: [("r1", server.address, 100)])
        try await withRouter(RoutingDocument(endpoints: [endpoint], apiKeys: [key.document()]), configure: { $0.usageIntervalSeconds = 1 }) {
            router in
            router.deploy.usageStatus.withLock { $0 = 500 }
            for customer in 0..<3 { _ = try await router.call("/\(name)/recommend", key: key, body: #"{"customer_id": "C\#(customer)"}"#) }
            try await Task.sleep(for: .milliseconds(1500))  // at least one report fails
            _ = try await router.call("/\(name)/recommend", authorization: "Bearer wrong", body: #"{"customer_id": "C1"}"#)  // not counted
            router.deploy.usageStatus.withLock { $0 = 200 }
            try await RouterHandle.waitUntil(timeout: .seconds(5)) { !router.deploy.usageReports.withLock { $0.isEmpty } }
            let entries = router.deploy.usageReports.withLock { $0 }.flatMap(\.usage)
            #expect(entries.count == 1)
            #expect(entries.first?.apiKeyID == key.id)
            #expect(entries.first?.endpointID == endpoint.endpointID)
            #expect(entries.first?.requestCount == 3)
            #expect(ISO8601DateFormatter.withFraction.date(from: entries.first?.lastUsedAt ?? "") != nil)
        }
    }
}

extension ISO8601DateFormatter {
    static var withFraction: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
