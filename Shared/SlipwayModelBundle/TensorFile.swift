import Foundation

/// A named dense Float32 tensor, row-major.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]
    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "tensor data does not match shape \(shape)")
        self.shape = shape; self.data = data
    }
}

/// Binary formats of the bundle (all integers UInt32 little-endian, floats IEEE-754 Float32 little-endian).
///
/// Tower weights (`query_tower.bin`):
/// ```
/// "SLWT" | u32 version=1 | u32 tensor_count |
///   repeat: u32 name_len | name (UTF-8) | u32 rank | u32 dims[rank] | f32 data[prod(dims)]
/// ```
/// Candidate embeddings (`candidates.bin`):
/// ```
/// "SLWC" | u32 version=1 | u32 N | u32 D | f32 data[N*D]   (row i = candidate_ids[i])
/// ```
public enum BinaryFormat {
    public static let towerMagic: [UInt8] = Array("SLWT".utf8)
    public static let candidatesMagic: [UInt8] = Array("SLWC".utf8)
    public static let version: UInt32 = 1

    static func appendU32(_ v: UInt32, to d: inout Data) {
        withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) }
    }

    static func appendFloats(_ f: [Float], to d: inout Data) {
        #if _endian(little)
            f.withUnsafeBytes { d.append(contentsOf: $0) }
        #else
            for x in f { appendU32(x.bitPattern, to: &d) }
        #endif
    }

    public static func encodeTensors(_ tensors: [(name: String, tensor: Tensor)]) -> Data {
        var d = Data()
        d.append(contentsOf: towerMagic)
        appendU32(version, to: &d)
        appendU32(UInt32(tensors.count), to: &d)
        for (name, t) in tensors {
            let nb = Array(name.utf8)
            appendU32(UInt32(nb.count), to: &d)
            d.append(contentsOf: nb)
            appendU32(UInt32(t.shape.count), to: &d)
            for s in t.shape { appendU32(UInt32(s), to: &d) }
            appendFloats(t.data, to: &d)
        }
        return d
    }

    public static func encodeCandidates(_ data: [Float], count: Int, dim: Int) -> Data {
        precondition(data.count == count * dim)
        var d = Data()
        d.append(contentsOf: candidatesMagic)
        appendU32(version, to: &d)
        appendU32(UInt32(count), to: &d)
        appendU32(UInt32(dim), to: &d)
        appendFloats(data, to: &d)
        return d
    }

    struct Reader {
        let bytes: [UInt8]
        let path: String
        var pos = 0
        mutating func u32() throws(BundleError) -> UInt32 {
            guard pos + 4 <= bytes.count else { throw .corruptFile(path: path, reason: "truncated at byte \(pos)") }
            let v = UInt32(bytes[pos]) | UInt32(bytes[pos + 1]) << 8 | UInt32(bytes[pos + 2]) << 16 | UInt32(bytes[pos + 3]) << 24
            pos += 4
            return v
        }
        mutating func raw(_ n: Int) throws(BundleError) -> ArraySlice<UInt8> {
            guard n >= 0, pos + n <= bytes.count else { throw .corruptFile(path: path, reason: "truncated at byte \(pos)") }
            defer { pos += n }
            return bytes[pos..<(pos + n)]
        }
        mutating func floats(_ n: Int) throws(BundleError) -> [Float] {
            guard n >= 0, n <= (bytes.count - pos) / 4 else {
                throw .corruptFile(path: path, reason: "truncated: expected \(n) floats at byte \(pos)")
            }
            var out = [Float](repeating: 0, count: n)
            #if _endian(little)
                out.withUnsafeMutableBytes { dst in
                    bytes.withUnsafeBytes { src in
                        dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[pos..<(pos + 4 * n)]))
                    }
                }
                pos += 4 * n
            #else
                for i in 0..<n { out[i] = Float(bitPattern: try u32()) }
            #endif
            return out
        }
    }

    public static func decodeTensors(_ bytes: [UInt8], path: String) throws(BundleError) -> [String: Tensor] {
        var r = Reader(bytes: bytes, path: path)
        guard Array(try r.raw(4)) == towerMagic else { throw .corruptFile(path: path, reason: "bad magic (expected SLWT)") }
        let v = try r.u32()
        guard v == version else { throw .corruptFile(path: path, reason: "unsupported weights version \(v)") }
        let n = Int(try r.u32())
        var out: [String: Tensor] = [:]
        for _ in 0..<n {
            let len = Int(try r.u32())
            guard len <= 4096 else { throw .corruptFile(path: path, reason: "tensor name too long") }
            let name = String(decoding: try r.raw(len), as: UTF8.self)
            let rank = Int(try r.u32())
            guard rank <= 8 else { throw .corruptFile(path: path, reason: "tensor '\(name)' rank \(rank) too large") }
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(Int(try r.u32())) }
            let count = shape.reduce(1, *)
            out[name] = Tensor(shape: shape, data: try r.floats(count))
        }
        guard r.pos == bytes.count else { throw .corruptFile(path: path, reason: "\(bytes.count - r.pos) trailing bytes") }
        return out
    }

    public static func decodeCandidates(_ bytes: [UInt8], path: String) throws(BundleError) -> (data: [Float], count: Int, dim: Int) {
        var r = Reader(bytes: bytes, path: path)
        guard Array(try r.raw(4)) == candidatesMagic else { throw .corruptFile(path: path, reason: "bad magic (expected SLWC)") }
        let v = try r.u32()
        guard v == version else { throw .corruptFile(path: path, reason: "unsupported candidates version \(v)") }
        let n = Int(try r.u32()), d = Int(try r.u32())
        guard bytes.count == 16 + 4 * n * d else {
            throw .corruptFile(path: path, reason: "size \(bytes.count) bytes does not match header \(n)×\(d)")
        }
        return (try r.floats(n * d), n, d)
    }
}
