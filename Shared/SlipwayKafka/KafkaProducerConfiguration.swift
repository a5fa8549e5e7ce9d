/// Producer settings. The producer is always idempotent with `acks=all`
/// (`enable.idempotence=true`), whatever `extra` says.
public struct KafkaProducerConfiguration: Sendable {
    public var bootstrapServers: String
    public var clientId: String
    /// `linger.ms`: how long librdkafka waits to fill a batch.
    public var lingerMs: Int
    /// Any other librdkafka property (`message.timeout.ms`, `compression.type`, ...).
    public var extra: [String: String]

    public init(
        bootstrapServers: String, clientId: String = "slipway", lingerMs: Int = 5,
        extra: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientId = clientId
        self.lingerMs = lingerMs
        self.extra = extra
    }

    var librdkafkaSettings: [(String, String)] {
        var settings: [String: String] = [
            "bootstrap.servers": bootstrapServers,
            "client.id": clientId,
            "linger.ms": String(lingerMs),
            // Reconnect quickly when a (dev) broker comes back on the same address.
            "reconnect.backoff.ms": "50",
            "reconnect.backoff.max.ms": "1000",
            // librdkafka 2.0 leaves Nagle on: small requests in flight then wait ~40 ms for
            // delayed ACKs. Off by default (override through `extra` if ever needed).
            "socket.nagle.disable": "true",
        ]
        settings.merge(extra) { _, new in new }
        settings["enable.idempotence"] = "true"
        settings["acks"] = "all"
        return settings.sorted { $0.key < $1.key }
    }
}
