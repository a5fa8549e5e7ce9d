import Foundation
import HTTPTypes
import SlipwayTestSupport
import Testing

@testable import DeployCore

extension DeploymentTests {
    @Test("the spec's /api/v1/deployment API: models, deploy, update, history, validate, query, rollback, paginated deployments, delete")
    func specDeploymentAPI() async throws {
        try await withDeployService { f in
            let v1 = "/api/v1/deployment"
            var (status, body) = try await f.call(.get, "\(v1)/models")
            let models = try #require(body["models"] as? [[String: Any]])
            #expect(models.count == 1 && models[0]["name"] as? String == Self.model && models[0]["version_count"] as? Int == 3)
            #expect(models[0]["latest_version"] as? Int == 3 && (models[0]["serving_endpoints"] as? [String])?.isEmpty == true)

            // Deploy as the spec asks: version as a string, workload size and scale to zero become instance bounds.
            (status, body) = try await f.call(
                .post, "\(v1)/deploy",
                #"{"model_name": "\#(Self.model)", "model_version": "1", "endpoint_name": "shop", "workload_size": "Small", "scale_to_zero": true}"#)
            #expect(status == .accepted, "\(body)")
            #expect(body["deployment_id"] as? String == "shop-1" && body["model_version"] as? Int == 1 && body.keys.contains("previous_version"))
            var view = try await f.waitFor("shop", "v1 serving") { Self.traffic($0) == [1: 100] }
            let resources = try #require(view["resources"] as? [String: Any])
            #expect(resources["max_instances"] as? Int == 4 && resources["min_instances"] as? Int == 0)

            (status, body) = try await f.call(.get, "\(v1)/models/\(Self.model)/versions")
            let versions = try #require(body["versions"] as? [[String: Any]])
            #expect(versions.map { $0["version"] as? Int } == [3, 2, 1])
            #expect(versions.last?["traffic"] as? [String: Int] == ["shop": 100] && versions.first?["blessed"] as? Bool == false)
            (status, body) = try await f.call(.get, "\(v1)/models/\(Self.model)/deployments")
            #expect((body["endpoints"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["shop"])
            (status, body) = try await f.call(.get, "\(v1)/endpoints")
            #expect((body["endpoints"] as? [[String: Any]])?.count == 1)

            // Update: the endpoint moves to v2; the answer names the version it replaces.
            (status, body) = try await f.call(.put, "\(v1)/endpoints/shop?model_version=2")
            #expect(status == .accepted, "\(body)")
            #expect(body["previous_version"] as? Int == 1 && body["model_version"] as? Int == 2)
            view = try await f.waitFor("shop", "v2 serving") { Self.traffic($0) == [2: 100] }

            (status, body) = try await f.call(.get, "\(v1)/endpoints/shop/history")
            #expect((body["history"] as? [[String: Any]])?.compactMap { $0["version"] as? Int } == [1, 2], "oldest first")
            (status, body) = try await f.call(.get, "\(v1)/endpoints/shop/history?limit=1")
            #expect((body["history"] as? [[String: Any]])?.compactMap { $0["version"] as? Int } == [2], "the latest")

            (status, body) = try await f.call(.post, "\(v1)/endpoints/shop/validate")
            #expect(status == .ok && body["valid"] as? Bool == true, "\(body)")
            let checks = (body["checks"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(checks == ["serving", "traffic_total", "blessed_v2", "health_v2"])

            // The playground answers from the serving revision, with the model-server's own answer inside.
            (status, body) = try await f.call(.post, "\(v1)/endpoints/shop/query", #"{"inputs": {"customer_id": "C3", "top_k": 3}}"#)
            #expect(status == .ok, "\(body)")
            #expect(body["model_version"] as? Int == 2 && body["endpoint_name"] as? String == "shop")
            #expect(((body["predictions"] as? [String: Any])?["product_ids"] as? [Any])?.count == 3, "\(body)")

            // Rollback to a named version: v1 is still warm, so it is instant.
            (status, body) = try await f.call(.post, "\(v1)/endpoints/shop/rollback?target_version=1")
            #expect(status == .ok, "\(body)")
            #expect(body["status"] as? String == "rolled_back" && body["instant"] as? Bool == true)
            #expect(body["target_version"] as? Int == 1 && body["previous_version"] as? Int == 2)

            (status, body) = try await f.call(.get, "\(v1)/deployments?page=2&page_size=1")
            #expect(body["total"] as? Int == 2 && body["total_pages"] as? Int == 2 && body["page"] as? Int == 2)
            #expect((body["deployments"] as? [[String: Any]])?.compactMap { $0["version"] as? Int } == [1], "newest first: page 2 is v1")
            (status, body) = try await f.call(.get, "\(v1)/deployments?status=rolled_back")
            #expect((body["deployments"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["shop-2"])

            // Delete stops serving first, as the spec's one call does.
            (status, body) = try await f.call(.delete, "\(v1)/endpoints/shop")
            #expect(status == .ok && body["deleted"] as? Bool == true, "\(body)")
            (status, _) = try await f.call(.get, "\(v1)/endpoints/shop")
            #expect(status == .notFound)
        }
    }

    @Test("bad requests to /api/v1/deployment name the field and write nothing")
    func specDeploymentBadInput() async throws {
        try await withDeployService { f in
            let v1 = "/api/v1/deployment"
            let deploy = #"{"model_name": "\#(Self.model)", "model_version": "1", "endpoint_name": "shop""#
            for (body, status, field) in [
                (deploy + #", "workload_size": "Huge"}"#, HTTPResponse.Status.unprocessableContent, "workload_size"),
                (deploy + #", "environment_vars": {"A": "1"}}"#, .unprocessableContent, "environment_vars"),
                (#"{"model_name": "\#(Self.model)", "model_version": "one"}"#, .unprocessableContent, "model_version"),
                (#"{"model_version": "1"}"#, .badRequest, "model_name"),
                (#"{"model_name": "\#(Self.model)", "model_version": "9"}"#, .unprocessableContent, "version"),
            ] {
                let answer = try await f.api.post("\(v1)/deploy", body, expect: status)
                #expect(answer.errorField == field, "\(body): \(answer.text)")
            }
            try await f.api.post("\(v1)/deploy", #"{"model_name": "nope", "model_version": 1}"#, expect: .notFound)
            #expect(try await f.api.get("\(v1)/deployments?status=bogus", expect: .badRequest).errorField == "status")
            #expect(try await f.api.get("\(v1)/deployments?page_size=500", expect: .badRequest).errorField == "page_size")
            try await f.api.get("\(v1)/endpoints/shop", expect: .notFound)
            try await f.api.post("\(v1)/endpoints/shop/validate", expect: .notFound)
            // Nothing was written by any of them.
            let (_, body) = try await f.call(.get, "\(v1)/deployments")
            #expect(body["total"] as? Int == 0)

            _ = try await f.api.post("\(v1)/deploy", deploy + "}", expect: .accepted)
            _ = try await f.waitFor("shop", "v1 serving") { Self.traffic($0) == [1: 100] }
            #expect(try await f.api.put("\(v1)/endpoints/shop", expect: .badRequest).errorField == "model_version")
            #expect(try await f.api.get("\(v1)/endpoints/shop/history?limit=0", expect: .badRequest).errorField == "limit")
            #expect(try await f.api.post("\(v1)/endpoints/shop/rollback?target_version=x", expect: .badRequest).errorField == "target_version")
            #expect(
                try await f.api.post("\(v1)/endpoints/shop/query", #"{"inputs": {"top_k": 3}}"#, expect: .badRequest).errorField
                    == "inputs.customer_id")
            #expect(try await f.api.post("\(v1)/endpoints/shop/query", #"{"inputs": 3}"#, expect: .badRequest).errorField == "inputs")
        }
    }
}
