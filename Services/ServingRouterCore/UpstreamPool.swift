import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A revision's answer.
struct UpstreamAnswer {
    let status: HTTPResponseStatus
    let contentType: String?
    let body: ByteBuffer
}

struct UpstreamError: Error, CustomStringConvertible {
    let description: String
    /// True when the connection broke before any of the answer arrived (safe to retry elsewhere).
    let beforeResponse: Bool
}

/// Keep-alive connections to revisions, one pool per event loop: a request is forwarded on a connection
/// of the loop its caller's connection lives on, so no thread hop happens between the two.
/// Only touched on its event loop.
final class UpstreamPool {
    let eventLoop: any EventLoop
    let timeout: TimeAmount
    let maxIdlePerAddress: Int
    private var idle: [String: [Channel]] = [:]
    private var parsed: [String: (host: String, port: Int)] = [:]

    init(eventLoop: any EventLoop, timeout: TimeAmount, maxIdlePerAddress: Int) {
        self.eventLoop = eventLoop
        self.timeout = timeout
        self.maxIdlePerAddress = maxIdlePerAddress
    }

    /// Sends one request to `address` ("http://host:port") and collects the whole answer.
    /// A reused connection the revision had closed meanwhile is retried once on a new connection.
    func send(address: String, method: HTTPMethod, uri: String, contentType: String?, body: ByteBuffer) -> EventLoopFuture<UpstreamAnswer> {
        eventLoop.preconditionInEventLoop()
        if let channel = takeIdle(address) {
            return exchange(channel, address: address, method: method, uri: uri, contentType: contentType, body: body)
                .assumeIsolated()
                .flatMapError { error in
                    guard let failure = error as? UpstreamError, failure.beforeResponse else { return self.eventLoop.makeFailedFuture(error) }
                    return self.connect(address).assumeIsolated().flatMap { channel in
                        self.exchange(channel, address: address, method: method, uri: uri, contentType: contentType, body: body)
                    }.nonisolated()
                }
                .nonisolated()
        }
        return connect(address).assumeIsolated().flatMap { channel in
            self.exchange(channel, address: address, method: method, uri: uri, contentType: contentType, body: body)
        }.nonisolated()
    }

    private func takeIdle(_ address: String) -> Channel? {
        while var channels = idle[address], let channel = channels.popLast() {
            idle[address] = channels
            if channel.isActive { return channel }
        }
        return nil
    }

    private func giveBack(_ channel: Channel, address: String) {
        var channels = idle[address] ?? []
        guard channel.isActive, channels.count < maxIdlePerAddress else {
            channel.close(promise: nil)
            return
        }
        channels.append(channel)
        idle[address] = channels
    }

    private func connect(_ address: String) -> EventLoopFuture<Channel> {
        let target: (host: String, port: Int)
        if let known = parsed[address] {
            target = known
        } else {
            guard let url = URLComponents(string: address), let host = url.host else {
                return eventLoop.makeFailedFuture(UpstreamError(description: "bad revision address \(address)", beforeResponse: true))
            }
            target = (host, url.port ?? (url.scheme == "https" ? 443 : 80))
            parsed[address] = target
        }
        return ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(1))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler())
                }
            }
            .connect(host: target.host, port: target.port)
            .flatMapErrorThrowing { error in throw UpstreamError(description: "connect \(address): \(error)", beforeResponse: true) }
    }

    private func exchange(_ channel: Channel, address: String, method: HTTPMethod, uri: String, contentType: String?, body: ByteBuffer)
        -> EventLoopFuture<UpstreamAnswer>
    {
        let handler: UpstreamHandler
        do {
            handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
        } catch {
            channel.close(promise: nil)
            return eventLoop.makeFailedFuture(UpstreamError(description: "no upstream handler", beforeResponse: true))
        }
        let promise = eventLoop.makePromise(of: UpstreamAnswer.self)
        handler.start(promise, timeout: timeout, channel: channel)
        var headers = HTTPHeaders()
        headers.reserveCapacity(4)
        headers.add(name: "Host", value: address.hasPrefix("http://") ? String(address.dropFirst(7)) : address)
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        if method != .GET || body.readableBytes > 0 { headers.add(name: "Content-Length", value: String(body.readableBytes)) }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if body.readableBytes > 0 { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        return promise.futureResult.assumeIsolated().map { answer in
            if handler.reusable { self.giveBack(channel, address: address) } else { channel.close(promise: nil) }
            return answer
        }.nonisolated()
    }
}
