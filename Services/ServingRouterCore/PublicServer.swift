import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayPlatform
import Synchronization

/// The public port as a plain SwiftNIO HTTP/1.1 forwarder: a request is decided (`PublicAPI`) and
/// forwarded on the event loop that read it, over that loop's keep-alive connections to the revision,
/// and the answer is written back in one flush. No task or thread hop on the way (the Hummingbird +
/// AsyncHTTPClient version added ~1 ms per request on two cores, mostly thread wake-ups).
final class PublicServer: Service, Sendable {
    let api: PublicAPI
    let host: String
    let port: Int
    /// Threads of the event-loop group the server makes for itself (and shuts down) in `run`.
    let eventLoops: Int
    let upstreamTimeoutSeconds: Int
    let maxIdlePerAddress: Int
    let logger: Logger
    let boundPort = Mutex<Int?>(nil)
    static let maxBodyBytes = 16 * 1024 * 1024

    init(api: PublicAPI, host: String, port: Int, eventLoops: Int, upstreamTimeoutSeconds: Int, maxIdlePerAddress: Int, logger: Logger) {
        self.api = api
        self.host = host
        self.port = port
        self.eventLoops = eventLoops
        self.upstreamTimeoutSeconds = upstreamTimeoutSeconds
        self.maxIdlePerAddress = maxIdlePerAddress
        self.logger = logger
    }

    /// Serves until graceful shutdown; the event loops (and with them every connection) end with it, also
    /// when binding fails.
    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: eventLoops)
        do {
            try await serve(on: group)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
    }

    private func serve(on group: MultiThreadedEventLoopGroup) async throws {
        let api = self.api
        let logger = self.logger
        var pools: [ObjectIdentifier: NIOLoopBound<UpstreamPool>] = [:]
        for loop in group.makeIterator() {
            let timeout = TimeAmount.seconds(Int64(upstreamTimeoutSeconds))
            let maxIdle = maxIdlePerAddress
            pools[ObjectIdentifier(loop)] = try await loop.submit {
                NIOLoopBound(UpstreamPool(eventLoop: loop, timeout: timeout, maxIdlePerAddress: maxIdle), eventLoop: loop)
            }.get()
        }
        let loopPools = pools
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let pool = loopPools[ObjectIdentifier(channel.eventLoop)] else { throw ChannelError.ioOnClosedChannel }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(PublicRequestHandler(api: api, pool: pool.value, logger: logger))
                }
            }
            .bind(host: host, port: port).get()
        boundPort.withLock { $0 = channel.localAddress?.port }
        logger.info("public server listening", metadata: [LogKey.httpPort: "\(channel.localAddress?.port ?? port)"])
        // Until shutdown; then stop accepting and give exchanges in flight half a second (`run` then stops the
        // loops, which closes the connections left).
        try? await gracefulShutdown()
        try? await channel.close()
        if !Task.isCancelled { try? await Task.sleep(for: .milliseconds(500)) }
    }
}
