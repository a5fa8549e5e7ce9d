import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayStatistics
import SwiftProtobuf
import Testing

@testable import ServingRouterCore

@Suite("Traffic split")
struct TrafficSplitTests {
    func route(_ id: String, _ percent: Int) -> TrafficSplit.Route {
        TrafficSplit.Route(
            revisionID: id, deploymentID: "d", instances: [UpstreamInstance(address: "http://\(id)")], modelVersionID: "m/\(id)", versionNumber: 1,
            percent: percent)
    }

    @Test func fnv1aMatchesTheReferenceVectors() {
        #expect(StableHash.fnv1a64("") == 0xcbf2_9ce4_8422_2325)
        #expect(StableHash.fnv1a64("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(StableHash.fnv1a64("foobar") == 0x8594_4171_f739_67e8)
    }

    @Test(arguments: [(0, "r1"), (89, "r1"), (90, "r2"), (99, "r2")])
    func bucketsWalkCumulativeSharesInRevisionOrder(bucket: Int, expected: String) {
        let split = TrafficSplit([route("r2", 10), route("r1", 90)])  // given out of order
        #expect(split.routes.map(\.revisionID) == ["r1", "r2"])
        #expect(split.routes[split.index(forBucket: bucket)!].revisionID == expected)
    }

    @Test func sameCustomerAlwaysGetsTheSameRevisionAndSharesAreAboutRight() {
        let split = TrafficSplit([route("a", 90), route("b", 10)])
        var counts = [0, 0]
        for customer in 0..<10_000 {
            let first = split.index(forCustomer: "C\(customer)")!
            #expect(split.index(forCustomer: "C\(customer)") == first)
            counts[first] += 1
        }
        #expect((8_700...9_300).contains(counts[0]), "a got \(counts[0]) of 10000")
    }

    @Test func sharesNotAddingUpTo100AreScaledOntoTheTotal() {
        let split = TrafficSplit([route("a", 30), route("b", 30)])  // a third revision was left out (not ready)
        #expect(split.total == 60)
        #expect(split.index(forBucket: 0) == 0)
        #expect(split.index(forBucket: 49) == 0)
        #expect(split.index(forBucket: 50) == 1)
        #expect(split.index(forBucket: 99) == 1)
    }

    @Test func emptySplitHasNoRouteAndFallbackNeedsAnotherRevision() {
        #expect(TrafficSplit([]).index(forCustomer: "C1") == nil)
        #expect(TrafficSplit([route("a", 100)]).fallback(after: 0) == nil)
        #expect(TrafficSplit([route("a", 50), route("b", 50)]).fallback(after: 1) == 0)
    }
}

@Suite("Routing state: snapshot and stream merge by aggregate version")
struct RoutingStateTests {
    func snapshot(endpointVersion: Int64, traffic: [(String, Int)], keyVersion: Int64 = 1, keyActive: Bool = true) -> RoutingDocument {
        RoutingDocument(
            endpoints: [
                RoutingDocument.Endpoint(
                    endpointID: "e1", name: "b2b-prod", modelName: "b2b", version: endpointVersion,
                    routes: traffic.map { .init(revisionID: $0.0, deploymentID: "d-\($0.0)", address: "http://\($0.0)", percent: $0.1) })
            ],
            apiKeys: [RoutingDocument.ApiKey(apiKeyID: "k1", modelName: "b2b", keySha256: "ab", active: keyActive, version: keyVersion)])
    }

    func shift(_ traffic: [String: Int32]) -> TrafficShifted {
        var event = TrafficShifted()
        event.endpointID = "e1"
        event.traffic = traffic
        return event
    }

    func revoked() -> ApiKeyRevoked {
        var event = ApiKeyRevoked()
        event.apiKeyID = "k1"
        return event
    }

    func traffic(_ state: RoutingState) -> [String: Int32] { state.endpoints["e1"]?.state.traffic ?? [:] }

