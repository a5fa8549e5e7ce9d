import NIOCore
import NIOHTTP1
import NIOPosix
import SlipwayStatistics
import Synchronization

/// What a load test sends and how hard: prebuilt requests sent in turn over keep-alive connections, for a duration.
public struct LoadPlan: Sendable {
    public struct Request: Sendable {
        public var method: HTTPMethod
        public var path: String
        public var headers: [(String, String)]
        public var body: [UInt8]

        public init(method: HTTPMethod = .POST, path: String, headers: [(String, String)] = [], body: [UInt8] = []) {
            self.method = method
            self.path = path
            self.headers = headers
            self.body = body
        }
    }

    public var host: String
    public var port: Int
    /// At least one; connection `i` starts at request `i` and goes through them in turn.
    public var requests: [Request]
    public var connections: Int
    /// nil: closed loop, each connection sends its next request as soon as the last is answered (what wrk does).
    /// Otherwise the connections together are paced to this many requests per second.
    public var targetRPS: Int?
    public var duration: Duration
    /// A request unanswered this long is a `timeout` error, and its connection is replaced.
    public var requestTimeout: Duration

    public init(
        host: String, port: Int, requests: [Request], connections: Int, targetRPS: Int? = nil, duration: Duration,
        requestTimeout: Duration = .seconds(10)
    ) {
        self.host = host
        self.port = port
        self.requests = requests
        self.connections = connections
        self.targetRPS = targetRPS
        self.duration = duration
        self.requestTimeout = requestTimeout
    }
}

/// One second of a load test: the requests that ended in it.
public struct LoadSecond: Sendable {
    public var second: Int
    public var requests = 0
    public var errors = 0
    /// Latency of the answered requests, in microseconds.
    public var latency = LatencySketch()

    public init(second: Int) { self.second = second }

    mutating func merge(_ other: LoadSecond) {
        requests += other.requests
        errors += other.errors
        latency.merge(other.latency)
    }
}

/// What a load test measured.
public struct LoadReport: Sendable {
    /// Requests that ended: answered with any status, or failed without an answer (timeout, connection).
    public var requests = 0
    public var succeeded = 0
    public var failed: Int { requests - succeeded }
    /// Why requests failed: the status code ("500") or "timeout" / "connection".
    public var errorsByStatus: [String: Int] = [:]
    /// Every answered request's latency, in microseconds.
    public var latency = LatencySketch()
    /// One entry per second since the start, gaps included.
    public var seconds: [LoadSecond] = []
    public var elapsed: Duration = .zero

    public var achievedRPS: Double {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return seconds > 0 ? Double(requests) / seconds : 0
    }

    /// The latency quantile in milliseconds (0 when nothing was answered).
    public func latencyMs(_ quantile: Double) -> Double { (latency.quantile(quantile) ?? 0) / 1000 }
}

/// How far a running load test has got: the seconds that are over.
public struct LoadProgress: Sendable {
    public var elapsedSeconds = 0
    public var requests = 0
    public var errors = 0
    /// Requests of the last complete second.
    public var lastSecondRequests = 0
    public var lastSecondP99Ms = 0.0
    /// Every complete second so far, in order: what a live chart draws.
    public var seconds: [LoadSecond] = []
}

public enum LoadGeneratorError: Error, CustomStringConvertible {
    case unreachable(host: String, port: Int, underlying: any Error)

    public var description: String {
        switch self {
        case .unreachable(let host, let port, let error): "cannot connect to \(host):\(port): \(error)"
        }
    }
}

/// A load generator on SwiftNIO: `connections` keep-alive HTTP/1.1 connections spread over the event loops, each with
/// one request in flight. Every connection counts on its own event loop, without locks; once a second the finished
/// seconds are collected, which is what `progress` shows. Cancelling the task running `run()` stops it within 100 ms.
///
/// Latency is measured from the moment a request is written to the end of its answer. Paced runs (`targetRPS`)
/// measure from the actual send, so a server that falls behind shows as a lower achieved rate, not as queueing delay.
///
/// The end is one instant, the cutoff, that every connection reads for itself: nothing is sent at or after it and
/// an answer arriving after it is not counted. The report's duration is from the start to the cutoff, so its rate
/// stays exact however late a busy machine gets round to closing the connections.
public final class LoadGenerator: Sendable {
    public let plan: LoadPlan
    let group: any EventLoopGroup
    private let collected = Mutex(Collected())
    private let cutoff = LoadCutoff()

