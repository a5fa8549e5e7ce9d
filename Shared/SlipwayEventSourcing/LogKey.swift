/// Log metadata keys, dotted lowercase (STYLE.md), listed once. A module adds its own in one
/// `LogKey+<Module>.swift` extension; nothing logs a key spelled inline.
public enum LogKey {
    public static let error = "error"
    public static let attempt = "slipway.attempt"
    public static let aggregateID = "slipway.aggregate.id"
    public static let eventID = "slipway.event.id"
    public static let eventType = "slipway.event.type"
    public static let service = "slipway.service"
    /// The service whose events a projector folds.
    public static let source = "slipway.source"
    public static let checkpoint = "slipway.checkpoint"
    public static let nextBuffered = "slipway.next_buffered"
    public static let kafkaTopic = "kafka.topic"
    public static let kafkaOffset = "kafka.offset"
    public static let kafkaBrokers = "kafka.brokers"
    public static let kafkaCluster = "kafka.cluster"
    public static let kafkaPartition = "kafka.partition"
    /// A stream ingestion's name (`StreamIngestor`).
    public static let ingestion = "slipway.ingestion"
    public static let count = "slipway.count"
    /// What a `Leadership` lock guards ("deploy-controller").
    public static let leadership = "slipway.leadership"
    public static let httpPort = "http.port"
    public static let httpRoute = "http.route"
    /// Whether a request's `X-Slipway-Actor` came with a signature at all (`ActorVouchingMiddleware`).
    public static let actorSigned = "slipway.actor.signed"
    public static let databaseName = "db.name"
    public static let migrationComponent = "slipway.migration.component"
    public static let migrationVersion = "slipway.migration.version"
}
