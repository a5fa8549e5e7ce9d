/// Rewrites the broker addresses inside Kafka `Metadata` (API key 3) and `FindCoordinator`
/// (API key 10) responses so that clients only ever learn the proxy's stable addresses,
/// never the mock cluster's random ports. Everything else passes through untouched.
struct KafkaAddressRewriter: Sendable {
    /// Real mock broker "host:port" → the stable address advertised instead.
    let addresses: [String: (host: String, port: Int32)]

    static let metadataKey: Int16 = 3
    static let findCoordinatorKey: Int16 = 10

    static func wantsResponse(apiKey: Int16) -> Bool {
        apiKey == metadataKey || apiKey == findCoordinatorKey
    }

    /// `frame` is one response without its 4-byte length prefix. Returns the frame unchanged
    /// when it cannot be parsed (an unknown version, a truncated frame).
    func rewrite(response frame: [UInt8], apiKey: Int16, apiVersion: Int16) -> [UInt8] {
        do {
            switch apiKey {
            case Self.metadataKey: return try rewriteMetadata(frame, version: apiVersion)
            case Self.findCoordinatorKey: return try rewriteFindCoordinator(frame, version: apiVersion)
            default: return frame
            }
        } catch {
            return frame
        }
    }

    private func rewriteMetadata(_ frame: [UInt8], version: Int16) throws -> [UInt8] {
        let flexible = version >= 9
        var reader = WireReader(bytes: frame)
        var writer = SegmentWriter(source: frame)
        try reader.skip(4)  // correlation id
        if flexible { try reader.skipTaggedFields() }
        if version >= 3 { try reader.skip(4) }  // throttle_time_ms
        let count = flexible ? Int(try reader.readUnsignedVarint()) - 1 : Int(try reader.readInt32())
        guard count >= 0 else { return frame }
        for _ in 0..<count {
            try reader.skip(4)  // node_id
            try rewriteHostPort(&reader, &writer, flexible: flexible)
            if version >= 1 { try reader.skipString(flexible: flexible) }  // rack (nullable)
            if flexible { try reader.skipTaggedFields() }
        }
        return writer.finish()
    }

    private func rewriteFindCoordinator(_ frame: [UInt8], version: Int16) throws -> [UInt8] {
        guard version <= 3 else { return frame }  // v4+ (batched coordinators) is not used by librdkafka 2.0
        let flexible = version >= 3
        var reader = WireReader(bytes: frame)
        var writer = SegmentWriter(source: frame)
        try reader.skip(4)  // correlation id
        if flexible { try reader.skipTaggedFields() }
        if version >= 1 { try reader.skip(4) }  // throttle_time_ms
        try reader.skip(2)  // error_code
        if version >= 1 { try reader.skipString(flexible: flexible) }  // error_message
        try reader.skip(4)  // node_id
        try rewriteHostPort(&reader, &writer, flexible: flexible)
        return writer.finish()
    }

    private func rewriteHostPort(_ reader: inout WireReader, _ writer: inout SegmentWriter, flexible: Bool) throws {
        let start = reader.position
        let host = try reader.readString(flexible: flexible)
        let port = try reader.readInt32()
        guard let replacement = addresses["\(host):\(port)"] else { return }
        var encoded: [UInt8] = []
        let hostBytes = Array(replacement.host.utf8)
        if flexible {
            appendUnsignedVarint(&encoded, UInt32(hostBytes.count + 1))
        } else {
            encoded.append(contentsOf: withUnsafeBytes(of: Int16(hostBytes.count).bigEndian, Array.init))
        }
        encoded.append(contentsOf: hostBytes)
        encoded.append(contentsOf: withUnsafeBytes(of: replacement.port.bigEndian, Array.init))
        writer.replace(start..<reader.position, with: encoded)
    }
}

struct WireError: Error {}

struct WireReader {
    let bytes: [UInt8]
    var position = 0

    mutating func skip(_ count: Int) throws {
        guard count >= 0, position + count <= bytes.count else { throw WireError() }
        position += count
    }

    mutating func readInt16() throws -> Int16 {
        guard position + 2 <= bytes.count else { throw WireError() }
        defer { position += 2 }
        return Int16(bitPattern: UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1]))
    }

    mutating func readInt32() throws -> Int32 {
        guard position + 4 <= bytes.count else { throw WireError() }
        defer { position += 4 }
        var value: UInt32 = 0
        for i in 0..<4 { value = value << 8 | UInt32(bytes[position + i]) }
        return Int32(bitPattern: value)
    }

    mutating func readUnsignedVarint() throws -> UInt32 {
        var value: UInt32 = 0
        var shift: UInt32 = 0
        while true {
            guard position < bytes.count, shift <= 28 else { throw WireError() }
            let byte = bytes[position]
            position += 1
            value |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// Length of a (nullable) string; nil for null.
    private mutating func stringLength(flexible: Bool) throws -> Int? {
        if flexible {
            let raw = try readUnsignedVarint()
            return raw == 0 ? nil : Int(raw) - 1
        }
        let length = try readInt16()
        return length < 0 ? nil : Int(length)
    }

    mutating func readString(flexible: Bool) throws -> String {
        guard let length = try stringLength(flexible: flexible) else { return "" }
        guard position + length <= bytes.count else { throw WireError() }
        defer { position += length }
        return String(decoding: bytes[position..<position + length], as: UTF8.self)
    }

    mutating func skipString(flexible: Bool) throws {
        if let length = try stringLength(flexible: flexible) { try skip(length) }
    }

    mutating func skipTaggedFields() throws {
        let count = try readUnsignedVarint()
        for _ in 0..<count {
            _ = try readUnsignedVarint()  // tag
            try skip(Int(try readUnsignedVarint()))
        }
    }
}

/// Copies `source`, replacing byte ranges (given in increasing order).
struct SegmentWriter {
    let source: [UInt8]
    private var output: [UInt8] = []
    private var copied = 0

    init(source: [UInt8]) {
        self.source = source
        output.reserveCapacity(source.count + 64)
    }

    mutating func replace(_ range: Range<Int>, with bytes: [UInt8]) {
        output.append(contentsOf: source[copied..<range.lowerBound])
        output.append(contentsOf: bytes)
        copied = range.upperBound
    }

    mutating func finish() -> [UInt8] {
        output.append(contentsOf: source[copied...])
        return output
    }
}

func appendUnsignedVarint(_ output: inout [UInt8], _ value: UInt32) {
    var value = value
    while value >= 0x80 {
        output.append(UInt8(value & 0x7F) | 0x80)
        value >>= 7
    }
    output.append(UInt8(value))
}