    /// A testing key's requests are logged as test traffic, whether the router learned the key from a snapshot or an event.
    @Test func aTestingKeysRequestsAreTestTraffic() {
        var state = RoutingState()
        var document = snapshot(endpointVersion: 1, traffic: [("r1", 100)])
        document.apiKeys[0].purpose = "testing"
        state.merge(document, startedAt: 0)
        #expect(RoutingTable(state).keysBySha256["ab"]?.traffic == .test)
        var created = ApiKeyCreated()
        created.apiKeyID = "k2"
        created.registeredModelID = "b2b"
        created.keySha256 = "cd"
        _ = state.apply(aggregateType: "ApiKey", aggregateID: "k2", version: 1, event: .apiKeyCreated(created))
        #expect(RoutingTable(state).keysBySha256["cd"]?.traffic == .client)
        #expect(RoutingState.state(of: document.apiKeys[0], expiresAt: nil).created?.purpose == .testing)
    }

    @Test func newerEventAppliesOnTopOfSnapshotAndOlderOrDuplicateIsIgnored() {
        var state = RoutingState()
        state.merge(snapshot(endpointVersion: 5, traffic: [("r1", 100), ("r2", 0)]), startedAt: 0)
        #expect(state.apply(aggregateType: "Endpoint", aggregateID: "e1", version: 6, event: .trafficShifted(shift(["r2": 100]))) == .applied)
        #expect(traffic(state) == ["r2": 100])
        #expect(state.apply(aggregateType: "Endpoint", aggregateID: "e1", version: 6, event: .trafficShifted(shift(["r1": 100]))) == .stale)
        #expect(state.apply(aggregateType: "Endpoint", aggregateID: "e1", version: 4, event: .trafficShifted(shift(["r1": 100]))) == .stale)
        #expect(traffic(state) == ["r2": 100])
        #expect(state.apply(aggregateType: "Endpoint", aggregateID: "e1", version: 9, event: .trafficShifted(shift(["r1": 100]))) == .appliedAfterGap)
    }

    @Test func olderSnapshotDoesNotUndoNewerEventsButKeepsItsOwnFields() {
        var state = RoutingState()
        // The stream is first: the endpoint is known only from a TrafficShifted and a revocation.
        #expect(state.apply(aggregateType: "Endpoint", aggregateID: "e1", version: 6, event: .trafficShifted(shift(["r2": 100]))) == .appliedAfterGap)
        _ = state.apply(aggregateType: "ApiKey", aggregateID: "k1", version: 2, event: .apiKeyRevoked(revoked()))
        let started = state.generation
        state.merge(snapshot(endpointVersion: 5, traffic: [("r1", 100), ("r2", 0)]), startedAt: started)
        let endpoint = state.endpoints["e1"]!
        #expect(endpoint.version == 6)
        #expect(endpoint.state.traffic == ["r2": 100])
        #expect(endpoint.state.name == "b2b-prod")  // from the snapshot, which the event alone did not carry
        #expect(endpoint.state.revisions["r2"]?.address == "http://r2")
        #expect(state.apiKeys["k1"]?.state.isActive == false)
        #expect(RoutingTable(state).keysBySha256.isEmpty)
        #expect(RoutingTable(state).endpointsByName["b2b-prod"]?.split.routes.map(\.revisionID) == ["r2"])
    }

    @Test func newerSnapshotReplacesState() {
        var state = RoutingState()
        _ = state.apply(aggregateType: "Endpoint", aggregateID: "e1", version: 6, event: .trafficShifted(shift(["r2": 100])))
        state.merge(snapshot(endpointVersion: 8, traffic: [("r1", 60), ("r2", 40)]), startedAt: state.generation)
        #expect(traffic(state) == ["r1": 60, "r2": 40])
        #expect(state.endpoints["e1"]?.version == 8)
        #expect(state.apply(aggregateType: "Endpoint", aggregateID: "e1", version: 7, event: .trafficShifted(shift(["r1": 100]))) == .stale)
    }

