import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import ModelServerCore
import NIOCore
import SlipwayModelBundle
import Testing

@Suite("model-server")
struct ModelServerTests {
    static let model = try! ServedModel(bundle: SyntheticBundle.make(candidates: 500, dim: 16, customers: 50, hidden: 32, modelName: "b2b"), version: "3")
    static let json: HTTPFields = [.contentType: "application/json"]

    func withServer(_ test: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await Application(router: ModelServerRoutes.router(model: Self.model)).test(.router, test)
    }

    func post(_ http: any TestClientProtocol, _ uri: String, _ body: String) async throws -> (HTTPResponse.Status, [String: Any]) {
        try await http.execute(uri: uri, method: .post, headers: Self.json, body: ByteBuffer(string: body)) {
            ($0.status, (try? JSONSerialization.jsonObject(with: Data(buffer: $0.body))) as? [String: Any] ?? [:])
        }
    }

    func field(_ body: [String: Any]) -> String? { ((body["error"] as? [String: Any])?["details"] as? [String: Any])?["field"] as? String }

    @Test("status, health, predict, recommend and recommend-batch answer real product ids")
    func happyPaths() async throws {
        try await withServer { http in
            try await http.execute(uri: "/v1/models/b2b", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""state":"AVAILABLE""#))
            }
            try await http.execute(uri: "/health", method: .get) { response in
                #expect(String(buffer: response.body).contains(#""model_version":"3""#))
            }
            let (status, predicted) = try await post(http, "/v1/models/b2b:predict",
                #"{"instances": [{"customer_id": "C1", "city": "city2", "segment": "horeca"}, {"customer_id": "unknown-customer"}]}"#)
            #expect(status == .ok)
            let predictions = try #require(predicted["predictions"] as? [[String: Any]])
            #expect(predictions.count == 2)
            let ids = try #require(predictions[0]["product_ids"] as? [String])
            #expect(ids.count == 100 && ids.allSatisfy { $0.hasPrefix("P1") })
            let scores = try #require(predictions[0]["scores"] as? [Double])
            #expect(zip(scores, scores.dropFirst()).allSatisfy { $0 >= $1 }, "scores come best first")
            // The same features give the same answer as the scorer itself (no hidden state in the server).
            let direct = try Self.model.scorer.recommend(["customer_id": .string("C1"), "city": .string("city2"), "segment": .string("horeca")], k: 100)
            #expect(ids == direct.productIds)

            let (_, recommended) = try await post(http, "/recommend", #"{"customer_id": "C7", "top_k": 5}"#)
            #expect((recommended["product_ids"] as? [String])?.count == 5)
            #expect(recommended["customer_id"] as? String == "C7")
            let (_, numeric) = try await post(http, "/recommend", #"{"customer_id": 7, "top_k": 3}"#)
            #expect((numeric["product_ids"] as? [String])?.count == 3, "a numeric customer id is accepted as a string feature")
            let (_, batch) = try await post(http, "/recommend-batch", #"{"customers": [{"customer_id": "C1"}, {"customer_id": "C2", "features": {"city": "city1"}}], "top_k": 4}"#)
            let entries = try #require(batch["recommendations"] as? [[String: Any]])
            #expect(entries.map { $0["customer_id"] as? String } == ["C1", "C2"])
            #expect(entries.allSatisfy { ($0["product_ids"] as? [String])?.count == 4 })
        }
    }

    @Test("bad input: 400/404 naming the field, never a crash")
    func badInput() async throws {
        try await withServer { http in
            var (status, body) = try await post(http, "/v1/models/b2b:predict", #"{"instances": [{"city": "city1"}]}"#)
            #expect(status == .badRequest)
            #expect(field(body) == "instances[0].customer_id")
            (status, body) = try await post(http, "/v1/models/b2b:predict", #"{"instances": [{"customer_id": "C1"}, {"customer_id": "C2", "city": true}]}"#)
            #expect(status == .badRequest)
            (status, body) = try await post(http, "/v1/models/b2b:predict", #"{"instances": [{"customer_id": "C1"}, {"customer_id": "C2", "city": 4.5}]}"#)
            #expect(status == .badRequest)
            #expect(field(body) == "instances[1].city")
            (status, body) = try await post(http, "/v1/models/b2b:predict", #"{"instances": []}"#)
            #expect(status == .badRequest && field(body) == "instances")
            (status, body) = try await post(http, "/v1/models/other:predict", #"{"instances": [{"customer_id": "C1"}]}"#)
            #expect(status == .notFound)
            (status, body) = try await post(http, "/v1/models/b2b:explain", #"{"instances": [{"customer_id": "C1"}]}"#)
            #expect(status == .notFound)
            (status, body) = try await post(http, "/recommend", #"{"customer_id": "C1", "top_k": 0}"#)
            #expect(status == .badRequest && field(body) == "top_k")
            (status, body) = try await post(http, "/recommend", #"{"customer_id": "C1", "top_k": 5000}"#)
            #expect(status == .badRequest && field(body) == "top_k")
            (status, body) = try await post(http, "/recommend", #"{"top_k": 3}"#)
            #expect(status == .badRequest && field(body) == "customer_id")
            (status, body) = try await post(http, "/recommend", "not json")
            #expect(status == .badRequest)
            let customers = (0..<1001).map { #"{"customer_id": "C\#($0 % 50)"}"# }.joined(separator: ",")
            (status, body) = try await post(http, "/recommend-batch", #"{"customers": [\#(customers)]}"#)
            #expect(status == .badRequest && field(body) == "customers")
            try await http.execute(uri: "/v1/models/nope", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test("hand-written answers are valid JSON, ids escaped")
    func escaping() throws {
        let ids = ["plain", "quote\"d", "back\\slash", "new\nline", "tab\tand\u{01}control", "zażółć"]
        let bytes = RecommendationJSON.recommend(customerID: "c\"1", Recommendations(productIds: ids, scores: [1, 0.5, -0.25, 0, 3e-8, .nan]), model: Self.model)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["product_ids"] as? [String] == ids)
        #expect(object["customer_id"] as? String == "c\"1")
        let scores = try #require(object["scores"] as? [Any])
        #expect((scores[1] as? Double) == 0.5 && scores[5] is NSNull)
    }
}
