import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The model server's HTTP/1.1 listener, straight on SwiftNIO: each connection's requests are parsed,
/// scored and answered on its event loop (see `ModelHTTPHandler`). A `Service`: graceful shutdown stops
/// accepting connections.
public final class ModelHTTPServer: Service {
    let api: ModelServerAPI
    let host: String
    let port: Int
    let group: any EventLoopGroup
    let logger: Logger

    public init(api: ModelServerAPI, host: String, port: Int, group: any EventLoopGroup, logger: Logger) {
        self.api = api
        self.host = host
        self.port = port
        self.group = group
        self.logger = logger
    }

    /// Binds the listening socket (port 0 picks a free one: read it from the channel's `localAddress`).
    public static func bind(api: ModelServerAPI, host: String, port: Int, group: any EventLoopGroup) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Each answer leaves in one write; without TCP_NODELAY a client's delayed ACK can still stall it.
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The answers' headers are constants of ours: the outbound header validator has nothing to catch.
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withErrorHandling: true, withOutboundHeaderValidation: false, withEncoderConfiguration: .init())
                    try channel.pipeline.syncOperations.addHandler(ModelHTTPHandler(api: api))
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    public func run() async throws {
        let channel = try await Self.bind(api: api, host: host, port: port, group: group)
        logger.info("listening", metadata: [LogKey.httpHost: "\(host)", LogKey.httpPort: "\(channel.localAddress?.port ?? port)"])
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}
