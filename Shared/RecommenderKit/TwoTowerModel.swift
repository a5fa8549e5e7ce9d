import Foundation
import SlipwayModelBundle

/// Two towers trained with an in-batch sampled softmax.
///
/// For a batch of B (query, product) pairs with tower outputs u_i, v_j (L2-normalised when
/// configured) the logits are s_ij = u_i·v_j / τ − c_j, with c_j = log q(product_j) when the log-Q
/// correction is on, and s_ij = −∞ for j ≠ i when product_j = product_i (in-batch duplicates are not
/// negatives). Loss L = (1/B) Σ_i [logsumexp_j s_ij − s_ii]. With P = softmax_row(S):
///   ∂L/∂s_ij = (P_ij − δ_ij) / B = G_ij,  ∂L/∂u_i = Σ_j G_ij v_j / τ,  ∂L/∂v_j = Σ_i G_ij u_i / τ.
public final class TwoTowerModel: @unchecked Sendable {
    public let query: Tower
    public let candidate: Tower
    public let temperature: Float
    /// log q per product (sampling probability in train), used when `logQCorrection`.
    public var logQ: [Float]
    public var logQCorrection: Bool

    var logits: [Float] = []
    var dU: [Float] = []
    var dV: [Float] = []
    var candRows: [Int32] = []

    public init(query: Tower, candidate: Tower, temperature: Float, logQ: [Float], logQCorrection: Bool) {
        precondition(query.outputDim == candidate.outputDim)
        self.query = query; self.candidate = candidate; self.temperature = temperature
        self.logQ = logQ; self.logQCorrection = logQCorrection
    }

    public var parameters: [Parameter] { query.parameters + candidate.parameters }

    /// Forward (and, if `backward`, gradient accumulation) for one batch.
    /// - Parameters: `queryRows` index `queryEnc`, `productRows` index `candEnc` (product per pair).
    /// - Returns: mean loss.
    @discardableResult
    public func step(
        queryRows: [Int32], productRows: [Int32], queryEnc: EncodedFeatures, candEnc: EncodedFeatures,
        backward: Bool
    ) -> Double {
        let b = queryRows.count, d = query.outputDim
        queryRows.withUnsafeBufferPointer { query.forward(rows: $0, enc: queryEnc) }
        productRows.withUnsafeBufferPointer { candidate.forward(rows: $0, enc: candEnc) }
        if logits.count < b * b { logits = [Float](repeating: 0, count: b * b) }
        if dU.count < b * d { dU = [Float](repeating: 0, count: b * d); dV = dU }
        let invT = 1 / temperature
        var loss = 0.0
        logits.withUnsafeMutableBufferPointer { sp in
            let s = sp.baseAddress!
            query.output.withUnsafeBufferPointer { u in
                candidate.output.withUnsafeBufferPointer { v in
                    Kernels.gemmNT(m: b, n: b, k: d, a: u.baseAddress!, b: v.baseAddress!, c: s, accumulate: false)
                }
            }
            for i in 0..<b {
                let row = s + i * b
                var mx = -Float.infinity
                for j in 0..<b {
                    var x = row[j] * invT
                    if logQCorrection { x -= logQ[Int(productRows[j])] }
                    if j != i && productRows[j] == productRows[i] { x = -.infinity }
                    row[j] = x
                    if x > mx { mx = x }
                }
                var sum = 0.0
                for j in 0..<b { let e = exp(row[j] - mx); row[j] = e; sum += Double(e) }
                loss += Double(mx) + log(sum) - Double(log(row[i]) + mx)
                if backward {
                    let inv = Float(1 / sum) / Float(b)
                    for j in 0..<b { row[j] *= inv }  // G = P / B ...
                    row[i] -= 1 / Float(b)  // ... − I / B
                }
            }
            guard backward else { return }
            dU.withUnsafeMutableBufferPointer { du in
                dV.withUnsafeMutableBufferPointer { dv in
                    query.output.withUnsafeBufferPointer { u in
                        candidate.output.withUnsafeBufferPointer { v in
                            Kernels.gemm(m: b, n: d, k: b, a: s, b: v.baseAddress!, c: du.baseAddress!, accumulate: false)
                            Kernels.gemmTN(m: b, n: d, k: b, a: s, b: u.baseAddress!, c: dv.baseAddress!, accumulate: false)
                        }
                    }
                    for i in 0..<(b * d) { du[i] *= invT; dv[i] *= invT }
                    query.backward(dOutput: du.baseAddress!)
                    candidate.backward(dOutput: dv.baseAddress!)
                }
            }
        }
        return loss / Double(b)
    }
}

/// Adagrad / Adam / SGD with row-sparse updates for embedding tables.
public struct Optimizer: Sendable {
    public var kind: OptimizerKind
    public var learningRate: Float
    public var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7
    public var adagradInitial: Float = 0.1
    var step = 0

    public init(kind: OptimizerKind, learningRate: Float) { self.kind = kind; self.learningRate = learningRate }

    public mutating func apply(_ params: [Parameter]) {
        step += 1
        let lr = learningRate
        let bc1 = 1 - pow(beta1, Float(step)), bc2 = 1 - pow(beta2, Float(step))
        for p in params {
            let n = p.value.count
            if p.slot1.isEmpty {
                switch kind {
                case .adagrad: p.slot1 = [Float](repeating: adagradInitial, count: n)
                case .adam: p.slot1 = [Float](repeating: 0, count: n); p.slot2 = [Float](repeating: 0, count: n)
                case .sgd: break
                }
            }
            let kind = self.kind, b1 = beta1, b2 = beta2, eps = epsilon
            p.value.withUnsafeMutableBufferPointer { w in
                p.grad.withUnsafeMutableBufferPointer { g in
                    p.slot1.withUnsafeMutableBufferPointer { s1 in
                        p.slot2.withUnsafeMutableBufferPointer { s2 in
                            func update(_ lo: Int, _ hi: Int) {
                                switch kind {
                                case .sgd:
                                    for i in lo..<hi { w[i] -= lr * g[i]; g[i] = 0 }
                                case .adagrad:
                                    for i in lo..<hi {
                                        let gi = g[i]
                                        s1[i] += gi * gi
                                        w[i] -= lr * gi / (s1[i].squareRoot() + eps)
                                        g[i] = 0
                                    }
                                case .adam:
                                    for i in lo..<hi {
                                        let gi = g[i]
                                        s1[i] = b1 * s1[i] + (1 - b1) * gi
                                        s2[i] = b2 * s2[i] + (1 - b2) * gi * gi
                                        w[i] -= lr * (s1[i] / bc1) / ((s2[i] / bc2).squareRoot() + eps)
                                        g[i] = 0
                                    }
                                }
                            }
                            if p.sparse {
                                for r in p.touched { update(Int(r) * p.cols, (Int(r) + 1) * p.cols); p.touchedFlag[Int(r)] = false }
                            } else {
                                update(0, n)
                            }
                        }
                    }
                }
            }
            p.touched.removeAll(keepingCapacity: true)
        }
    }
}
