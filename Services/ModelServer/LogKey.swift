/// Log metadata keys of ModelServer, dotted lowercase (STYLE.md), listed once.
enum LogKey {
    static let batchMaxSize = "batch.max_size"
    static let bundle = "slipway.bundle.path"
    static let candidates = "slipway.bundle.candidates"
    static let error = "error"
    static let httpPort = "http.port"
    static let model = "slipway.model.name"
    static let version = "slipway.model.version"
}
