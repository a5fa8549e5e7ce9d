import Foundation
import SlipwayModelBundle

/// A trainable tensor with its gradient and optimizer state.
/// Embedding tables are `sparse`: only rows touched by the batch are updated (lazy Adam / Adagrad).
public final class Parameter: @unchecked Sendable {
    public let name: String
    public let rows: Int, cols: Int
    public var value: [Float]
    public var grad: [Float]
    var slot1: [Float] = []
    var slot2: [Float] = []
    public let sparse: Bool
    var touched: [Int32] = []
    var touchedFlag: [Bool]

    init(name: String, rows: Int, cols: Int, sparse: Bool, value: [Float]) {
        self.name = name; self.rows = rows; self.cols = cols; self.sparse = sparse; self.value = value
        grad = [Float](repeating: 0, count: rows * cols)
        touchedFlag = sparse ? [Bool](repeating: false, count: rows) : []
    }

    @inline(__always) func touch(_ r: Int32) {
        if !touchedFlag[Int(r)] { touchedFlag[Int(r)] = true; touched.append(r) }
    }
}

/// One tower: embedding lookups + dense inputs → concat → [Dense+ReLU]* → Dense → (L2 normalise).
/// Forward keeps the activations of the last batch; backward accumulates parameter gradients.
public final class Tower: @unchecked Sendable {
    public let transforms: [FeatureTransform]
    public let sizes: [Int]
    public let l2Normalize: Bool
    public var tables: [Parameter] = []
    var tableOffsets: [Int] = []
    var denseOffset = 0
    var denseWidth = 0
    public var kernels: [Parameter] = []
    public var biases: [Parameter] = []

    // Batch state.
    var batch = 0
    var acts: [[Float]] = []
    var grads: [[Float]] = []
    public var output: [Float] = []
    var norms: [Float] = []
    var rowsUsed: [Int32] = []  // example indices of the batch (into EncodedFeatures)

    public init(transforms: [FeatureTransform], layers: [Int], outputDim: Int, l2Normalize: Bool, rng: inout SeededRandom) {
        self.transforms = transforms
        self.l2Normalize = l2Normalize
        var off = 0
        for t in transforms where t.isTable {
            let d = t.inputWidth
            let vals = (0..<(t.tableRows * d)).map { _ in Float((rng.uniform() * 2 - 1) * 0.05) }
            tables.append(Parameter(name: "embedding/\(t.name)", rows: t.tableRows, cols: d, sparse: true, value: vals))
            tableOffsets.append(off)
            off += d
        }
        denseOffset = off
        denseWidth = transforms.filter { !$0.isTable }.reduce(0) { $0 + $1.denseWidth }
        sizes = [off + denseWidth] + layers + [outputDim]
        for l in 0..<(sizes.count - 1) {
            let (i, o) = (sizes[l], sizes[l + 1])
            let lim = (6.0 / Double(i + o)).squareRoot()
            kernels.append(
                Parameter(
                    name: "dense_\(l)/kernel", rows: i, cols: o, sparse: false,
                    value: (0..<(i * o)).map { _ in Float((rng.uniform() * 2 - 1) * lim) }))
            biases.append(Parameter(name: "dense_\(l)/bias", rows: 1, cols: o, sparse: false, value: [Float](repeating: 0, count: o)))
        }
    }

    public var outputDim: Int { sizes.last! }
    public var parameters: [Parameter] { tables + kernels + biases }

    func ensureBatch(_ b: Int) {
        if acts.count == sizes.count && batch >= b { return }
        batch = max(b, batch)
        acts = sizes.map { [Float](repeating: 0, count: batch * $0) }
        grads = sizes.map { [Float](repeating: 0, count: batch * $0) }
        output = [Float](repeating: 0, count: batch * outputDim)
        norms = [Float](repeating: 1, count: batch)
    }

    /// Forward for examples `rows` of `enc`; result in `output` (rows.count × outputDim).
    public func forward(rows: UnsafeBufferPointer<Int32>, enc: EncodedFeatures) {
        let b = rows.count
        ensureBatch(b)
        rowsUsed.removeAll(keepingCapacity: true)
        rowsUsed.append(contentsOf: rows)
        currentTableIndex = enc.tableIndex
        currentTableCount = enc.tableCount
        let in0 = sizes[0]
        acts[0].withUnsafeMutableBufferPointer { x in
            enc.tableIndex.withUnsafeBufferPointer { ti in
                enc.dense.withUnsafeBufferPointer { dn in
                    for (i, r) in rows.enumerated() {
                        let dst = x.baseAddress! + i * in0
                        for t in 0..<tables.count {
                            let row = Int(ti[Int(r) * enc.tableCount + t])
                            let d = tables[t].cols
                            tables[t].value.withUnsafeBufferPointer { tv in
                                (dst + tableOffsets[t]).update(from: tv.baseAddress! + row * d, count: d)
                            }
                        }
                        if denseWidth > 0 {
                            (dst + denseOffset).update(from: dn.baseAddress! + Int(r) * enc.denseWidth, count: denseWidth)
                        }
                    }
                }
            }
        }
        let L = kernels.count
        for l in 0..<L {
            let (nin, nout) = (sizes[l], sizes[l + 1])
            let src = acts[l]
            acts[l + 1].withUnsafeMutableBufferPointer { y in
                let yp = y.baseAddress!
                biases[l].value.withUnsafeBufferPointer { bias in
                    for i in 0..<b { (yp + i * nout).update(from: bias.baseAddress!, count: nout) }
                }
                src.withUnsafeBufferPointer { x in
                    kernels[l].value.withUnsafeBufferPointer { w in
                        Kernels.gemm(m: b, n: nout, k: nin, a: x.baseAddress!, b: w.baseAddress!, c: yp, accumulate: true)
                    }
                }
                if l < L - 1 { for i in 0..<(b * nout) where yp[i] < 0 { yp[i] = 0 } }
            }
        }
        let d = outputDim
        let last = acts[L]
        output.withUnsafeMutableBufferPointer { o in
            last.withUnsafeBufferPointer { y in
                for i in 0..<b {
                    let yr = y.baseAddress! + i * d, orow = o.baseAddress! + i * d
                    if l2Normalize {
                        let n = max(Kernels.dot(yr, yr, d).squareRoot(), 1e-12)
                        norms[i] = n
                        let inv = 1 / n
                        for j in 0..<d { orow[j] = yr[j] * inv }
                    } else {
                        orow.update(from: yr, count: d)
                    }
                }
            }
        }
    }

