import Foundation
import HTTPTypes
import Hummingbird

/// What the API reference says about one route, written where the route is registered:
/// `routes.post("/api/registered-models", RouteDoc("Create a model", body: CreateBody.self, status: .created), use: create)`.
/// The request body's schema is derived from the type the handler decodes (`SchemaProbe`), which the platform checks at
/// every call; the answer's from the handler's return type.
public struct RouteDoc: Sendable {
    public var summary: String
    public var details: String?
    public var query: [QueryParameterDoc]
    public var body: BodyDoc?
    /// The status of a successful answer.
    public var status: HTTPResponse.Status
    /// The answer, when the handler's return type does not say (a `RawJSON`, a `Response`).
    public var answer: AnswerDoc?

    public init(
        _ summary: String, details: String? = nil, query: [QueryParameterDoc] = [], status: HTTPResponse.Status = .ok,
        answer: AnswerDoc? = nil
    ) {
        self.summary = summary
        self.details = details
        self.query = query
        self.status = status
        self.answer = answer
    }

    /// A route whose handler decodes `body` (`request.decode(as:)`; `required: false` for `decodeIfPresent`).
    public init<Body: Decodable>(
        _ summary: String, details: String? = nil, body: Body.Type, required: Bool = true, query: [QueryParameterDoc] = [],
        status: HTTPResponse.Status = .ok, answer: AnswerDoc? = nil
    ) {
        self.init(summary, details: details, query: query, status: status, answer: answer)
        self.body = BodyDoc(Body.self, required: required)
    }

    /// The declared body of the route being served, checked by `request.decode(as:)`.
    @TaskLocal static var servedBody: ObjectIdentifier?? = nil
}

/// A request body: JSON of a `Decodable` type.
public struct BodyDoc: Sendable {
    public let typeID: ObjectIdentifier
    public let required: Bool
    /// The schema, or why it could not be derived (a route-agreement test fails on that).
    public let schema: Result<OpenAPIValue, SchemaProbe.Failure>

    init<Body: Decodable>(_ type: Body.Type, required: Bool) {
        typeID = ObjectIdentifier(Body.self)
        self.required = required
        schema = Result { try SchemaProbe.schema(of: Body.self) }.mapError { $0 as! SchemaProbe.Failure }
    }
}

extension SchemaProbe.Failure: @unchecked Sendable {}

/// A query parameter as the handler reads it (`queryParameters.integer("limit", default: 50, in: 1...500)`).
public struct QueryParameterDoc: Sendable {
    public let name: String
    public let description: String
    public let schema: OpenAPIValue
    public let required: Bool

    public init(_ name: String, _ description: String, schema: OpenAPIValue, required: Bool = false) {
        self.name = name
        self.description = description
        self.schema = schema
        self.required = required
    }

    public static func string(_ name: String, _ description: String, oneOf values: [String]? = nil, required: Bool = false) -> Self {
        var schema: OpenAPIValue = ["type": "string"]
        if let values { schema["enum"] = .array(values.map(OpenAPIValue.string)) } else { schema["minLength"] = 1 }
        return Self(name, description, schema: schema, required: required)
    }

    public static func integer(_ name: String, _ description: String, in range: ClosedRange<Int>? = nil, default value: Int? = nil) -> Self {
        var schema: OpenAPIValue = ["type": "integer"]
        if let range {
            schema["minimum"] = .integer(range.lowerBound)
            if range.upperBound < Int.max { schema["maximum"] = .integer(range.upperBound) }
        }
        if let value { schema["default"] = .integer(value) }
        return Self(name, description, schema: schema)
    }

    public static func number(_ name: String, _ description: String, in range: ClosedRange<Double>? = nil) -> Self {
        var schema: OpenAPIValue = ["type": "number"]
        if let range {
            schema["minimum"] = .number(range.lowerBound)
            schema["maximum"] = .number(range.upperBound)
        }
        return Self(name, description, schema: schema)
    }

    public static func boolean(_ name: String, _ description: String) -> Self {
        Self(name, description, schema: ["type": "boolean"])
    }

    public static func dateTime(_ name: String, _ description: String, required: Bool = false) -> Self {
        Self(name, description, schema: ["type": "string", "format": "date-time"], required: required)
    }
}

/// An answer the handler's return type does not describe.
public struct AnswerDoc: Sendable {
    public let contentType: String
    public let schema: OpenAPIValue

    public init(contentType: String = "application/json", schema: OpenAPIValue) {
        self.contentType = contentType
        self.schema = schema
    }

