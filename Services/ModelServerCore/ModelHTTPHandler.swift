import NIOCore
import NIOHTTP1
import SlipwayPlatform

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One connection's HTTP/1.1 handler: collects the body, routes, scores inline on the event loop and
/// writes the answer (head and body leave in one `writev`). Keep-alive as the client asks; pipelined
/// requests are ordered by NIO's `HTTPServerPipelineHandler` in front of this one.
final class ModelHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let api: ModelServerAPI
    private var assembler = HTTPRequestAssembler(maxBodyBytes: ServingLimits.maxBodyBytes)
    /// The `Date` header (RFC 9110 asks an origin server with a clock for one), formatted once per second.
    private var dateSecond = time_t(0)
    private var dateHeader = ""

    init(api: ModelServerAPI) {
        self.api = api
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let request = assembler.add(unwrapInboundIn(data)) else { return }
        let head = request.head
        let keepAlive = head.isKeepAlive
        if request.tooLarge {
            write(
                ModelServerAPI.errorAnswer(ModelServerAPI.tooLarge, allocator: context.channel.allocator), version: head.version,
                keepAlive: keepAlive, context: context)
            return
        }
        switch api.handle(method: head.method, uri: head.uri, body: request.body, allocator: context.channel.allocator, eventLoop: context.eventLoop)
        {
        case .now(let answer):
            write(answer, version: head.version, keepAlive: keepAlive, context: context)
        case .later(let future):
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            future.whenSuccess { answer in
                let (handler, context) = bound.value
                handler.write(answer, version: head.version, keepAlive: keepAlive, context: context)
            }
        }
    }

    private func write(_ answer: APIAnswer, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(5)
        headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        headers.add(name: "Content-Length", value: String(answer.body.readableBytes))
        headers.add(name: "Date", value: httpDate())
        headers.add(name: "Server", value: "model-server")
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if version.major == 1, version.minor == 0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: answer.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(answer.body))), promise: nil)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// `Sun, 22 Nov 2026 10:22:03 GMT`
    private func httpDate() -> String {
        var now = time(nil)
        guard now != dateSecond else { return dateHeader }
        var parts = tm()
        gmtime_r(&now, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        dateSecond = now
        dateHeader =
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
        return dateHeader
    }
}
