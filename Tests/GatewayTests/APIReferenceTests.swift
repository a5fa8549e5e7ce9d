import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import ModelServerCore
import SlipwayPlatform
import SlipwayTestSupport
import Testing

/// The merged API reference against the routes every service registers, validated as OpenAPI 3.1 by an independent
/// validator, and served by a gateway that fetches its services' parts over HTTP.
@Suite("API reference", .serialized, .timeLimit(.minutes(2)))
struct APIReferenceTests {
    static func reference(policy: AccessPolicy = AccessPolicy()) -> APIReference {
        APIReference(peers: [:], routes: .standard, policy: policy, httpClient: .shared, own: RouteAgreementTests.gatewayOwn)
    }

    @Test("every public route is in the merged document under its service, with its parameters and access; it validates as OpenAPI 3.1")
    func mergedDocument() throws {
        let services = try RouteAgreementTests.serviceRoutes()
        let document = Self.reference().reference(
            services: services.map { OpenAPIDocument.service($0.service, routes: $0.routes) }, unavailable: [])
        #expect(document["openapi"] == "3.1.0")
        let paths = try #require(document["paths"]?.objectValue)
        var operationIDs = Set<String>()
        var operations = 0
        for (service, routes) in services + [("gateway", RouteAgreementTests.gatewayOwn)] {
            for route in routes where route.path.hasPrefix("/api/") && !route.path.contains("*") {
                guard let operation = paths[route.path]?[route.method.rawValue.lowercased()] else {
                    Issue.record("\(route) of \(service) is not in the document")
                    continue
                }
                operations += 1
                #expect(operation["tags"] == [.string(service)], "\(route)")
                let id = try #require(operation["operationId"]?.stringValue)
                #expect(operationIDs.insert(id).inserted, "operationId \(id) twice")
                guard case .array(let parameters)? = operation["parameters"] else {
                    Issue.record("\(route) has no parameter list")
                    continue
                }
                let inPath = parameters.filter { $0["in"] == "path" }.compactMap { $0["name"]?.stringValue }
                let named = route.path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
                #expect(inPath == named, "\(route): path parameters \(inPath)")
                // Who may call it is written in: open routes say so, the others name the least role and their 401/403.
                if operation["security"] == [] {
                    #expect(AccessPolicy().requirement(method: route.method, path: route.concretePath()) == .open, "\(route)")
                } else {
                    #expect(operation["x-slipway-role"] != nil && operation["responses"]?["401"] != nil, "\(route)")
                }
            }
        }
        #expect(operations > 120, "\(operations) operations")
        #expect(paths["/api/users"]?["post"]?["x-slipway-role"] == "admin")
        #expect(paths["/api/registered-models"]?["post"]?["x-slipway-role"] == "editor")
        #expect(paths["/api/registered-models"]?["get"]?["x-slipway-role"] == "viewer")
        #expect(paths["/api/openapi.json"]?["get"]?["security"] == [])
        // A body's schema is the type the handler decodes.
        let create = paths["/api/registered-models"]?["post"]?["requestBody"]?["content"]?["application/json"]?["schema"]
        #expect(create?["required"] == ["model_type", "name"], "\(String(describing: create))")
        #expect(paths["/api/registered-models"]?["post"]?["responses"]?["201"] != nil)

        let file = TestInfrastructure.packageRoot.appendingPathComponent(".slipway-test/openapi/openapi.json")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try document.jsonData().write(to: file)
        let (status, output) = try Self.validate(file)
        #expect(status == 0, "openapi-spec-validator: \(output)")
    }

    @Test("the prediction API's document validates as OpenAPI 3.1; its bodies are the decoded types with the routes' limits")
    func predictionDocument() throws {
        let document = PredictionAPIReference.document()
        let paths = try #require(document["paths"]?.objectValue)
        #expect(Set(paths.keys) == ["/recommend", "/recommend-batch", "/v1/models/{model}:predict", "/v1/models/{model}", "/health"])
        let recommend = paths["/recommend"]?["post"]?["requestBody"]?["content"]?["application/json"]?["schema"]
        #expect(recommend?["required"] == ["customer_id"], "\(String(describing: recommend))")
        #expect(recommend?["properties"]?["top_k"]?["maximum"] == 1000)
        #expect(recommend?["properties"]?["features"]?["additionalProperties"]?["type"] == ["string", "integer", "number"])
        let batch = paths["/recommend-batch"]?["post"]?["requestBody"]?["content"]?["application/json"]?["schema"]
        #expect(batch?["properties"]?["customer_ids"]?["maxItems"] == 1000 && batch?["properties"]?["customers"] != nil)
        let predict = paths["/v1/models/{model}:predict"]?["post"]
        #expect(predict?["requestBody"]?["content"]?["application/json"]?["schema"]?["required"] == ["instances"])
        #expect(predict?["parameters"]?.arrayValue?.first?["name"] == "model")
        #expect(paths["/health"]?["get"]?["parameters"]?.arrayValue?.first?["schema"]?["enum"] == ["slipway", "spec"])

        let file = TestInfrastructure.packageRoot.appendingPathComponent(".slipway-test/openapi/prediction.json")
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try document.jsonData().write(to: file)
        let (status, output) = try Self.validate(file)
        #expect(status == 0, "openapi-spec-validator: \(output)")
    }

    /// Runs openapi-spec-validator (PyPI, in the venv `scripts/validate-topology` keeps; `scripts/test` runs it first).
    static func validate(_ file: URL) throws -> (Int32, String) {
        let venv = ProcessInfo.processInfo.environment["SLIPWAY_VALIDATE_VENV"] ?? "/tmp/slipway-validate-venv"
        let python = venv + "/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return (-1, "no validator at \(python): run scripts/validate-topology (scripts/test does) to install it")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-m", "openapi_spec_validator", file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test("the gateway serves the merged reference and /docs to anyone, and names the services that did not answer")
    func servedByTheGateway() async throws {
        let registryRoutes = try RouteAgreementTests.serviceRoutes().first { $0.service == "registry" }?.routes ?? []
        let document = [UInt8](try OpenAPIDocument.service("registry", routes: registryRoutes).jsonData())
        // registry-svc, as far as the gateway asks it: its document at `/internal/openapi.json`.
        let registry = Router()
        registry.get("/internal/openapi.json") { _, _ in RawJSON(document) }
        try await withStandInServer(registry) { registryURL in
            try await GatewayAuthTests.withGateway(upstreamPort: nil, peers: ["registry": registryURL]) { gateway, _, _ in
                let answer = try await gateway.api.get("/api/openapi.json", expect: .ok).json()
                let paths = try #require(answer["paths"] as? [String: Any])
                #expect(paths["/api/registered-models/{name}"] != nil, "the registry's part, fetched over HTTP")
                #expect(paths["/api/tokens"] != nil && paths["/api/me"] != nil, "the gateway's own")
                let info = try #require(answer["info"] as? [String: Any])
                let unavailable = try #require(info["x-slipway-unavailable"] as? [String])
                #expect(unavailable.contains("training") && !unavailable.contains("registry"), "\(unavailable)")

                let page = try await gateway.api.send(.get, "/docs", expect: .ok)
                #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(page.text.contains("/api/openapi.json"))
                let prediction = try await gateway.api.get("/api/prediction/openapi.json", expect: .ok).json()
                #expect((prediction["paths"] as? [String: Any])?["/recommend"] != nil)
            }
        }
        // Nothing on the page is fetched from elsewhere.
        #expect(!DocsPage.source.contains("http://") && !DocsPage.source.contains("https://") && !DocsPage.source.contains("src="))
    }
}