    struct Collected {
        var seconds: [Int: LoadSecond] = [:]
        var complete = 0
    }

    public init(plan: LoadPlan, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        precondition(!plan.requests.isEmpty && plan.connections > 0, "a load plan needs requests and connections")
        self.plan = plan
        self.group = group
    }

    public var progress: LoadProgress {
        collected.withLock { collected in
            var progress = LoadProgress(elapsedSeconds: collected.complete)
            for second in collected.seconds.values {
                progress.requests += second.requests
                progress.errors += second.errors
            }
            if let last = collected.seconds[collected.complete - 1] {
                progress.lastSecondRequests = last.requests
                progress.lastSecondP99Ms = (last.latency.quantile(0.99) ?? 0) / 1000
            }
            progress.seconds = (0..<collected.complete).map { collected.seconds[$0] ?? LoadSecond(second: $0) }
            return progress
        }
    }

    /// Connects every connection (throws `unreachable` when one cannot connect), sends for the plan's duration or until
    /// the task is cancelled, and reports what was measured until then.
    public func run() async throws -> LoadReport {
        let templates = plan.requests.map(RequestTemplate.init)
        var connections: [LoadConnection] = []
        for index in 0..<plan.connections {
            connections.append(LoadConnection(index: index, plan: plan, templates: templates, cutoff: cutoff, loop: group.next()))
        }
        do {
            for connection in connections { try await connection.connect().get() }
        } catch {
            for connection in connections { try? await connection.stop().get() }
            throw LoadGeneratorError.unreachable(host: plan.host, port: plan.port, underlying: error)
        }
        let start = NIODeadline.now()
        let end = start + .nanoseconds(Int64(plan.duration.components.seconds) * 1_000_000_000 + plan.duration.components.attoseconds / 1_000_000_000)
        cutoff.set(end)
        for connection in connections { connection.begin(at: start) }
        var harvested = 0
        while true {
            let now = NIODeadline.now()
            if Task.isCancelled { cutoff.bringForward(to: now) }
            if now >= cutoff.instant { break }
            let second = Int((now - start).nanoseconds / 1_000_000_000)
            if second > harvested {
                await collect(from: connections, before: second)
                harvested = second
            }
            try? await Task.sleep(for: .milliseconds(min(100, max(1, (end - now).nanoseconds / 1_000_000))))
        }
        let stoppedAt = cutoff.instant
        // All at once: one by one, a connection waiting its turn on a busy loop would hold up the report.
        try? await EventLoopFuture.andAllComplete(connections.map { $0.stop() }, on: group.next()).get()
        await collect(from: connections, before: Int.max)

        var report = LoadReport()
        report.elapsed = .nanoseconds((stoppedAt - start).nanoseconds)
        for connection in connections {
            for (reason, count) in try await connection.loop.submit({ connection.errorsByStatus }).get() {
                report.errorsByStatus[reason, default: 0] += count
            }
        }
        let seconds = collected.withLock { $0.seconds }
        // Every whole second the run lasted, a quiet one too (a stall is a second of nothing, not a gap), and any
        // second something was answered in.
        let last = max(seconds.keys.max() ?? -1, Int(report.elapsed.components.seconds) - 1)
        for index in 0...max(last, 0) where last >= 0 {
            let second = seconds[index] ?? LoadSecond(second: index)
            report.seconds.append(second)
            report.requests += second.requests
            report.succeeded += second.requests - second.errors
            report.latency.merge(second.latency)
        }
        return report
    }

