import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A dependency-free HTTP/1.0 GET over a plain socket, used for readiness and status probes.
///
/// It ignores proxy environment variables on purpose (a probe of 127.0.0.1 must never go through
/// a proxy) and supports `http://` with a literal IPv4 address or `localhost` only — which is what
/// local services publish. Blocking socket calls run on a Dispatch queue, not the cooperative pool.
public enum HTTPProbe {
    /// Returns the HTTP status code of `GET url`, or `nil` when nothing answered within `timeout`.
    public static func status(of url: URL, timeout: Duration = .seconds(1)) async -> Int? {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: blockingStatus(of: url, timeout: seconds))
            }
        }
    }

    /// `true` when `GET url` answers 200 within `timeout`.
    public static func isOK(_ url: URL, timeout: Duration = .seconds(1)) async -> Bool {
        await status(of: url, timeout: timeout) == 200
    }

    static func blockingStatus(of url: URL, timeout: Double) -> Int? {
        guard url.scheme?.lowercased() == "http", let host = url.host else { return nil }
        let port = url.port ?? 80
        let ipv4 = host == "localhost" ? "127.0.0.1" : host
        var address = loopbackAddress(port: port)
        guard inet_pton(AF_INET, ipv4, &address.sin_addr) == 1 else { return nil }
        let deadline = Date().addingTimeInterval(timeout)

        let fd = socket(AF_INET, Int32(SOCK_STREAM_VALUE), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))

        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if connected != 0 {
            guard errno == EINPROGRESS, wait(fd, for: Int16(POLLOUT), until: deadline) else { return nil }
            var socketError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length) == 0, socketError == 0 else { return nil }
        }

        var path = url.path.isEmpty ? "/" : url.path
        if let query = url.query { path += "?\(query)" }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(host):\(port)\r\nUser-Agent: slipway-probe\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL_VALUE)) }
            if n > 0 {
                sent += n
            } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                guard wait(fd, for: Int16(POLLOUT), until: deadline) else { return nil }
            } else {
                return nil
            }
        }

        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while !response.contains(UInt8(ascii: "\n")) && response.count < 4096 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                response += buffer[0..<n]
            } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR {
                guard wait(fd, for: Int16(POLLIN), until: deadline) else { return nil }
            } else {
                break
            }
        }
        // "HTTP/1.1 200 OK"
        let statusLine = String(decoding: response.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/") else { return nil }
        return Int(parts[1])
    }

    private static func wait(_ fd: Int32, for events: Int16, until deadline: Date) -> Bool {
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return false }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let result = poll(&descriptor, 1, Int32(max(1, remaining * 1000)))
            if result > 0 { return true }
            if result < 0, errno == EINTR { continue }
            return false
        }
    }
}

#if canImport(Glibc)
    let MSG_NOSIGNAL_VALUE = Int32(MSG_NOSIGNAL)
#else
    let MSG_NOSIGNAL_VALUE = Int32(0)
#endif
