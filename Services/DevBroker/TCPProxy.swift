import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A Kafka-aware TCP forwarder: listens on 127.0.0.1:port and pipes every accepted
/// connection to one mock broker (`target`). Requests pass through byte for byte; responses
/// are re-framed so that `Metadata`/`FindCoordinator` answers advertise the proxies'
/// stable addresses (see `KafkaAddressRewriter`). One thread per direction per connection,
/// blocking sockets, TCP_NODELAY on both sides.
final class TCPProxy: Sendable {
    let port: UInt16
    let targetHost: String
    let targetPort: UInt16
    private let listenFD: Int32
    private let logger: Logger
    private let rewriter = Mutex(KafkaAddressRewriter(addresses: [:]))
    private let stopping = Atomic<Bool>(false)

    /// Binds now (so the port is known); `port == 0` picks a free port.
    init(port: UInt16, targetHost: String, targetPort: UInt16, logger: Logger) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProxyError.system("socket", errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in.loopback(port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw ProxyError.system("bind 127.0.0.1:\(port)", code)
        }
        guard listen(fd, 128) == 0 else {
            let code = errno
            close(fd)
            throw ProxyError.system("listen", code)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = UInt16(bigEndian: actual.sin_port)
        self.listenFD = fd
        self.targetHost = targetHost
        self.targetPort = targetPort
        self.logger = logger
    }

    /// Starts accepting, advertising `rewriter`'s addresses to clients.
    func start(rewriter: KafkaAddressRewriter) {
        self.rewriter.withLock { $0 = rewriter }
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "proxy-accept"
        thread.start()
    }

    /// Stops accepting (connections already open keep running until either side closes).
    func stop() {
        stopping.store(true, ordering: .releasing)
        shutdown(listenFD, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        while true {
            let client = accept(listenFD, nil, nil)
            if stopping.load(ordering: .acquiring) {
                if client >= 0 { close(client) }
                return
            }
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                logger.error("proxy accept failed", metadata: [LogKey.errno: "\(errno)"])
                return
            }
            setNoDelay(client)
            let upstream = connectTarget()
            guard upstream >= 0 else {
                logger.warning("proxy cannot reach the mock broker", metadata: [LogKey.errno: "\(errno)"])
                close(client)
                continue
            }
            setNoDelay(upstream)
            logger.debug("proxy connection", metadata: [LogKey.proxyClientFd: "\(client)"])
            let pair = SocketPair(a: client, b: upstream, rewriter: rewriter.withLock { $0 })
            let requests = Thread { pair.pumpRequests() }
            let responses = Thread { pair.pumpResponses() }
            for pump in [requests, responses] {
                pump.name = "proxy-pump"
                pump.stackSize = 512 * 1024
                pump.start()
            }
        }
    }

    private func connectTarget() -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var address = sockaddr_in.loopback(port: targetPort)
        if targetHost != "127.0.0.1" && targetHost != "localhost" {
            _ = inet_pton(AF_INET, targetHost, &address.sin_addr)
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 {
            close(fd)
            return -1
        }
        return fd
    }

    private func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }
}

/// Both ends of one proxied connection (`a` = client, `b` = mock broker); the second pump
/// to finish closes them.
private final class SocketPair: Sendable {
    let a: Int32
    let b: Int32
    let rewriter: KafkaAddressRewriter
    private let finished = Atomic<Int>(0)
    /// Correlation id → (API key, version) of requests whose responses get rewritten.
    private let pending = Mutex<[Int32: (Int16, Int16)]>([:])

    init(a: Int32, b: Int32, rewriter: KafkaAddressRewriter) {
        self.a = a
        self.b = b
        self.rewriter = rewriter
    }

    /// Client → broker: forwards bytes as they come, noting the requests whose answers
    /// carry broker addresses (registered before the request is forwarded).
    func pumpRequests() {
        var frames = FrameAccumulator()
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(a, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            frames.append(chunk[0..<count])
            while let frame = frames.next() {
                guard frame.count >= 8 else { continue }
                let base = frame.startIndex
                let apiKey = Int16(bitPattern: UInt16(frame[base]) << 8 | UInt16(frame[base + 1]))
                guard KafkaAddressRewriter.wantsResponse(apiKey: apiKey) else { continue }
                let version = Int16(bitPattern: UInt16(frame[base + 2]) << 8 | UInt16(frame[base + 3]))
                let correlation = readInt32(frame, at: base + 4)
                pending.withLock { $0[correlation] = (apiKey, version) }
            }
            if !sendAll(b, chunk[0..<count]) { break }
        }
        tearDown()
    }

    /// Broker → client: whole frames, rewriting the ones registered by `pumpRequests`.
    func pumpResponses() {
        var frames = FrameAccumulator()
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var output: [UInt8] = []
        outer: while true {
            let count = chunk.withUnsafeMutableBytes { read(b, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            frames.append(chunk[0..<count])
            output.removeAll(keepingCapacity: true)
            while let frame = frames.next() {
                let correlation = frame.count >= 4 ? readInt32(frame, at: frame.startIndex) : -1
                if let (apiKey, version) = pending.withLock({ $0.removeValue(forKey: correlation) }) {
                    let rewritten = rewriter.rewrite(response: Array(frame), apiKey: apiKey, apiVersion: version)
                    output.append(contentsOf: withUnsafeBytes(of: Int32(rewritten.count).bigEndian, Array.init))
                    output.append(contentsOf: rewritten)
                } else {
                    output.append(contentsOf: withUnsafeBytes(of: Int32(frame.count).bigEndian, Array.init))
                    output.append(contentsOf: frame)
                }
            }
            if !output.isEmpty && !sendAll(a, output[...]) { break outer }
        }
        tearDown()
    }

    private func sendAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var sent = 0
            while sent < buffer.count {
                let n = send(fd, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                sent += n
            }
            return true
        }
    }

    /// Either side gone: tear the whole connection down so the other pump ends too.
    private func tearDown() {
        shutdown(a, Int32(SHUT_RDWR))
        shutdown(b, Int32(SHUT_RDWR))
        if finished.add(1, ordering: .acquiringAndReleasing).newValue == 2 {
            close(a)
            close(b)
        }
    }
}

private func readInt32(_ bytes: ArraySlice<UInt8>, at index: Int) -> Int32 {
    var value: UInt32 = 0
    for i in 0..<4 { value = value << 8 | UInt32(bytes[index + i]) }
    return Int32(bitPattern: value)
}

/// Splits a byte stream into Kafka frames (int32 big-endian length + payload).
struct FrameAccumulator {
    private var buffer: [UInt8] = []
    private var start = 0

    mutating func append(_ bytes: ArraySlice<UInt8>) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 1 << 20 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame's payload (without the length prefix), if any.
    mutating func next() -> ArraySlice<UInt8>? {
        guard buffer.count - start >= 4 else { return nil }
        let length = Int(readInt32(buffer[...], at: start))
        guard length >= 0, buffer.count - start - 4 >= length else { return nil }
        let frame = buffer[(start + 4)..<(start + 4 + length)]
        start += 4 + length
        return frame
    }
}

enum ProxyError: Error, CustomStringConvertible {
    case system(String, Int32)

    var description: String {
        switch self {
        case .system(let call, let code): "\(call): \(String(cString: strerror(code)))"
        }
    }
}

extension sockaddr_in {
    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}
