/// Log metadata keys of ModelServerCore, dotted lowercase (STYLE.md), listed once.
enum LogKey {
    static let httpHost = "http.host"
    static let httpPort = "http.port"
}