    /// Moves every connection's seconds before `second` into the collected series, all at once, so `progress`
    /// never shows a second that only some connections have handed over.
    private func collect(from connections: [LoadConnection], before second: Int) async {
        var taken: [LoadSecond] = []
        for connection in connections {
            taken += (try? await connection.loop.submit({ connection.take(before: second) }).get()) ?? []
        }
        collected.withLock { collected in
            for entry in taken { collected.seconds[entry.second, default: LoadSecond(second: entry.second)].merge(entry) }
            if second != Int.max { collected.complete = max(collected.complete, second) }
        }
    }
}

/// The instant a load test ends, shared by its connections: the plan's end, or earlier when it is cancelled.
final class LoadCutoff: Sendable {
    private let uptimeNanoseconds = Atomic<UInt64>(.max)

    var instant: NIODeadline { .uptimeNanoseconds(uptimeNanoseconds.load(ordering: .relaxed)) }

    func set(_ deadline: NIODeadline) { uptimeNanoseconds.store(deadline.uptimeNanoseconds, ordering: .relaxed) }

    func bringForward(to deadline: NIODeadline) { uptimeNanoseconds.min(deadline.uptimeNanoseconds, ordering: .relaxed) }

    func hasPassed(_ now: NIODeadline) -> Bool { now.uptimeNanoseconds >= uptimeNanoseconds.load(ordering: .relaxed) }
}

/// A request encoded once: the head and the body are sent as they are, again and again.
struct RequestTemplate: Sendable {
    let head: HTTPRequestHead
    let body: ByteBuffer

    init(_ request: LoadPlan.Request) {
        var headers = HTTPHeaders(request.headers)
        if !headers.contains(name: "Content-Type") { headers.add(name: "Content-Type", value: "application/json") }
        headers.replaceOrAdd(name: "Content-Length", value: "\(request.body.count)")
        head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.path, headers: headers)
        body = ByteBuffer(bytes: request.body)
    }
}

/// One connection of a load test. Everything mutable is touched on `loop` only (NIO's event-loop confinement), which
/// is why it can be `@unchecked Sendable`.
final class LoadConnection: @unchecked Sendable {
    let index: Int
    let plan: LoadPlan
    let templates: [RequestTemplate]
    let cutoff: LoadCutoff
    let loop: any EventLoop
    /// Between two sends of this connection when paced.
    let interval: TimeAmount?

    private var channel: (any Channel)?
    /// Bumped on every new channel: events of a replaced channel are ignored.
    private var generation = 0
    private var stopped = false
    private var start = NIODeadline.now()
    private var nextSend = NIODeadline.now()
    private var nextRequest: Int
    private var inFlightSince: NIODeadline?
    private var status = 0
    private var timeout: Scheduled<Void>?
    private var seconds: [Int: LoadSecond] = [:]
    private(set) var errorsByStatus: [String: Int] = [:]

    init(index: Int, plan: LoadPlan, templates: [RequestTemplate], cutoff: LoadCutoff, loop: any EventLoop) {
        self.index = index
        self.plan = plan
        self.templates = templates
        self.cutoff = cutoff
        self.loop = loop
        self.nextRequest = index % templates.count
        if let rate = plan.targetRPS, rate > 0 {
            interval = .nanoseconds(Int64(1_000_000_000.0 * Double(plan.connections) / Double(rate)))
        } else {
            interval = nil
        }
    }

    func connect() -> EventLoopFuture<Void> {
        loop.flatSubmit { self.openChannel() }
    }

