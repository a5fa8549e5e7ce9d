import Foundation
import NIOCore
import NIOPosix
import SlipwayModelBundle
import Testing

@testable import ModelServerCore

/// The model server over real TCP: each test binds a server on a free port and talks HTTP/1.1 to it.
@Suite("model-server", .timeLimit(.minutes(2)))
struct ModelServerTests {
    static let model = try! ServedModel(
        bundle: SyntheticBundle.make(candidates: 500, dim: 16, customers: 50, hidden: 32, modelName: "b2b"), version: "3")
    /// Train counts of the popularity model's candidates: a permutation of 0..<500, so the popularity order has no ties.
    static let trainInteractions = (0..<500).map { Double($0 * 7919 % 500) }
    /// The same bundle as `model` with a popularity fallback for cold queries.
    static let popularityModel = try! ServedModel(
        bundle: SyntheticBundle.make(candidates: 500, dim: 16, customers: 50, hidden: 32, modelName: "b2b")
            .withPopularityFallback(trainInteractions: trainInteractions), version: "4")
    static let popularityOrder = trainInteractions.indices.sorted { trainInteractions[$0] > trainInteractions[$1] }.map { "P\(100_000 + $0)" }

    func withServer(
        model: ServedModel = Self.model, maxBatchSize: Int = 0, batchTimeout: TimeAmount = .milliseconds(2),
        _ test: (_ port: Int, _ batcher: PredictBatcher?) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let batcher =
            maxBatchSize > 1 ? PredictBatcher(scorer: model.scorer, maxBatchSize: maxBatchSize, timeout: batchTimeout, loop: group.next()) : nil
        let channel = try await ModelHTTPServer.bind(
            api: ModelServerAPI(model: model, batcher: batcher), host: "127.0.0.1", port: 0, group: group)
        let port = try #require(channel.localAddress?.port)
        do {
            try await test(port, batcher)
        } catch {
            try? await channel.close()
            try? await group.shutdownGracefully()
            throw error
        }
        try await channel.close()
        try await group.shutdownGracefully()
    }