    @Test func aggregatesMissingFromSnapshotAreDroppedUnlessChangedWhileItWasFetched() {
        var state = RoutingState()
        state.merge(snapshot(endpointVersion: 5, traffic: [("r1", 100)]), startedAt: 0)
        let started = state.generation
        var created = EndpointCreated()
        created.endpointID = "e2"
        created.name = "fresh"
        created.registeredModelID = "b2b"
        _ = state.apply(aggregateType: "Endpoint", aggregateID: "e2", version: 1, event: .endpointCreated(created))
        state.merge(RoutingDocument(), startedAt: started)
        #expect(state.endpoints["e1"] == nil)  // deleted while we were not looking
        #expect(state.endpoints["e2"]?.state.name == "fresh")  // created after the snapshot was taken
        #expect(state.apiKeys.isEmpty)
    }

    @Test func lifecycleEventsBuildAServableEndpoint() {
        var state = RoutingState()
        state.merge(RoutingDocument(), startedAt: 0)
        var created = EndpointCreated()
        created.endpointID = "e1"; created.name = "ep"; created.registeredModelID = "b2b"
        var started = RevisionStarted()
        started.endpointID = "e1"; started.revisionID = "r1"; started.deploymentID = "d1"; started.modelVersionID = "b2b/v1";
        started.versionNumber = 1
        var ready = RevisionReady()
        ready.endpointID = "e1"; ready.revisionID = "r1"; ready.address = "http://127.0.0.1:1"
        var shifted = shift(["r1": 100])
        shifted.revisionVersions = ["r1": "b2b/v1"]
        for (version, event) in [
            (1, .endpointCreated(created)), (2, .revisionStarted(started)), (3, .revisionReady(ready)), (4, .trafficShifted(shifted)),
        ]
            as [(Int64, DeployEvent)]
        {
            #expect(state.apply(aggregateType: "Endpoint", aggregateID: "e1", version: version, event: event) == .applied)
        }
        var table = RoutingTable(state)
        let route = table.endpointsByName["ep"]!.split.routes[0]
        #expect(route.revisionID == "r1" && route.deploymentID == "d1" && route.instances.map(\.address) == ["http://127.0.0.1:1"])
        #expect(route.modelVersionID == "b2b/v1" && route.versionNumber == 1 && route.percent == 100)

        _ = state.apply(aggregateType: "Endpoint", aggregateID: "e1", version: 5, event: .undeployed(Undeployed()))
        table = RoutingTable(state)
        #expect(table.endpointsByName["ep"]!.split.isEmpty)

        var stopped = RevisionStopped()
        stopped.revisionID = "r1"
        _ = state.apply(aggregateType: "Endpoint", aggregateID: "e1", version: 6, event: .revisionStopped(stopped))
        #expect(state.document.endpoints.first { $0.endpointID == "e1" }?.routes.isEmpty == true, "a stopped revision is no route")
        _ = state.apply(aggregateType: "Endpoint", aggregateID: "e1", version: 7, event: .endpointDeleted(EndpointDeleted()))
        table = RoutingTable(state)
        #expect(table.endpointsByName["ep"] == nil)
        // An older snapshot that still lists the endpoint does not bring it back.
        state.merge(snapshot(endpointVersion: 4, traffic: [("r1", 100)]), startedAt: state.generation)
        #expect(RoutingTable(state).endpointsByName["b2b-prod"] == nil)
    }

    @Test func eventsOfOtherAggregatesAndTypesAreIgnored() {
        var state = RoutingState()
        #expect(state.apply(aggregateType: "Deployment", aggregateID: "x", version: 1, event: .trafficShifted(shift([:]))) == .ignored)
        #expect(state.apply(aggregateType: "ApiKey", aggregateID: "k", version: 1, event: .trafficShifted(shift([:]))) == .ignored)
    }
}

