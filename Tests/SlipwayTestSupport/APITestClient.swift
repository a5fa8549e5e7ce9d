import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SlipwayEventSourcing
import SlipwayPlatform
import Testing

/// The one JSON client of the tests: the same calls against a router in process (HummingbirdTesting) or
/// a live process on a port (`slipway up`, a model-server). Bodies are JSON text, so a test shows exactly
/// what a client sends; answers keep their bytes, with JSON views for assertions.
public struct APITestClient: Sendable {
    enum Transport: Sendable {
        case inProcess(any TestClientProtocol)
        case live(baseURL: String)
    }

    let transport: Transport
    /// Sent with every request, under the call's own (a token, as a user's client does).
    let defaultHeaders: HTTPFields

    public init(_ client: any TestClientProtocol) {
        transport = .inProcess(client)
        defaultHeaders = [:]
    }

    /// The live server's base URL (empty in process).
    public var baseURL: String {
        if case .live(let url) = transport { return url }
        return ""
    }
    public init(baseURL: String, headers: HTTPFields = [:]) {
        transport = .live(baseURL: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL)
        defaultHeaders = headers
    }

    /// Sends a request; with `expect`, records a test issue (with the answer's body) when the status differs.
    @discardableResult
    public func send(
        _ method: HTTPRequest.Method, _ path: String, _ json: String? = nil, headers: HTTPFields = [:],
        expect status: HTTPResponse.Status? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> APIResponse {
        var headers = headers
        for field in defaultHeaders where headers[field.name] == nil { headers.append(field) }
        if json != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        let response: APIResponse
        switch transport {
        case .inProcess(let client):
            let answer = try await client.executeRequest(uri: path, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
            response = APIResponse(status: answer.status, headers: answer.headers, body: Array(answer.body.readableBytesView))
        case .live(let baseURL):
            var request = HTTPClientRequest(url: baseURL + path)
            request.method = .init(rawValue: method.rawValue)
            for field in headers { request.headers.add(name: field.name.rawName, value: field.value) }
            if let json { request.body = .bytes(ByteBuffer(string: json)) }
            let answer = try await HTTPClient.slipwayInternal.execute(request, timeout: .seconds(60))
            let body = try await answer.body.collect(upTo: 64 << 20)
            var fields = HTTPFields()
            for (name, value) in answer.headers { if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) } }
            response = APIResponse(status: .init(code: Int(answer.status.code)), headers: fields, body: Array(body.readableBytesView))
        }
        if let status {
            #expect(response.status == status, "\(method) \(path): \(response.text)", sourceLocation: sourceLocation)
        }
        return response
    }

    @discardableResult
    public func get(
        _ path: String, headers: HTTPFields = [:], expect status: HTTPResponse.Status? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> APIResponse {
        try await send(.get, path, headers: headers, expect: status, sourceLocation: sourceLocation)
    }

    @discardableResult
    public func post(
        _ path: String, _ json: String? = nil, headers: HTTPFields = [:], expect status: HTTPResponse.Status? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> APIResponse {
        try await send(.post, path, json, headers: headers, expect: status, sourceLocation: sourceLocation)
    }

    @discardableResult
    public func put(
        _ path: String, _ json: String? = nil, headers: HTTPFields = [:], expect status: HTTPResponse.Status? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> APIResponse {
        try await send(.put, path, json, headers: headers, expect: status, sourceLocation: sourceLocation)
    }

    @discardableResult
    public func patch(
        _ path: String, _ json: String? = nil, headers: HTTPFields = [:], expect status: HTTPResponse.Status? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> APIResponse {
        try await send(.patch, path, json, headers: headers, expect: status, sourceLocation: sourceLocation)
    }

    @discardableResult
    public func delete(
        _ path: String, _ json: String? = nil, headers: HTTPFields = [:], expect status: HTTPResponse.Status? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> APIResponse {
        try await send(.delete, path, json, headers: headers, expect: status, sourceLocation: sourceLocation)
    }
}

/// An answer: status, headers and the body's bytes, with JSON views for assertions.
public struct APIResponse: Sendable {
    public let status: HTTPResponse.Status
    public let headers: HTTPFields
    public let body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object (`[String: Any]`); a test failure when it is not one.
    public func json(sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
        return try #require(object as? [String: Any], "not a JSON object: \(text)", sourceLocation: sourceLocation)
    }

    /// The body as a JSON array.
    public func jsonArray(sourceLocation: SourceLocation = #_sourceLocation) throws -> [Any] {
        let object = try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
        return try #require(object as? [Any], "not a JSON array: \(text)", sourceLocation: sourceLocation)
    }

    /// The body decoded with `decoder` (the platform's snake_case style by default).
    public func decode<T: Decodable>(_ type: T.Type, decoder: JSONDecoder = APIResponse.platformDecoder) throws -> T {
        try decoder.decode(T.self, from: Data(body))
    }

    public static var platformDecoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// The error shape's `code` and `details.field`, when the body is an error.
    public var errorCode: String? { ((try? jsonObject())?["error"] as? [String: Any])?["code"] as? String }
    public var errorField: String? { (((try? jsonObject())?["error"] as? [String: Any])?["details"] as? [String: Any])?["field"] as? String }
    public var errorMessage: String? { ((try? jsonObject())?["error"] as? [String: Any])?["message"] as? String }

    /// Records an issue unless this is an error answer with `status`, naming `field` (nil: any or none).
    public func expectError(_ status: HTTPResponse.Status, field: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(self.status == status, "\(text)", sourceLocation: sourceLocation)
        #expect(errorMessage != nil, "\(text)", sourceLocation: sourceLocation)
        if let field { #expect(errorField == field, "\(text)", sourceLocation: sourceLocation) }
    }

    private func jsonObject() throws -> [String: Any]? {
        try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
    }
}

extension HTTPFields {
    /// `X-Slipway-Actor: name` and its signature, as the gateway forwards the caller it authenticated:
    /// `headers: .actor("alice")` (signed with the test services' secret, `TestInfrastructure.actorSecret`).
    public static func actor(_ name: String, signedWith secret: String = TestInfrastructure.actorSecret) -> HTTPFields {
        [.actor: name, ActorVoucher.signatureField: ActorVoucher(secret: secret).signature(for: name)]
    }
}