    /// Backward from dLoss/dOutput (batch × outputDim) of the last forward; accumulates into `grad`.
    public func backward(dOutput: UnsafePointer<Float>) {
        let b = rowsUsed.count
        let L = kernels.count, d = outputDim
        // Through the L2 normalisation: dy = (du - u (u·du)) / ‖y‖.
        grads[L].withUnsafeMutableBufferPointer { g in
            output.withUnsafeBufferPointer { u in
                for i in 0..<b {
                    let gr = g.baseAddress! + i * d, ur = u.baseAddress! + i * d, du = dOutput + i * d
                    if l2Normalize {
                        let proj = Kernels.dot(ur, du, d), inv = 1 / norms[i]
                        for j in 0..<d { gr[j] = (du[j] - ur[j] * proj) * inv }
                    } else {
                        gr.update(from: du, count: d)
                    }
                }
            }
        }
        for l in stride(from: L - 1, through: 0, by: -1) {
            let (nin, nout) = (sizes[l], sizes[l + 1])
            let dz = grads[l + 1]
            let x = acts[l]
            dz.withUnsafeBufferPointer { dzp in
                x.withUnsafeBufferPointer { xp in
                    kernels[l].grad.withUnsafeMutableBufferPointer { gw in
                        Kernels.gemmTN(m: b, n: nout, k: nin, a: xp.baseAddress!, b: dzp.baseAddress!, c: gw.baseAddress!, accumulate: true)
                    }
                }
                biases[l].grad.withUnsafeMutableBufferPointer { gb in
                    for i in 0..<b { Kernels.axpy(gb.baseAddress!, 1, dzp.baseAddress! + i * nout, nout) }
                }
                grads[l].withUnsafeMutableBufferPointer { gx in
                    kernels[l].value.withUnsafeBufferPointer { w in
                        Kernels.gemmNT(m: b, n: nin, k: nout, a: dzp.baseAddress!, b: w.baseAddress!, c: gx.baseAddress!, accumulate: false)
                    }
                    if l > 0 {
                        // ReLU mask of the layer below (acts[l] are post-ReLU values).
                        x.withUnsafeBufferPointer { xp in for i in 0..<(b * nin) where xp[i] <= 0 { gx[i] = 0 } }
                    }
                }
            }
        }
        // Scatter into the embedding tables.
        let in0 = sizes[0]
        grads[0].withUnsafeBufferPointer { gx in
            for (i, r) in rowsUsed.enumerated() {
                for t in 0..<tables.count {
                    let p = tables[t]
                    let row = Int32(currentTableIndex[Int(r) * currentTableCount + t])
                    p.touch(row)
                    let dcol = p.cols
                    p.grad.withUnsafeMutableBufferPointer { g in
                        Kernels.axpy(g.baseAddress! + Int(row) * dcol, 1, gx.baseAddress! + i * in0 + tableOffsets[t], dcol)
                    }
                }
            }
        }
    }

    // Table indices of the encoded set the last forward used.
    var currentTableIndex: [Int32] = []
    var currentTableCount = 0

    /// Embeddings of all `enc` examples (no gradients), n × outputDim.
    public func embedAll(_ enc: EncodedFeatures, chunk: Int = 512) -> [Float] {
        var out = [Float](repeating: 0, count: enc.count * outputDim)
        var start = 0
        while start < enc.count {
            let n = min(chunk, enc.count - start)
            let rows = (start..<(start + n)).map { Int32($0) }
            rows.withUnsafeBufferPointer { forward(rows: $0, enc: enc) }
            out.withUnsafeMutableBufferPointer { o in
                output.withUnsafeBufferPointer { src in (o.baseAddress! + start * outputDim).update(from: src.baseAddress!, count: n * outputDim) }
            }
            start += n
        }
        return out
    }

    /// Weights in bundle naming.
    public func tensors() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for p in tables { out[p.name] = Tensor(shape: [p.rows, p.cols], data: p.value) }
        for p in kernels { out[p.name] = Tensor(shape: [p.rows, p.cols], data: p.value) }
        for p in biases { out[p.name] = Tensor(shape: [p.cols], data: p.value) }
        return out
    }
}
