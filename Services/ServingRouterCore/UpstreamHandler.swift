import NIOCore
import NIOHTTP1

/// Collects one response at a time on an upstream connection.
final class UpstreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart

    private var promise: EventLoopPromise<UpstreamAnswer>?
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?
    private var timer: Scheduled<Void>?
    private(set) var reusable = false

    func start(_ promise: EventLoopPromise<UpstreamAnswer>, timeout: TimeAmount, channel: Channel) {
        self.promise = promise
        head = nil
        body = nil
        reusable = false
        timer = channel.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            self?.fail(UpstreamError(description: "revision did not answer within \(timeout)", beforeResponse: false))
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let responseHead):
            head = responseHead
        case .body(var part):
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            guard let promise, let head else { return }
            self.promise = nil
            timer?.cancel()
            reusable = head.isKeepAlive
            promise.succeed(
                UpstreamAnswer(
                    status: head.status, contentType: head.headers.first(name: "Content-Type"),
                    body: body ?? ByteBuffer()))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(UpstreamError(description: "revision closed the connection", beforeResponse: head == nil))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(UpstreamError(description: "\(error)", beforeResponse: head == nil))
        context.close(promise: nil)
    }

    private func fail(_ error: UpstreamError) {
        guard let promise else { return }
        self.promise = nil
        timer?.cancel()
        promise.fail(error)
    }
}