@Suite("Revision stats window")
struct RevisionStatsTests {
    @Test func countsErrorsAndPercentilesOverTheWindowOnly() {
        let stats = RevisionStats()
        let now: Int64 = 1_000_000
        for i in 0..<98 {
            stats.record(revisionID: "r1", endpointID: "e1", latencyMicros: 1_000 + Int64(i), isError: false, second: now - Int64(i % 10))
        }
        stats.record(revisionID: "r1", endpointID: "e1", latencyMicros: 200_000, isError: true, second: now)
        stats.record(revisionID: "r1", endpointID: "e1", latencyMicros: 200_000, isError: true, second: now)
        stats.record(revisionID: "r1", endpointID: "e1", latencyMicros: 5_000, isError: false, second: now - 120)  // outside 60 s
        stats.record(revisionID: "r2", endpointID: "e1", latencyMicros: 5_000, isError: false, second: now - 120)
        let summaries = stats.summaries(windowSeconds: 60, now: now)
        #expect(summaries.map(\.revisionID) == ["r1"])
        let r1 = summaries[0]
        #expect(r1.requests == 100)
        #expect(r1.errors == 2)
        #expect(r1.errorRate == 0.02)
        #expect(abs(r1.p50Ms - 1.0) < 0.1, "p50 \(r1.p50Ms)")
        #expect(abs(r1.p99Ms - 200) < 20, "p99 \(r1.p99Ms)")
        #expect(stats.summaries(windowSeconds: 600, now: now).map(\.requests) == [101, 1])
    }

    @Test func histogramBucketsAreWithinFifteenPercent() {
        for micros: Int64 in [60, 300, 1_000, 12_345, 2_000_000] {
            let millis = RevisionStats.bucketMillis(RevisionStats.histogramIndex(micros: micros))
            #expect(abs(millis * 1000 - Double(micros)) / Double(micros) < 0.15)
        }
    }
}

@Suite("Request parsing")
struct RequestParsingTests {
    @Test(arguments: [
        ("POST", "/ep/v1/models/b2b:predict", "ep", "/v1/models/b2b:predict", ServingApi.predict, true),
        ("GET", "/ep/v1/models/b2b", "ep", "/v1/models/b2b", .metadata, true),
        ("POST", "/ep/recommend", "ep", "/recommend", .recommend, true),
        ("POST", "/ep/recommend-batch", "ep", "/recommend-batch", .recommendBatch, true),
        ("GET", "/ep/health", "ep", "/health", .unspecified, true),
        ("GET", "/ep/recommend", "ep", "/recommend", .unspecified, false),
        ("POST", "/ep/v1/models/b2b:explain", "ep", "/v1/models/b2b:explain", .unspecified, false),
        ("GET", "/ep", "ep", "/", .unspecified, false),
        ("POST", "/ep/v1/models/:predict", "ep", "/v1/models/:predict", .unspecified, false),
        ("GET", "/ep/v1/models/b2b:predict", "ep", "/v1/models/b2b:predict", .unspecified, false),
        ("POST", "/ep/v1/models/a/b:predict", "ep", "/v1/models/a/b:predict", .unspecified, false),
    ])
    func targets(method: String, path: String, endpoint: String, rest: String, api: ServingApi, known: Bool) {
        let target = PublicTarget(method: HTTPMethod(rawValue: method), path: path)
        #expect(target.endpoint == endpoint)
        #expect(target.rest == rest)
        #expect(target.api == api)
        #expect(target.isKnownRoute == known)
    }

    /// The one table serving-router, model-server and the API reference share: every route matches its own template
    /// (with a model for `{model}`), and the model is what the path names, colons and all.
    @Test func everyDeclaredRouteMatchesItsTemplate() {
        for route in PredictionRoute.allCases {
            let path = route.template.replacingOccurrences(of: "{model}", with: "b2b")
            let matched = PredictionRoute.match(method: route.method, path: path[...])
            #expect(matched?.route == route, "\(route)")
            #expect(matched?.model.map(String.init) == (route.template.contains("{model}") ? "b2b" : nil), "\(route)")
            #expect(PredictionRoute.match(method: route.method == "GET" ? "POST" : "GET", path: path[...])?.route != route)
        }
        #expect(PredictionRoute.match(method: "POST", path: "/v1/models/a:b:predict")?.model == "a:b")
    }