    private func openChannel() -> EventLoopFuture<Void> {
        generation += 1
        let generation = generation
        return ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(LoadResponseHandler(connection: self, generation: generation))
                }
            }
            .connect(host: plan.host, port: plan.port)
            .map { channel in
                if self.stopped { channel.close(promise: nil) } else { self.channel = channel }
            }
    }

    /// Starts sending; paced connections are spread evenly over the first interval.
    func begin(at start: NIODeadline) {
        loop.execute {
            self.start = start
            if let interval = self.interval {
                self.nextSend = start + .nanoseconds(interval.nanoseconds * Int64(self.index) / Int64(self.plan.connections))
                self.loop.scheduleTask(deadline: self.nextSend) { self.send() }
            } else {
                self.send()
            }
        }
    }

    func stop() -> EventLoopFuture<Void> {
        loop.flatSubmit {
            self.stopped = true
            self.timeout?.cancel()
            // The request in flight is not counted: it was cut off by the end, not by the server.
            self.inFlightSince = nil
            guard let channel = self.channel else { return self.loop.makeSucceededVoidFuture() }
            self.channel = nil
            return channel.close().recover { _ in }
        }
    }

    /// The seconds before `second`, handed over and forgotten here.
    func take(before second: Int) -> [LoadSecond] {
        let keys = seconds.keys.filter { $0 < second }
        return keys.compactMap { seconds.removeValue(forKey: $0) }
    }

    private func send() {
        guard !stopped, inFlightSince == nil, let channel, !cutoff.hasPassed(.now()) else { return }
        let template = templates[nextRequest]
        nextRequest = (nextRequest + 1) % templates.count
        status = 0
        inFlightSince = .now()
        channel.write(HTTPClientRequestPart.head(template.head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(template.body)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let generation = generation
        timeout = loop.scheduleTask(in: .nanoseconds(Int64(plan.requestTimeout.components.seconds) * 1_000_000_000)) {
            guard generation == self.generation, self.inFlightSince != nil else { return }
            self.failed("timeout")
        }
    }

    func head(_ code: Int, generation: Int) {
        if generation == self.generation { status = code }
    }

    func answered(generation: Int) {
        guard generation == self.generation, !stopped, let since = inFlightSince else { return }
        let now = NIODeadline.now()
        inFlightSince = nil
        timeout?.cancel()
        // Cut off by the end, like the one in flight when the connection stops: neither counted nor followed.
        if cutoff.hasPassed(now) { return }
        var second = seconds[secondOf(now), default: LoadSecond(second: secondOf(now))]
        second.requests += 1
        second.latency.add(Double((now - since).nanoseconds) / 1000)
        if !(200..<300).contains(status) {
            second.errors += 1
            errorsByStatus["\(status)", default: 0] += 1
        }
        seconds[second.second] = second
        next(after: now)
    }

    /// The connection ended or broke: the request in flight (if any) failed, and a new connection replaces it.
    func closed(generation: Int) {
        guard generation == self.generation, !stopped else { return }
        if inFlightSince != nil { failed("connection") } else { replaceChannel(after: .zero) }
    }

    private func failed(_ reason: String) {
        let now = NIODeadline.now()
        inFlightSince = nil
        timeout?.cancel()
        if cutoff.hasPassed(now) { return }
        var second = seconds[secondOf(now), default: LoadSecond(second: secondOf(now))]
        second.requests += 1
        second.errors += 1
        seconds[second.second] = second
        errorsByStatus[reason, default: 0] += 1
        // A refused connection is retried after a pause, not in a tight loop.
        replaceChannel(after: reason == "connection" ? .milliseconds(50) : .zero)
    }

    private func replaceChannel(after delay: TimeAmount) {
        let old = channel
        channel = nil
        generation += 1
        old?.close(promise: nil)
        loop.scheduleTask(in: delay) {
            guard !self.stopped else { return }
            self.openChannel().whenComplete { result in
                switch result {
                case .success: self.next(after: .now())
                case .failure: self.failed("connection")
                }
            }
        }
    }

    private func next(after now: NIODeadline) {
        guard !stopped else { return }
        guard let interval else { return send() }
        nextSend = nextSend + interval
        // Far behind (a slow server): start again from now rather than sending a burst to catch up.
        if nextSend + interval < now { nextSend = now }
        if nextSend <= now { return send() }
        loop.scheduleTask(deadline: nextSend) { self.send() }
    }

    private func secondOf(_ instant: NIODeadline) -> Int { max(0, Int((instant - start).nanoseconds / 1_000_000_000)) }
}

/// Reads answers off a load connection's channel.
final class LoadResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    let connection: LoadConnection
    let generation: Int

    init(connection: LoadConnection, generation: Int) {
        self.connection = connection
        self.generation = generation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): connection.head(Int(head.status.code), generation: generation)
        case .body: break
        case .end: connection.answered(generation: generation)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.closed(generation: generation)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
