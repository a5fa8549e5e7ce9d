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
            let exchange = Exchange(head: head, body: body, pathAndQuery: pathAndQuery, requestID: requestID, keepAlive: keepAlive, start: start)
            forward(context: context, exchange, endpoint: endpoint, index: index, record: record)
        }
    }

    /// What stays the same while a request is forwarded, held or retried.
    struct Exchange {
        let head: HTTPRequestHead
        let body: ByteBuffer
        let pathAndQuery: String
        let requestID: String
        let keepAlive: Bool
        let start: NIODeadline
    }

    /// Where a request is on its way: the revisions and instances tried, and since when it counts in its revision's load.
    struct Attempt {
        var triedRevisions: Set<String> = []
        var triedInstances: Set<String> = []
        /// When the current revision's load began counting this request (nil: not yet).
        var loadSince: NIODeadline?
    }

    /// Sends the request to the least busy instance of `split.routes[index]`. An instance that cannot be reached is
    /// left for another instance of the revision, then for another revision of the split; a revision scaled to zero
    /// holds the request while it wakes.
    private func forward(
        context: ChannelHandlerContext, _ exchange: Exchange, endpoint: RoutingTable.Endpoint, index: Int, record: RequestLogRecord,
        attempt: Attempt = Attempt()
    ) {
        var record = record
        var attempt = attempt
        let route = endpoint.split.routes[index]
        PublicAPI.route(route, into: &record)
        if attempt.loadSince == nil {
            route.load.begin()
            attempt.loadSince = .now()
        }
        guard let instance = route.leastOutstanding(excluding: attempt.triedInstances) else {
            if route.instances.isEmpty {
                hold(
                    context: context, exchange, endpoint: endpoint, revisionID: route.revisionID, record: record, attempt: attempt,
                    deadline: .now() + api.coldStartTimeout)
            } else {
                unreachable(context: context, exchange, endpoint: endpoint, index: index, record: record, attempt: attempt)
            }
            return
        }
        instance.outstanding.add(1, ordering: .relaxed)
        instance.sent.add(1, ordering: .relaxed)
        let upstreamStart = NIODeadline.now()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let routed = record
        let sent = attempt
        pool.send(
            address: instance.address, method: exchange.head.method, uri: exchange.pathAndQuery,
            contentType: exchange.head.headers.first(name: "Content-Type"), body: exchange.body
        ).whenComplete { result in
            instance.outstanding.subtract(1, ordering: .relaxed)
            let (handler, context) = loopBound.value
            var record = routed
            record.upstreamLatencyMicros = (NIODeadline.now() - upstreamStart).nanoseconds / 1000
            switch result {
            case .success(let answer):
                route.load.end(micros: (NIODeadline.now() - (sent.loadSince ?? upstreamStart)).nanoseconds / 1000)
                if answer.status.code >= 400 {
                    record.error = "upstream_\(answer.status.code)"
                } else {
                    record.responseBody = answer.body
                }
                handler.respond(
                    context: context, status: answer.status, contentType: answer.contentType, body: answer.body,
                    requestID: exchange.requestID, keepAlive: exchange.keepAlive, record: record, start: exchange.start, upstreamFailed: false)
            case .failure(let error):
                handler.logger.debug(
                    "instance unreachable", metadata: [LogKey.revisionID: "\(route.revisionID)", LogKey.error: "\(error)"])
                var next = sent
                next.triedInstances.insert(instance.address)
                handler.forward(context: context, exchange, endpoint: endpoint, index: index, record: record, attempt: next)
            }
        }
    }

    /// Every instance of the revision failed: this revision counts an error, and the request goes to another revision of
    /// the split if there is one, else is answered 502.
    private func unreachable(
        context: ChannelHandlerContext, _ exchange: Exchange, endpoint: RoutingTable.Endpoint, index: Int, record: RequestLogRecord,
        attempt: Attempt
    ) {
        var record = record
        var attempt = attempt
        let route = endpoint.split.routes[index]
        let elapsed = (NIODeadline.now() - exchange.start).nanoseconds / 1000
        route.load.end(micros: (NIODeadline.now() - (attempt.loadSince ?? exchange.start)).nanoseconds / 1000)
        attempt.loadSince = nil
        api.stats.record(revisionID: route.revisionID, endpointID: endpoint.endpointID, latencyMicros: elapsed, isError: true)
        attempt.triedRevisions.insert(route.revisionID)
        if let next = endpoint.split.fallback(after: index), !attempt.triedRevisions.contains(endpoint.split.routes[next].revisionID) {
            forward(context: context, exchange, endpoint: endpoint, index: next, record: record, attempt: attempt)
            return
        }
        record.error = "upstream_unavailable"
        respond(
            context: context, status: .badGateway, contentType: nil,
            body: ByteBuffer(string: PublicAPI.errorBody("revision \(route.revisionID) of endpoint \(endpoint.name) is unavailable")),
            requestID: exchange.requestID, keepAlive: exchange.keepAlive, record: record, start: exchange.start, upstreamFailed: true,
            countStats: false)
    }

    /// The revision is scaled to zero: asks deploy-svc to wake it and looks at the routing table every 20 ms until an
    /// instance is there (then forwards), the revision left the split (then the split decides again), the client left, or
    /// `deadline` passed (503 with `Retry-After`).
    private func hold(
        context: ChannelHandlerContext, _ exchange: Exchange, endpoint: RoutingTable.Endpoint, revisionID: String, record: RequestLogRecord,
        attempt: Attempt, deadline: NIODeadline
    ) {
        api.waker.wake(revisionID)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: .milliseconds(20)) {
            let (handler, context) = loopBound.value
            let table = handler.api.store.current
            let current = table.endpointsByName[endpoint.name].map {
                (endpoint: $0, index: $0.split.routes.firstIndex { $0.revisionID == revisionID })
            }
            let waited = (NIODeadline.now() - (attempt.loadSince ?? exchange.start)).nanoseconds / 1000
            if let current, let index = current.index {
                let route = current.endpoint.split.routes[index]
                if !route.instances.isEmpty {
                    handler.forward(context: context, exchange, endpoint: current.endpoint, index: index, record: record, attempt: attempt)
                } else if !context.channel.isActive {
                    route.load.end(micros: waited)
                } else if NIODeadline.now() < deadline {
                    handler.hold(
                        context: context, exchange, endpoint: current.endpoint, revisionID: revisionID, record: record, attempt: attempt,
                        deadline: deadline)
                } else {
                    route.load.end(micros: waited)
                    var record = record
                    record.error = "cold_start_timeout"
                    handler.respond(
                        context: context, status: .serviceUnavailable, contentType: nil,
                        body: ByteBuffer(
                            string: PublicAPI.errorBody(
                                "revision \(revisionID) of endpoint \(endpoint.name) is scaled to zero and did not start within "
                                    + "\(handler.api.coldStartTimeout.nanoseconds / 1_000_000_000) s; retry shortly")),
                        requestID: exchange.requestID, keepAlive: exchange.keepAlive, record: record, start: exchange.start,
                        upstreamFailed: true, retryAfterSeconds: 5)
                }
                return
            }
            // The revision left the split while it woke (a rollback, a new split): the split as it is now decides.
            endpoint.split.routes.first { $0.revisionID == revisionID }?.load.end(micros: waited)
            if let fresh = current?.endpoint, let index = fresh.split.index(forCustomer: record.customerID) {
                handler.forward(context: context, exchange, endpoint: fresh, index: index, record: record)
            } else {
                var record = record
                record.error = "no_serving_revision"
                handler.respond(
                    context: context, status: .serviceUnavailable, contentType: nil,
                    body: ByteBuffer(string: PublicAPI.errorBody("endpoint \(endpoint.name) has no serving revision")),
                    requestID: exchange.requestID, keepAlive: exchange.keepAlive, record: record, start: exchange.start, upstreamFailed: false)
            }
        }
    }

    private func respond(
        context: ChannelHandlerContext, status: HTTPResponseStatus, contentType: String?, body: ByteBuffer, requestID: String,
        keepAlive: Bool, record: RequestLogRecord, start: NIODeadline, upstreamFailed: Bool, countStats: Bool = true, retryAfterSeconds: Int? = nil
    ) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(5)
        if let retryAfterSeconds { headers.add(name: "Retry-After", value: String(retryAfterSeconds)) }
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
