import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension KafkaMockCluster {
    /// librdkafka's mock brokers leave Nagle's algorithm on. When two responses go out on one
    /// connection back to back (several produce requests in flight), the second waits for
    /// the client's delayed ACK: ~40 ms per round, which caps a producer at a few batches per
    /// second. Linux copies TCP_NODELAY from a listening socket to the sockets it accepts,
    /// so we find the mock brokers' listeners among our own descriptors and set it there.
    /// Returns how many listeners were updated.
    @discardableResult
    static func disableNagleOnListeners(ports: Set<UInt16>) -> Int {
        #if os(Linux)
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return 0 }
            var updated = 0
            for entry in entries {
                guard let fd = Int32(entry) else { continue }
                var listening: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0, listening == 1 else { continue }
                var address = sockaddr_in()
                var addressLength = socklen_t(MemoryLayout<sockaddr_in>.size)
                let named = withUnsafeMutablePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &addressLength) }
                }
                guard named == 0, address.sin_family == sa_family_t(AF_INET),
                    ports.contains(UInt16(bigEndian: address.sin_port))
                else { continue }
                var one: Int32 = 1
                if setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 {
                    updated += 1
                }
            }
            return updated
        #else
            return 0
        #endif
    }
}
