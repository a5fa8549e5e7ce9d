import HTTPTypes
import Hummingbird

/// The routes a service's collections declare, recorded instead of served: what the API is made of, from the
/// same declarations the router is built from (the gateway's route-agreement tests read it).
public final class RouteInventory: RouterMethods {
    public typealias Context = SlipwayRequestContext

    public struct Route: Hashable, Sendable, CustomStringConvertible {
        public var method: HTTPRequest.Method
        /// With parameters as `{name}` (`/api/endpoints/{name}/rollback`).
        public var path: String
        /// What the reference says about it; nil for a route registered without a `RouteDoc`.
        public var doc: RouteDoc?
        /// Its answer, from the doc or the handler's return type (nil: a status without a body).
        public var answer: AnswerDoc?

        public init(method: HTTPRequest.Method, path: String, doc: RouteDoc? = nil, answer: AnswerDoc? = nil) {
            self.method = method
            self.path = path
            self.doc = doc
            self.answer = answer
        }

        public var description: String { "\(method.rawValue) \(path)" }

        public static func == (left: Route, right: Route) -> Bool { left.method == right.method && left.path == right.path }
        public func hash(into hasher: inout Hasher) {
            hasher.combine(method)
            hasher.combine(path)
        }

        /// The path with every parameter replaced by `value`: a concrete request for it.
        public func concretePath(_ value: String = "x") -> String {
            path.split(separator: "/", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("{") && $0.hasSuffix("}") ? Substring(value) : $0 }
                .joined(separator: "/")
        }
    }

    public private(set) var routes: [Route] = []

    public init(_ collections: [RouteCollection<SlipwayRequestContext>] = []) {
        for collection in collections { addRoutes(collection) }
    }

    @discardableResult
    public func on<Responder: HTTPResponder>(_ path: RouterPath, method: HTTPRequest.Method, responder: Responder) -> Self
    where Responder.Context == Context {
        let documented = responder as? DocumentedResponder<Context>
        routes.append(Route(method: method, path: path.description, doc: documented?.doc, answer: documented?.answer))
        return self
    }

    public func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self { self }
}