    @Test func customerIDsAndCountsComeFromEachAPIsBody() {
        let recommend = PredictionBody(api: .recommend, json: PredictionBody.parse(ByteBuffer(string: #"{"customer_id": 42, "top_k": 5}"#)))
        #expect(recommend.customerID == "42")
        #expect(recommend.topK == 5)
        let batch = PredictionBody(
            api: .recommendBatch, json: PredictionBody.parse(ByteBuffer(string: #"{"customers": [{"customer_id": "C1"}, {"customer_id": "C2"}]}"#)))
        #expect(batch.customerID == "C1")
        #expect(batch.instanceCount == 2)
        let predict = PredictionBody(
            api: .predict, json: PredictionBody.parse(ByteBuffer(string: #"{"instances": [{"customer_id": "C7", "city": "x"}]}"#)))
        #expect(predict.customerID == "C7")
        let specBatch = PredictionBody(api: .recommendBatch, json: PredictionBody.parse(ByteBuffer(string: #"{"customer_ids": ["C4", "C5"]}"#)))
        #expect(specBatch.customerID == "C4" && specBatch.instanceCount == 2)
        #expect(
            PredictionBody.sampledInstances(
                api: .recommendBatch, json: PredictionBody.parse(ByteBuffer(string: #"{"customer_ids": ["C4"]}"#)), limit: 5
            )
            .first?.features["customer_id"]?.stringValue == "C4")
        #expect(PredictionBody(api: .predict, json: PredictionBody.parse(ByteBuffer(string: "not json"))).customerID == nil)
    }

    @Test("the logged product ids come from every answer shape, the spec's included")
    func productIDsFromEveryAnswerShape() {
        let shapes = [
            #"{"customer_id":"C1","product_ids":["P1","P2"],"scores":[0.9,0.8]}"#,
            #"{"predictions":[{"product_ids":["P1","P2"],"scores":[0.9,0.8]}]}"#,
            #"{"customer_id":"C1","model_version":"3","recommendations":[{"product_id":"P1","score":0.9},{"product_id":"P2","score":0.8}]}"#,
            #"{"model_version":"3","results":[{"customer_id":"C1","recommendations":[{"product_id":"P1","score":0.9},{"product_id":"P2","score":0.8}]}]}"#,
        ]
        for shape in shapes { #expect(PredictionBody.firstProductIDs(ByteBuffer(string: shape), limit: 10) == ["P1", "P2"], "\(shape)") }
    }

    @Test func instancesBecomeTypedFeatureRows() {
        let json = PredictionBody.parse(
            ByteBuffer(string: #"{"instances": [{"s": "x", "i": 3, "d": 2.5, "b": true, "l": ["a", "b"], "n": [1.5, 2]}]}"#))
        let rows = PredictionBody.sampledInstances(api: .predict, json: json, limit: 10)
        let features = rows[0].features
        #expect(features["s"]?.stringValue == "x")
        #expect(features["i"]?.int64Value == 3)
        #expect(features["d"]?.doubleValue == 2.5)
        #expect(features["b"]?.boolValue == true)
        #expect(features["l"]?.stringList.values == ["a", "b"])
        #expect(features["n"]?.doubleList.values == [1.5, 2])
    }

    @Test func keyHashIsLowercaseHexSHA256() {
        #expect(PublicAPI.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func failedUsageReportKeepsCountsForTheNextOne() {
        let usage = KeyUsage()
        let t = Date(timeIntervalSince1970: 1_800_000_000)
        usage.record(apiKeyID: "k1", endpointID: "e1", at: t)
        usage.record(apiKeyID: "k1", endpointID: "e1", at: t.addingTimeInterval(5))
        let taken = usage.take()
        usage.record(apiKeyID: "k1", endpointID: "e1", at: t.addingTimeInterval(9))
        usage.restore(taken)
        let report = KeyUsage.report(usage.take())
        #expect(report.usage.count == 1)
        #expect(report.usage[0].requestCount == 3)
        #expect(report.usage[0].lastUsedAt.hasPrefix("2027-01-15T08:00:09"))
    }
}

@Suite("Body scanning agrees with parsing")
struct BodyScanTests {
    @Test(
        arguments: [
            (ServingApi.recommend, #"{"customer_id": "C12", "top_k": 3}"#, "C12"),
            (.recommend, #"{"top_k":3,"customer_id":42}"#, "42"),
            (.recommend, #"{"features": {"city": "customer_id"}, "customer_id" : "C7"}"#, "C7"),
            (.recommendBatch, #"{"customers": [{"customer_id": "C1"}, {"customer_id": "C2"}]}"#, "C1"),
            (.predict, #"{"instances": [{"city": "x", "customer_id": "C9"}, {"customer_id": "C2"}]}"#, "C9"),
            (.predict, #"{"instances": [{"customer_id": "C\"9"}]}"#, "C\"9"),
            (.predict, #"{"instances": [{"customer_id": 1.5}]}"#, "1.5"),
            (.recommend, #"{"top_k": 3}"#, nil),
        ] as [(ServingApi, String, String?)])
    func customerID(api: ServingApi, body: String, expected: String?) {
        let buffer = ByteBuffer(string: body)
        #expect(PredictionBody.routingCustomerID(api: api, body: buffer) == expected)
        #expect(PredictionBody.routingCustomerID(api: api, body: buffer) == PredictionBody(api: api, json: PredictionBody.parse(buffer)).customerID)
    }

    @Test func productIDsOfTheFirstResult() {
        let recommend = ByteBuffer(
            string: #"{"customer_id":"C1","model_name":"m","model_version":"1","product_ids":["P1","P2","P3"],"scores":[0.5,0.4,0.3]}"#)
        #expect(PredictionBody.scanFirstProductIDs(recommend, limit: 2) == ["P1", "P2"])
        let predict = ByteBuffer(string: #"{"predictions":[{"product_ids":["P9"],"scores":[1]},{"product_ids":["P8"],"scores":[1]}]}"#)
        #expect(PredictionBody.firstProductIDs(predict, limit: 10) == ["P9"])
        let escaped = ByteBuffer(string: #"{"product_ids":["P\"1"],"scores":[1]}"#)
        #expect(PredictionBody.scanFirstProductIDs(escaped, limit: 10) == nil)
        #expect(PredictionBody.firstProductIDs(escaped, limit: 10) == ["P\"1"])
    }
}

@Suite("Public API: whose traffic a request is")
struct PublicAPITrafficTests {
    /// A testing key's requests with `X-Slipway-Load-Test` are load-test traffic; a client key cannot mark its own.
    @Test(arguments: [("testing", false, TrafficKind.test), ("testing", true, .loadTest), ("client", true, .client), ("client", false, .client)])
    func theLoadTestMarkCountsForTestingKeysOnly(purpose: String, marked: Bool, expected: TrafficKind) {
        let store = RoutingTableStore()
        store.merge(
            RoutingDocument(
                endpoints: [
                    RoutingDocument.Endpoint(
                        endpointID: "e1", name: "shop", modelName: "b2b", version: 1,
                        routes: [.init(revisionID: "r1", deploymentID: "d1", address: "http://r1", percent: 100)])
                ],
                apiKeys: [
                    RoutingDocument.ApiKey(apiKeyID: "k1", modelName: "b2b", keySha256: PublicAPI.sha256Hex("sk-1"), version: 1, purpose: purpose)
                ]),
            startedAt: 0)
        let waker = RevisionWaker(
            deploy: PeerAddresses(["http://127.0.0.1:1"]), timeout: .seconds(1), httpClient: .shared, logger: Logger(label: "test"))
        let api = PublicAPI(
            store: store, stats: RevisionStats(), usage: KeyUsage(), logs: RequestLogBuffer(capacity: 4), waker: waker, coldStartTimeout: .seconds(1))
        var record = RequestLogRecord(requestID: "q1", endpointID: "", endpointName: "", api: .unspecified, receivedAt: Date(), status: 0)
        let decision = api.decide(
            method: .POST, uri: "/shop/v1/models/b2b:predict", authorization: "Bearer sk-1", loadTest: marked,
            body: ByteBuffer(string: #"{"instances": [{"customer_id": "C1"}]}"#), record: &record)
        guard case .forward = decision else {
            Issue.record("not forwarded: \(decision)")
            return
        }
        #expect(record.traffic == expected)
    }
}