    /// A `RawJSON` answer: an encoded value of `type`.
    public static func json<T: Decodable>(_ type: T.Type) -> Self {
        AnswerDoc(schema: (try? SchemaProbe.schema(of: T.self)) ?? ["type": "object", "title": .string(String(describing: T.self))])
    }

    /// A JSON answer whose type is encoded only: named, its fields not yet described.
    public static func named(_ name: String) -> Self { AnswerDoc(schema: ["type": "object", "title": .string(name)]) }

    /// Server-Sent Events; what each event carries is in the route's description.
    public static let eventStream = AnswerDoc(contentType: "text/event-stream", schema: [:])
}

/// A route's responder carrying its documentation: the router serves it, `RouteInventory` reads the documentation.
public struct DocumentedResponder<Context: RequestContext>: HTTPResponder {
    public let doc: RouteDoc
    /// The answer as the handler's return type describes it (nil: the type says nothing, see `RouteDoc.answer`).
    public let typeAnswer: AnswerDoc?
    let respond: @Sendable (Request, Context) async throws -> Response

    public func respond(to request: Request, context: Context) async throws -> Response {
        try await RouteDoc.$servedBody.withValue(.some(doc.body?.typeID)) {
            try await respond(request, context)
        }
    }

    /// The documented answer: the doc's, else the return type's; nil for a body-less status.
    public var answer: AnswerDoc? { doc.answer ?? typeAnswer }
}

/// A return type that says what its answer is (`EditedResponse<T>` answers `T`; a bare status answers nothing).
public protocol DescribedAnswer {
    static var answerDoc: AnswerDoc? { get }
}

extension EditedResponse: DescribedAnswer {
    public static var answerDoc: AnswerDoc? { AnswerDoc.of(Generator.self) }
}

extension HTTPResponse.Status: DescribedAnswer {
    public static var answerDoc: AnswerDoc? { nil }
}

extension AnswerDoc {
    /// What a handler returning `type` answers: its own description, its schema when it is also `Decodable`, or its
    /// name. `Response` and `RawJSON` say nothing; their routes' docs do.
    static func of(_ type: Any.Type) -> AnswerDoc? {
        if let described = type as? any DescribedAnswer.Type { return described.answerDoc }
        if type == Response.self || type == RawJSON.self { return AnswerDoc(schema: [:]) }
        if let decodable = type as? any Decodable.Type, let schema = try? SchemaProbe.schema(of: decodable) {
            return AnswerDoc(schema: schema)
        }
        return .named(String(describing: type))
    }
}

extension RouterMethods {
    /// Registers a documented route (`get`, `post`, … below are the spellings).
    @discardableResult
    public func on<Output: ResponseGenerator>(
        _ path: RouterPath, method: HTTPRequest.Method, _ doc: RouteDoc,
        use handler: @Sendable @escaping (Request, Context) async throws -> Output
    ) -> Self {
        let responder = DocumentedResponder<Context>(doc: doc, typeAnswer: AnswerDoc.of(Output.self)) { request, context in
            try await handler(request, context).response(from: request, context: context)
        }
        return on(path, method: method, responder: responder)
    }

    @discardableResult
    public func get<Output: ResponseGenerator>(
        _ path: RouterPath, _ doc: RouteDoc, use handler: @Sendable @escaping (Request, Context) async throws -> Output
    ) -> Self { on(path, method: .get, doc, use: handler) }

    @discardableResult
    public func post<Output: ResponseGenerator>(
        _ path: RouterPath, _ doc: RouteDoc, use handler: @Sendable @escaping (Request, Context) async throws -> Output
    ) -> Self { on(path, method: .post, doc, use: handler) }

    @discardableResult
    public func put<Output: ResponseGenerator>(
        _ path: RouterPath, _ doc: RouteDoc, use handler: @Sendable @escaping (Request, Context) async throws -> Output
    ) -> Self { on(path, method: .put, doc, use: handler) }

    @discardableResult
    public func patch<Output: ResponseGenerator>(
        _ path: RouterPath, _ doc: RouteDoc, use handler: @Sendable @escaping (Request, Context) async throws -> Output
    ) -> Self { on(path, method: .patch, doc, use: handler) }

    @discardableResult
    public func delete<Output: ResponseGenerator>(
        _ path: RouterPath, _ doc: RouteDoc, use handler: @Sendable @escaping (Request, Context) async throws -> Output
    ) -> Self { on(path, method: .delete, doc, use: handler) }
}
