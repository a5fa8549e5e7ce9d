/// The prediction API's routes, declared once: serving-router matches a request's path after `/{endpoint}` with them,
/// a model-server dispatches with them, and the API reference (`PredictionAPIReference`) documents each of them.
public enum PredictionRoute: CaseIterable, Sendable {
    case recommend, recommendBatch, predict, modelStatus, health

    /// `GET` or `POST`.
    public var method: String {
        switch self {
        case .recommend, .recommendBatch, .predict: "POST"
        case .modelStatus, .health: "GET"
        }
    }

    /// The path as the reference writes it; `{model}` is the served model's name.
    public var template: String {
        switch self {
        case .recommend: "/recommend"
        case .recommendBatch: "/recommend-batch"
        case .predict: "/v1/models/{model}:predict"
        case .modelStatus: "/v1/models/{model}"
        case .health: "/health"
        }
    }

    /// How the request log names it.
    public var api: ServingApi {
        switch self {
        case .recommend: .recommend
        case .recommendBatch: .recommendBatch
        case .predict: .predict
        case .modelStatus: .metadata
        case .health: .unspecified
        }
    }

    /// The route of `method path` (the path without its query), and the model a `/v1/models/…` path names; nil when
    /// the API has no such route.
    public static func match(method: String, path: Substring) -> (route: PredictionRoute, model: Substring?)? {
        switch (method, path) {
        case ("POST", "/recommend"): return (.recommend, nil)
        case ("POST", "/recommend-batch"): return (.recommendBatch, nil)
        case ("GET", "/health"): return (.health, nil)
        default: break
        }
        let prefix = "/v1/models/"
        guard path.hasPrefix(prefix) else { return nil }
        let segment = path.dropFirst(prefix.count)
        guard !segment.isEmpty, !segment.contains("/") else { return nil }
        switch method {
        case "POST":
            let suffix = ":predict"
            guard segment.hasSuffix(suffix), segment.count > suffix.count else { return nil }
            return (.predict, segment.dropLast(suffix.count))
        case "GET":
            return segment.contains(":") ? nil : (.modelStatus, segment)
        default:
            return nil
        }
    }
}
