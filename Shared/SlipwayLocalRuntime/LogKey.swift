/// Log metadata keys of SlipwayLocalRuntime, dotted lowercase (STYLE.md), listed once.
enum LogKey {
    static let error = "error"
    static let postgresData = "postgres.data"
    static let postgresDurable = "postgres.durable"
    static let postgresPid = "postgres.pid"
    static let postgresPort = "postgres.port"
    static let processName = "slipway.process.name"
    static let processPid = "slipway.process.pid"
    static let restartAttempt = "slipway.restart.attempt"
}
