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

/// One public connection: collects a request, asks `PublicAPI`, forwards it, writes the answer.
final class PublicRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let api: PublicAPI
    let pool: UpstreamPool
    let logger: Logger
    private var assembler = HTTPRequestAssembler(maxBodyBytes: PublicServer.maxBodyBytes)

    init(api: PublicAPI, pool: UpstreamPool, logger: Logger) {
        self.api = api
        self.pool = pool
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let request = assembler.add(unwrapInboundIn(data)) else { return }
        handle(context: context, head: request.head, body: request.body ?? ByteBuffer(), tooLarge: request.tooLarge)
    }

    private func handle(context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer, tooLarge: Bool) {
        let start = NIODeadline.now()
        let requestID =
            head.headers.first(name: "X-Request-ID").flatMap { $0.isEmpty ? nil : String($0.prefix(128)) }
            ?? UUID.v7().uuidString.lowercased()
        var record = RequestLogRecord(requestID: requestID, endpointID: "", endpointName: "", api: .unspecified, receivedAt: Date(), status: 0)
        let keepAlive = head.isKeepAlive
        if tooLarge {
            record.error = "body_too_large"
            respond(
                context: context, status: .payloadTooLarge, contentType: nil,
                body: ByteBuffer(string: PublicAPI.errorBody("request body is larger than \(PublicServer.maxBodyBytes) bytes")),
                requestID: requestID, keepAlive: false, record: record, start: start, upstreamFailed: false)
            return
        }
        switch api.decide(
            method: head.method, uri: head.uri, authorization: head.headers.first(name: "Authorization"),
            loadTest: head.headers.contains(name: PublicAPI.loadTestHeader), body: body, record: &record)
        {
        case .respond(let status, let text):
            respond(
                context: context, status: status, contentType: nil, body: ByteBuffer(string: text), requestID: requestID,
                keepAlive: keepAlive, record: record, start: start, upstreamFailed: false)
        case .forward(let endpoint, let index, let pathAndQuery):
            forward(
                context: context, head: head, body: body, endpoint: endpoint, index: index, tried: [], pathAndQuery: pathAndQuery,
                requestID: requestID, keepAlive: keepAlive, record: record, start: start)
        }
    }

    private func forward(
        context: ChannelHandlerContext, head: HTTPRequestHead, body: ByteBuffer, endpoint: RoutingTable.Endpoint, index: Int,
        tried: Set<Int>, pathAndQuery: String, requestID: String, keepAlive: Bool, record: RequestLogRecord, start: NIODeadline
    ) {
        var record = record
        let route = endpoint.split.routes[index]
        PublicAPI.route(route, into: &record)
        let upstreamStart = NIODeadline.now()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let routed = record
        pool.send(address: route.address, method: head.method, uri: pathAndQuery, contentType: head.headers.first(name: "Content-Type"), body: body)
            .whenComplete { result in
                let (handler, context) = loopBound.value
                var record = routed
                record.upstreamLatencyMicros = (NIODeadline.now() - upstreamStart).nanoseconds / 1000
                switch result {
                case .success(let answer):
                    if answer.status.code >= 400 {
                        record.error = "upstream_\(answer.status.code)"
                    } else {
                        record.responseBody = answer.body
                    }
                    handler.respond(
                        context: context, status: answer.status, contentType: answer.contentType, body: answer.body,
                        requestID: requestID, keepAlive: keepAlive, record: record, start: start, upstreamFailed: false)
                case .failure(let error):
                    // This revision counts an error; the request goes to another revision of the split if there is one.
                    handler.api.stats.record(
                        revisionID: route.revisionID, endpointID: endpoint.endpointID,
                        latencyMicros: (NIODeadline.now() - start).nanoseconds / 1000, isError: true)
                    let tried = tried.union([index])
                    if let next = endpoint.split.fallback(after: index), !tried.contains(next) {
                        handler.logger.debug(
                            "revision unreachable, trying another", metadata: [LogKey.revisionID: "\(route.revisionID)", LogKey.error: "\(error)"])
                        handler.forward(
                            context: context, head: head, body: body, endpoint: endpoint, index: next, tried: tried, pathAndQuery: pathAndQuery,
                            requestID: requestID, keepAlive: keepAlive, record: record, start: start)
                        return
                    }
                    record.error = "upstream_unavailable"
                    handler.respond(
                        context: context, status: .badGateway, contentType: nil,
                        body: ByteBuffer(string: PublicAPI.errorBody("revision \(route.revisionID) of endpoint \(endpoint.name) is unavailable")),
                        requestID: requestID, keepAlive: keepAlive, record: record, start: start, upstreamFailed: true, countStats: false)
                }
            }
    }

    private func respond(
        context: ChannelHandlerContext, status: HTTPResponseStatus, contentType: String?, body: ByteBuffer, requestID: String,
        keepAlive: Bool, record: RequestLogRecord, start: NIODeadline, upstreamFailed: Bool, countStats: Bool = true
    ) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(4)
        headers.add(name: "Content-Type", value: contentType ?? "application/json; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "X-Request-ID", value: requestID)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        }
        var record = record
        record.status = Int(status.code)
        record.latencyMicros = (NIODeadline.now() - start).nanoseconds / 1000
        RequestCounters.shared.increment(status: record.status)
        if countStats {
            api.finish(record, upstreamFailed: upstreamFailed)
        } else {
            api.logs.append(record)
        }
    }
}