    @Test("status, health, predict, recommend and recommend-batch answer real product ids")
    func happyPaths() async throws {
        try await withServer { port, _ in
            let http = try RawHTTPConnection(port: port)
            var response = try http.request("GET", "/v1/models/b2b")
            #expect(response.status == 200)
            #expect(response.text.contains(#""state":"AVAILABLE""#))
            #expect(response.headers["content-type"] == "application/json; charset=utf-8")
            #expect(response.headers["date"]?.hasSuffix(" GMT") == true && response.headers["server"] == "model-server")
            response = try http.request("GET", "/health")
            #expect(response.status == 200)
            #expect(response.text.contains(#""model_version":"3""#) && response.text.contains(#""status":"ok""#))

            response = try http.request(
                "POST", "/v1/models/b2b:predict",
                body: #"{"instances": [{"customer_id": "C1", "city": "city2", "segment": "horeca"}, {"customer_id": "unknown-customer"}]}"#)
            #expect(response.status == 200)
            let predictions = try #require(response.json["predictions"] as? [[String: Any]])
            #expect(predictions.count == 2)
            let ids = try #require(predictions[0]["product_ids"] as? [String])
            #expect(ids.count == 100 && ids.allSatisfy { $0.hasPrefix("P1") })
            let scores = try #require(predictions[0]["scores"] as? [Double])
            #expect(zip(scores, scores.dropFirst()).allSatisfy { $0 >= $1 }, "scores come best first")
            // The same features give the same answer as the scorer itself (no hidden state in the server).
            let direct = try Self.model.scorer.recommend(
                ["customer_id": .string("C1"), "city": .string("city2"), "segment": .string("horeca")], k: 100)
            #expect(ids == direct.productIds)

            response = try http.request("POST", "/recommend", body: #"{"customer_id": "C7", "top_k": 5}"#)
            #expect((response.json["product_ids"] as? [String])?.count == 5)
            #expect(response.json["customer_id"] as? String == "C7")
            #expect(response.json["model_name"] as? String == "b2b" && response.json["model_version"] as? String == "3")
            #expect(response.json["product_ids"] as? [String] == (try Self.model.scorer.recommend(["customer_id": .string("C7")], k: 5)).productIds)
            response = try http.request("POST", "/recommend", body: #"{"customer_id": 7, "top_k": 3}"#)
            #expect((response.json["product_ids"] as? [String])?.count == 3, "a numeric customer id is accepted as a string feature")
            response = try http.request("POST", "/recommend", body: #"{"customer_id": "C2", "features": {"city": "city1"}}"#)
            #expect((response.json["product_ids"] as? [String])?.count == ServingLimits.defaultRecommendTopK)
            response = try http.request(
                "POST", "/recommend-batch",
                body: #"{"customers": [{"customer_id": "C1"}, {"customer_id": "C2", "features": {"city": "city1"}}], "top_k": 4}"#)
            let entries = try #require(response.json["recommendations"] as? [[String: Any]])
            #expect(entries.map { $0["customer_id"] as? String } == ["C1", "C2"])
            #expect(entries.allSatisfy { ($0["product_ids"] as? [String])?.count == 4 })
        }
    }

    @Test("the specification's shapes: ?format=spec, and customer_ids for a batch; the same products as Slipway's shapes")
    func specShapes() async throws {
        try await withServer { port, _ in
            let http = try RawHTTPConnection(port: port)
            var response = try http.request("GET", "/health?format=spec")
            #expect(response.status == 200 && response.json["status"] as? String == "healthy" && response.json["model_version"] as? String == "3")
            let plain = try http.request("POST", "/recommend", body: #"{"customer_id": "C7", "top_k": 5}"#)
            response = try http.request("POST", "/recommend?format=spec", body: #"{"customer_id": "C7", "top_k": 5}"#)
            #expect(response.status == 200 && response.json["customer_id"] as? String == "C7")
            let items = try #require(response.json["recommendations"] as? [[String: Any]])
            #expect(items.compactMap { $0["product_id"] as? String } == plain.json["product_ids"] as? [String])
            #expect(items.compactMap { $0["score"] as? Double } == plain.json["scores"] as? [Double])
            #expect(response.json["product_ids"] == nil)

            // The spec's batch request asks for the spec's answer.
            response = try http.request("POST", "/recommend-batch", body: #"{"customer_ids": ["C1", "C7"], "top_k": 5}"#)
            #expect(response.status == 200, "\(response.text)")
            let results = try #require(response.json["results"] as? [[String: Any]])
            #expect(results.map { $0["customer_id"] as? String } == ["C1", "C7"])
            #expect(
                ((results[1]["recommendations"] as? [[String: Any]]) ?? []).compactMap { $0["product_id"] as? String } == plain.json["product_ids"]
                    as? [String])
            response = try http.request("POST", "/recommend-batch?format=spec", body: #"{"customers": [{"customer_id": "C1"}]}"#)
            #expect((response.json["results"] as? [[String: Any]])?.count == 1)

            response = try http.request("POST", "/recommend?format=xml", body: #"{"customer_id": "C7"}"#)
            #expect(response.status == 400 && response.field == "format")
            response = try http.request("POST", "/recommend-batch", body: #"{"customer_ids": ["C1"], "customers": [{"customer_id": "C1"}]}"#)
            #expect(response.status == 400 && response.field == "customer_ids")
            response = try http.request("POST", "/recommend-batch", body: #"{"top_k": 3}"#)
            #expect(response.status == 400 && response.field == "customers")
            response = try http.request("POST", "/recommend-batch", body: #"{"customer_ids": []}"#)
            #expect(response.status == 400 && response.field == "customer_ids")
            response = try http.request("POST", "/recommend-batch", body: #"{"customer_ids": ["C1", 2.5]}"#)
            #expect(response.status == 400 && response.field?.hasPrefix("customer_ids") == true, "\(response.text)")
        }
    }

    @Test("bad input: 400/404 naming the field, never a crash")
    func badInput() async throws {
        try await withServer { port, _ in
            let http = try RawHTTPConnection(port: port)
            var response = try http.request("POST", "/v1/models/b2b:predict", body: #"{"instances": [{"city": "city1"}]}"#)
            #expect(response.status == 400)
            #expect(response.field == "instances[0].customer_id")
            response = try http.request(
                "POST", "/v1/models/b2b:predict", body: #"{"instances": [{"customer_id": "C1"}, {"customer_id": "C2", "city": true}]}"#)
            #expect(response.status == 400 && response.field == "instances[1].city")
            response = try http.request(
                "POST", "/v1/models/b2b:predict", body: #"{"instances": [{"customer_id": "C1"}, {"customer_id": "C2", "city": 4.5}]}"#)
            #expect(response.status == 400)
            #expect(response.field == "instances[1].city")
            response = try http.request("POST", "/v1/models/b2b:predict", body: #"{"instances": []}"#)
            #expect(response.status == 400 && response.field == "instances")
            response = try http.request("POST", "/v1/models/b2b:predict", body: #"{"instances": [{"customer_id": "C1"}], "top_k": "x"}"#)
            #expect(response.status == 400 && response.field == "top_k")
            response = try http.request("POST", "/v1/models/other:predict", body: #"{"instances": [{"customer_id": "C1"}]}"#)
            #expect(response.status == 404)
            response = try http.request("POST", "/v1/models/b2b:explain", body: #"{"instances": [{"customer_id": "C1"}]}"#)
            #expect(response.status == 404)
            response = try http.request("POST", "/recommend", body: #"{"customer_id": "C1", "top_k": 0}"#)
            #expect(response.status == 400 && response.field == "top_k")
            response = try http.request("POST", "/recommend", body: #"{"customer_id": "C1", "top_k": 5000}"#)
            #expect(response.status == 400 && response.field == "top_k")
            response = try http.request("POST", "/recommend", body: #"{"top_k": 3}"#)
            #expect(response.status == 400 && response.field == "customer_id")
            response = try http.request("POST", "/recommend", body: #"{"customer_id": null}"#)
            #expect(response.status == 400 && response.field == "customer_id")
            response = try http.request("POST", "/recommend", body: #"{"customer_id": 7.5}"#)
            #expect(response.status == 400 && response.field == "customer_id")
            response = try http.request("POST", "/recommend", body: #"{"customer_id": "C1", "features": {"city": null}}"#)
            #expect(response.status == 400 && response.field == "features.city")
            response = try http.request("POST", "/recommend", body: "not json")
            #expect(response.status == 400)
            #expect((response.json["error"] as? [String: Any])?["code"] as? String == "bad_request")
            response = try http.request("POST", "/recommend", body: "")
            #expect(response.status == 400)
            let customers = (0..<1001).map { #"{"customer_id": "C\#($0 % 50)"}"# }.joined(separator: ",")
            response = try http.request("POST", "/recommend-batch", body: #"{"customers": [\#(customers)]}"#)
            #expect(response.status == 400 && response.field == "customers")
            response = try http.request("POST", "/recommend-batch", body: #"{"customers": [{"customer_id": "C1"}, {"features": {"city": "city1"}}]}"#)
            #expect(response.status == 400 && response.field == "customers[1].customer_id")
            response = try http.request("GET", "/v1/models/nope")
            #expect(response.status == 404)
            response = try http.request("GET", "/nothing")
            #expect(response.status == 404 && response.text.contains("no route for this path"))
            response = try http.request("DELETE", "/recommend")
            #expect(response.status == 404)
            // After all of that the connection still serves.
            #expect(try http.request("GET", "/health").status == 200)
        }
    }

    @Test("keep-alive, pipelined requests answered in order, HTTP/1.0 and Connection: close, malformed HTTP, oversized body")
    func connectionHandling() async throws {
        try await withServer { port, _ in
            let http = try RawHTTPConnection(port: port)
            try http.send("POST", "/recommend", body: #"{"customer_id": "C1", "top_k": 1}"#)
            try http.send("GET", "/health")
            try http.send("POST", "/recommend", body: #"{"customer_id": "C2", "top_k": 2}"#)
            let answers = try (0..<3).map { _ in try http.readResponse() }
            #expect(answers.map(\.status) == [200, 200, 200])
            #expect(answers[0].json["customer_id"] as? String == "C1" && answers[2].json["customer_id"] as? String == "C2")
            #expect((answers[2].json["product_ids"] as? [String])?.count == 2)

            let closing = try RawHTTPConnection(port: port)
            try closing.send("GET", "/health", headers: ["Connection: close"])
            #expect(try closing.readResponse().status == 200)
            #expect(closing.isClosedByPeer())

            let old = try RawHTTPConnection(port: port)
            try old.send("GET", "/health", version: "HTTP/1.0")
            #expect(try old.readResponse().status == 200)
            #expect(old.isClosedByPeer())

            let garbage = try RawHTTPConnection(port: port)
            try garbage.send(Array("NOT HTTP AT ALL\r\n\r\n".utf8))
            #expect(try garbage.readResponse().status == 400)

            let large = try RawHTTPConnection(port: port)
            let padding = String(repeating: " ", count: ServingLimits.maxBodyBytes)
            let oversized = try large.request("POST", "/recommend", body: #"{"customer_id": "C1"\#(padding)}"#)
            #expect(oversized.status == 413)
            #expect(try large.request("GET", "/health").status == 200)

            #expect(try RawHTTPConnection(port: port).request("GET", "/health").status == 200, "the server still accepts")
        }
    }

    @Test("batched :predict: concurrent requests scored together, same answers as unbatched, a bad request fails alone")
    func batchedPredict() async throws {
        try await withServer(maxBatchSize: 64, batchTimeout: .milliseconds(300)) { port, batcher in
            let batcher = try #require(batcher)
            let customers = ["C1", "C2", "C3", "bad", "C4", "unknown-customer"]
            let connections = try customers.map { _ in try RawHTTPConnection(port: port) }
            // Every request is sent before any answer is read, so all wait in the same batch.
            for (customer, connection) in zip(customers, connections) {
                let instance = customer == "bad" ? #"{"customer_id": "C5", "city": 4.5}"# : #"{"customer_id": "\#(customer)", "segment": "horeca"}"#
                try connection.send("POST", "/v1/models/b2b:predict", body: #"{"instances": [\#(instance), {"customer_id": "C9"}], "top_k": 7}"#)
            }
            let answers = try connections.map { try $0.readResponse() }
            #expect(batcher.batchesScored == 1)
            for (customer, answer) in zip(customers, answers) {
                if customer == "bad" {
                    #expect(answer.status == 400 && answer.field == "instances[0].city")
                    continue
                }
                #expect(answer.status == 200)
                let predictions = try #require(answer.json["predictions"] as? [[String: Any]])
                let direct = try Self.model.scorer.recommendBatch(
                    [["customer_id": .string(customer), "segment": .string("horeca")], ["customer_id": .string("C9")]], k: 7)
                #expect(predictions.map { $0["product_ids"] as? [String] ?? [] } == direct.map(\.productIds))
            }
            // A lone request is answered when the batch timeout ends its wait.
            let lone = try connections[0].request("POST", "/v1/models/b2b:predict", body: #"{"instances": [{"customer_id": "C1"}], "top_k": 3}"#)
            #expect(lone.status == 200 && (lone.json["predictions"] as? [[String: Any]])?.count == 1)
            #expect(batcher.batchesScored == 2)
        }
    }

    @Test("a batch is sent as soon as it holds max-batch-size instances")
    func batchFillsUp() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let batcher = PredictBatcher(scorer: Self.model.scorer, maxBatchSize: 4, timeout: .seconds(60), loop: group.next())
        let loop = group.next()
        let futures = (0..<4).map { i in batcher.submit([["customer_id": .string("C\(i)")]], k: 2, on: loop) }
        for (i, future) in futures.enumerated() {
            let recommendations = try await future.get().get()
            #expect(recommendations == [try Self.model.scorer.recommend(["customer_id": .string("C\(i)")], k: 2)])
        }
        #expect(batcher.batchesScored == 1)
        try await group.shutdownGracefully()
    }

    @Test("an unknown customer gets the popularity order marked fallback: popularity; with a known attribute, fallback: attributes")
    func coldStart() async throws {
        try await withServer(model: Self.popularityModel) { port, _ in
            let http = try RawHTTPConnection(port: port)
            var response = try http.request("POST", "/recommend", body: #"{"customer_id": "nobody", "top_k": 5}"#)
            #expect(response.status == 200)
            #expect(
                response.text.hasPrefix(#"{"customer_id":"nobody","fallback":"popularity","model_name":"b2b","model_version":"4","product_ids":["#))
            #expect(response.json["product_ids"] as? [String] == Array(Self.popularityOrder.prefix(5)))
            #expect(response.json["scores"] as? [Double] == [499, 498, 497, 496, 495], "the scores are the train counts")
            response = try http.request("POST", "/recommend", body: #"{"customer_id": "C7", "top_k": 5}"#)
            #expect(response.status == 200 && !response.text.contains("fallback"), "a known customer's answer is unchanged")
            #expect(response.json["product_ids"] as? [String] == (try Self.model.scorer.recommend(["customer_id": .string("C7")], k: 5)).productIds)
            response = try http.request("POST", "/recommend", body: #"{"customer_id": "nobody", "top_k": 5, "features": {"segment": "horeca"}}"#)
            #expect(response.json["fallback"] as? String == "attributes")
            let tower = try Self.model.scorer.recommend(["customer_id": .string("nobody"), "segment": .string("horeca")], k: 5)
            #expect(response.json["product_ids"] as? [String] == tower.productIds)

            response = try http.request(
                "POST", "/v1/models/b2b:predict",
                body:
                    #"{"instances": [{"customer_id": "C1"}, {"customer_id": "nobody", "city": "nowhere"}, {"customer_id": "new", "city": "city3"}], "top_k": 3}"#
            )
            #expect(response.status == 200)
            var predictions = try #require(response.json["predictions"] as? [[String: Any]])
            #expect(predictions.map { $0["fallback"] as? String } == [nil, "popularity", "attributes"])
            #expect(predictions[1]["product_ids"] as? [String] == Array(Self.popularityOrder.prefix(3)))
            #expect(response.text.contains(#"{"fallback":"popularity","product_ids":["#))

            response = try http.request(
                "POST", "/recommend-batch", body: #"{"customers": [{"customer_id": "nobody"}, {"customer_id": "C2"}], "top_k": 2}"#)
            let entries = try #require(response.json["recommendations"] as? [[String: Any]])
            #expect(entries.map { $0["fallback"] as? String } == ["popularity", nil])
            #expect(response.text.contains(#"{"customer_id":"nobody","fallback":"popularity","product_ids":["#))

            // A bundle without popularity answers an unknown customer from the tower, unmarked, as it always did.
            try await withServer { oldPort, _ in
                let old = try RawHTTPConnection(port: oldPort)
                response = try old.request(
                    "POST", "/v1/models/b2b:predict",
                    body: #"{"instances": [{"customer_id": "nobody"}, {"customer_id": "new", "segment": "horeca"}]}"#)
                predictions = try #require(response.json["predictions"] as? [[String: Any]])
                #expect(predictions.map { $0["fallback"] as? String } == [nil, "attributes"])
                #expect(
                    predictions[0]["product_ids"] as? [String]
                        == (try Self.model.scorer.recommend(["customer_id": .string("nobody")], k: 100)).productIds)
            }
        }
    }

    @Test("batched :predict answers cold queries from popularity, each as if alone")
    func batchedColdStart() async throws {
        try await withServer(model: Self.popularityModel, maxBatchSize: 64, batchTimeout: .milliseconds(300)) { port, batcher in
            let bodies = [
                #"{"instances": [{"customer_id": "nobody"}, {"customer_id": "C1"}], "top_k": 4}"#,
                #"{"instances": [{"customer_id": "C2"}, {"customer_id": "new", "segment": "horeca"}, {"customer_id": "other"}], "top_k": 6}"#,
            ]
            let connections = try bodies.map { _ in try RawHTTPConnection(port: port) }
            for (body, connection) in zip(bodies, connections) { try connection.send("POST", "/v1/models/b2b:predict", body: body) }
            let answers = try connections.map { try $0.readResponse() }
            #expect(try #require(batcher).batchesScored == 1)
            let expected = [
                try Self.popularityModel.scorer.recommendBatch([["customer_id": .string("nobody")], ["customer_id": .string("C1")]], k: 4),
                try Self.popularityModel.scorer.recommendBatch(
                    [
                        ["customer_id": .string("C2")], ["customer_id": .string("new"), "segment": .string("horeca")],
                        ["customer_id": .string("other")],
                    ],
                    k: 6),
            ]
            for (answer, direct) in zip(answers, expected) {
                let predictions = try #require(answer.json["predictions"] as? [[String: Any]])
                #expect(predictions.map { $0["product_ids"] as? [String] ?? [] } == direct.map(\.productIds))
                #expect(predictions.map { $0["fallback"] as? String } == direct.map { $0.fallback?.rawValue })
            }
            #expect(expected[0][0].productIds == Array(Self.popularityOrder.prefix(4)))
        }
    }

    static let recommendBodies = [
        #"{"customer_id":"C12","top_k":10}"#, #"{ "customer_id" : 7 , "top_k" : null }"#,
        #"{"top_k": 3, "customer_id": "C1", "features": {"city": "city1", "n": -42}}"#,
        #"{"customer_id": "C1", "features": {}}"#, #"{"customer_id": "C1", "features": null}"#, "\n{\"customer_id\":\"C1\"}\r\n",
        // Everything below must fall back to JSONDecoder (its answer, whatever it is, stays the answer).
        #"{"customer_id": "C\u0031"}"#, #"{"customer_id": "zażółć"}"#, #"{"customer_id": 7.0}"#, #"{"customer_id": 1e3}"#, #"{"customer_id": 007}"#,
        #"{"customer_id": "C1", "top_k": 2.5}"#, #"{"customer_id": "C1", "top_k": "3"}"#, #"{"customer_id": "C1", "customer_id": "C2"}"#,
        #"{"customer_id": "C1", "extra": 1}"#, #"{"customer_id": "C1",}"#, #"{"customer_id": "C1"} x"#, #"{"customer_id": "C1""#, #"{"top_k": 3}"#,
        #"{"customer_id": true}"#, #"{"customer_id": null}"#, #"{"customer_id": "C1", "features": {"a": 1, "a": 2}}"#,
        #"{"customer_id": 12345678901234567890}"#,
        "[]", "", "not json", #"{"customer_id": -}"#,
    ]

    @Test("the /recommend hand parser decodes exactly what JSONDecoder decodes, and leaves the rest to it")
    func recommendFastParser() throws {
        var fast = 0
        for body in Self.recommendBodies {
            let parsed = Array(body.utf8).withUnsafeBytes { RecommendFastParser.parse($0) }
            guard let parsed else { continue }
            fast += 1
            let decoded = try JSONDecoder().decode(RecommendRequest.self, from: Data(body.utf8))
            #expect(parsed.customerID == decoded.customerID && parsed.topK == decoded.topK && parsed.features == decoded.features, "\(body)")
        }
        #expect(fast == 6, "the six usual shapes take the fast path, nothing else does")
    }

    @Test("hand-written answers are valid JSON, ids escaped")
    func escaping() throws {
        let ids = ["plain", "quote\"d", "back\\slash", "new\nline", "tab\tand\u{01}control", "zażółć"]
        var buffer = ByteBuffer()
        RecommendationJSON.recommend(
            customerID: "c\"1", Recommendations(productIds: ids, scores: [1, 0.5, -0.25, 0, 3e-8, .nan]), model: Self.model, format: .slipway,
            into: &buffer)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
        #expect(object["product_ids"] as? [String] == ids)
        #expect(object["customer_id"] as? String == "c\"1")
        let scores = try #require(object["scores"] as? [Any])
        #expect((scores[1] as? Double) == 0.5 && scores[5] is NSNull)
    }
}
