/// Small dense linear-algebra kernels over contiguous row-major Float buffers.
///
/// Written with explicit `SIMD8<Float>` loads so they vectorise at the default (SSE2) target and
/// scale up with wider targets; no allocations. Shared by the trainer and the scorer.
public enum Kernels {
    @inlinable @inline(__always)
    static func load8(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inlinable @inline(__always)
    static func store8(_ p: UnsafeMutablePointer<Float>, _ i: Int, _ v: SIMD8<Float>) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// Σ a[i]·b[i].
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            acc0 += load8(a, i) * load8(b, i)
            acc1 += load8(a, i + 8) * load8(b, i + 8)
            i += 16
        }
        if i + 8 <= n { acc0 += load8(a, i) * load8(b, i); i += 8 }
        var s = (acc0 + acc1).sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// y += alpha·x.
    @inlinable
    public static func axpy(_ y: UnsafeMutablePointer<Float>, _ alpha: Float, _ x: UnsafePointer<Float>, _ n: Int) {
        let va = SIMD8<Float>(repeating: alpha)
        var i = 0
        while i + 8 <= n {
            store8(y, i, load8(UnsafePointer(y), i) + va * load8(x, i))
            i += 8
        }
        while i < n { y[i] += alpha * x[i]; i += 1 }
    }

    /// C[m×n] (+)= A[m×k] · B[k×n].
    @inlinable
    public static func gemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        if !accumulate { c.update(repeating: 0, count: m * n) }
        for i in 0..<m {
            let crow = c + i * n
            let arow = a + i * k
            for p in 0..<k {
                let av = arow[p]
                if av != 0 { axpy(crow, av, b + p * n, n) }
            }
        }
    }

    /// C[m×n] (+)= A[m×k] · B[n×k]ᵀ (row-by-row dot products).
    @inlinable
    public static func gemmNT(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        for i in 0..<m {
            let arow = a + i * k
            let crow = c + i * n
            for j in 0..<n {
                let d = dot(arow, b + j * k, k)
                crow[j] = accumulate ? crow[j] + d : d
            }
        }
    }

    /// C[k×n] (+)= A[m×k]ᵀ · B[m×n].
    @inlinable
    public static func gemmTN(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        if !accumulate { c.update(repeating: 0, count: k * n) }
        for i in 0..<m {
            let arow = a + i * k
            let brow = b + i * n
            for p in 0..<k {
                let av = arow[p]
                if av != 0 { axpy(c + p * n, av, brow, n) }
            }
        }
    }

    /// scores[j] = q · cand[j], j in 0..<count, candidates contiguous with stride `d`.
    /// Four candidates per iteration share the query loads.
    @inlinable
    public static func scoreBlock(
        query q: UnsafePointer<Float>, candidates: UnsafePointer<Float>, count: Int, dim d: Int,
        scores: UnsafeMutablePointer<Float>
    ) {
        var j = 0
        if d % 8 == 0 {
            while j + 4 <= count {
                let c0 = candidates + j * d, c1 = c0 + d, c2 = c1 + d, c3 = c2 + d
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                var i = 0
                while i < d {
                    let qv = load8(q, i)
                    a0 += qv * load8(c0, i)
                    a1 += qv * load8(c1, i)
                    a2 += qv * load8(c2, i)
                    a3 += qv * load8(c3, i)
                    i += 8
                }
                // Horizontal sums of four accumulators at once (a 4×4 transpose LLVM lowers to shuffles).
                let s0 = a0.lowHalf + a0.highHalf, s1 = a1.lowHalf + a1.highHalf
                let s2 = a2.lowHalf + a2.highHalf, s3 = a3.lowHalf + a3.highHalf
                let r =
                    SIMD4(s0[0], s1[0], s2[0], s3[0]) + SIMD4(s0[1], s1[1], s2[1], s3[1])
                    + SIMD4(s0[2], s1[2], s2[2], s3[2]) + SIMD4(s0[3], s1[3], s2[3], s3[3])
                UnsafeMutableRawPointer(scores + j).storeBytes(of: r, as: SIMD4<Float>.self)
                j += 4
            }
        }
        while j < count { scores[j] = dot(q, candidates + j * d, d); j += 1 }
    }
}

/// A fixed-capacity min-heap keeping the k best (score, index) pairs. Ties prefer the lower index,
/// so results equal a stable full sort by descending score.
public struct TopKHeap: Sendable {
    public let k: Int
    @usableFromInline var scores: [Float]
    @usableFromInline var indices: [Int32]
    @usableFromInline var count = 0

    public var size: Int { count }

    public init(k: Int) {
        self.k = k
        scores = [Float](repeating: -.infinity, count: max(k, 1))
        indices = [Int32](repeating: Int32.max, count: max(k, 1))
    }

    /// Score a new entry must beat to enter (−∞ until full).
    @inlinable public var threshold: Float { count < k ? -.infinity : scores[0] }

    @inlinable @inline(__always)
    static func worse(_ s1: Float, _ i1: Int32, _ s2: Float, _ i2: Int32) -> Bool {
        s1 < s2 || (s1 == s2 && i1 > i2)
    }

    @inlinable
    public mutating func push(_ score: Float, _ index: Int32) {
        if count < k {
            var pos = count
            count += 1
            scores.withUnsafeMutableBufferPointer { s in
                indices.withUnsafeMutableBufferPointer { ix in
                    while pos > 0 {
                        let parent = (pos - 1) >> 1
                        if TopKHeap.worse(score, index, s[parent], ix[parent]) {
                            s[pos] = s[parent]; ix[pos] = ix[parent]; pos = parent
                        } else {
                            break
                        }
                    }
                    s[pos] = score; ix[pos] = index
                }
            }
        } else if TopKHeap.worse(scores[0], indices[0], score, index) {
            scores.withUnsafeMutableBufferPointer { s in
                indices.withUnsafeMutableBufferPointer { ix in
                    var pos = 0
                    let n = count
                    while true {
                        let l = 2 * pos + 1
                        if l >= n { break }
                        var child = l
                        let r = l + 1
                        if r < n && TopKHeap.worse(s[r], ix[r], s[l], ix[l]) { child = r }
                        if TopKHeap.worse(s[child], ix[child], score, index) {
                            s[pos] = s[child]; ix[pos] = ix[child]; pos = child
                        } else {
                            break
                        }
                    }
                    s[pos] = score; ix[pos] = index
                }
            }
        }
    }

    /// Entries best first.
    public func sorted() -> [(index: Int, score: Float)] {
        var out = (0..<count).map { (index: Int(indices[$0]), score: scores[$0]) }
        out.sort { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
        return out
    }
}
