/// Log metadata keys of DevBroker, dotted lowercase (STYLE.md), listed once.
enum LogKey {
    static let errno = "os.errno"
    static let kafkaBootstrap = "kafka.bootstrap"
    static let kafkaMock = "kafka.mock"
    static let proxyClientFd = "proxy.client.fd"
    static let proxyPort = "proxy.port"
    static let signal = "os.signal"
}
