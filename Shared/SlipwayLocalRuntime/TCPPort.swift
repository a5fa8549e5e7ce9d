import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Returns a TCP port on 127.0.0.1 that was free a moment ago, picked at random below the kernel's ephemeral range
/// (`ip_local_port_range`). A port the kernel would choose for port 0 comes from that range, where the source port of
/// any outgoing connection may take it before the caller binds it: on a busy machine a test's server failed so with
/// "Address already in use". Below the range only another process picking the same port can. Falls back to the
/// kernel's choice when nothing below is free.
public func freeTCPPort() throws -> Int {
    let ephemeralStart = ephemeralPortRangeStart()
    if ephemeralStart - 10_000 >= 1_000 {
        for _ in 0..<200 {
            let port = Int.random(in: 10_000..<ephemeralStart)
            if canBind(port, reuseAddress: false) { return port }
        }
    }
    return try kernelChosenPort()
}

/// The first port of the kernel's ephemeral range (32768 where it cannot be read).
func ephemeralPortRangeStart() -> Int {
    let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
    return text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32768
}

/// Binds port 0 and reads the port the kernel chose.
func kernelChosenPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM_VALUE), 0)
    guard fd >= 0 else { throw POSIXError.current("socket") }
    defer { close(fd) }
    var address = loopbackAddress(port: 0)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw POSIXError.current("bind") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw POSIXError.current("getsockname") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A free port (`freeTCPPort()`) that is none of `taken`: ports handed out already but not bound yet.
public func freeTCPPort(excluding taken: [Int]) throws -> Int {
    for _ in 0..<100 {
        let port = try freeTCPPort()
        if !taken.contains(port) { return port }
    }
    throw POSIXError(.EADDRINUSE, userInfo: [NSLocalizedDescriptionKey: "no free port outside \(taken)"])
}

/// Whether `port` on 127.0.0.1 can be bound right now (with SO_REUSEADDR, as servers do).
public func isTCPPortFree(_ port: Int) -> Bool {
    canBind(port, reuseAddress: true)
}

/// Whether a socket can be bound to `port` on 127.0.0.1 now; without `reuseAddress` a port some connection left in
/// TIME_WAIT counts as taken too.
func canBind(_ port: Int, reuseAddress: Bool) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM_VALUE), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var one: Int32 = 1
    if reuseAddress { _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
    var address = loopbackAddress(port: port)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return bound == 0
}

func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    return address
}

#if canImport(Glibc)
    let SOCK_STREAM_VALUE = Int32(SOCK_STREAM.rawValue)
#else
    let SOCK_STREAM_VALUE = SOCK_STREAM
#endif

extension POSIXError {
    static func current(_ call: String) -> POSIXError {
        POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO, userInfo: [NSLocalizedDescriptionKey: "\(call) failed"])
    }
}
