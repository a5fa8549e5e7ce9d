import Foundation
import SlipwayModelBundle

/// Customer × item interaction counts in compressed rows (both orientations are kept: ALS alternates).
public struct SparseInteractions: Sendable {
    public var rowCount: Int
    public var columnCount: Int
    var rowStart: [Int]
    var columns: [Int32]
    var values: [Float]

    /// One row per customer; a repeated (customer, item) pair adds up.
    public init(customers: Int, items: Int, pairs: [(customer: Int32, item: Int32)]) {
        rowCount = customers; columnCount = items
        var perRow = [[Int32: Float]](repeating: [:], count: customers)
        for (r, c) in pairs { perRow[Int(r)][c, default: 0] += 1 }
        rowStart = [0]; rowStart.reserveCapacity(customers + 1)
        self.columns = []; values = []
        for row in perRow {
            for (c, v) in row.sorted(by: { $0.key < $1.key }) { self.columns.append(c); values.append(v) }
            rowStart.append(self.columns.count)
        }
    }

    init(rowCount: Int, columnCount: Int, rowStart: [Int], columns: [Int32], values: [Float]) {
        self.rowCount = rowCount; self.columnCount = columnCount; self.rowStart = rowStart; self.columns = columns
        self.values = values
    }

    /// Item rows instead of customer rows, counts unchanged.
    public var transposed: SparseInteractions {
        var perRow = [[(Int32, Float)]](repeating: [], count: columnCount)
        for r in 0..<rowCount { for j in rowStart[r]..<rowStart[r + 1] { perRow[Int(columns[j])].append((Int32(r), values[j])) } }
        var t = SparseInteractions(rowCount: columnCount, columnCount: rowCount, rowStart: [0], columns: [], values: [])
        for row in perRow {
            for (c, v) in row { t.columns.append(c); t.values.append(v) }
            t.rowStart.append(t.columns.count)
        }
        return t
    }
}

/// Settings of one weighted matrix-factorisation fit (Hu, Koren & Volinsky's implicit ALS).
public struct FactorizationSettings: Sendable, Hashable {
    public var factors: Int
    public var iterations: Int
    /// λ of ‖x‖² + ‖y‖².
    public var regularization: Double
    /// Confidence of an observed pair: alpha × its interaction count (unobserved pairs weigh 1, preference 0).
    public var alpha: Double
    /// Conjugate-gradient steps per vector per half-iteration (warm-started from the previous solution).
    public var conjugateGradientSteps: Int = 3
    public var seed: UInt64

    public init(factors: Int, iterations: Int, regularization: Double, alpha: Double, seed: UInt64) {
        self.factors = factors; self.iterations = iterations; self.regularization = regularization; self.alpha = alpha
        self.seed = seed
    }
}

/// Implicit-feedback ALS: minimises Σ c_ui (p_ui − x_u·y_i)² + λ(‖X‖² + ‖Y‖²) over all pairs, p = 1 where
/// observed. Each half-iteration solves every vector's normal equations (YᵀY + λI + Σ_obs (c−1) y yᵀ) x = Σ_obs c y
/// with a few warm-started conjugate-gradient steps, so the cost is linear in the observed pairs; the shared
/// YᵀY makes the unobserved pairs free.
public final class ImplicitALS {
    public let settings: FactorizationSettings
    public private(set) var customerFactors: [Float]
    public private(set) var itemFactors: [Float]
    let customers: Int, items: Int

    public init(customers: Int, items: Int, settings: FactorizationSettings) {
        self.settings = settings; self.customers = customers; self.items = items
        var rng = SeededRandom(seed: settings.seed)
        let f = settings.factors
        customerFactors = (0..<(customers * f)).map { _ in Float(rng.uniform() * 0.01) }
        itemFactors = (0..<(items * f)).map { _ in Float(rng.uniform() * 0.01) }
    }

    public func fit(_ matrix: SparseInteractions, onIteration: (Int) -> Void = { _ in }) {
        let byItem = matrix.transposed
        for iteration in 1...max(settings.iterations, 1) {
            ImplicitALS.solve(&customerFactors, given: itemFactors, matrix, settings)
            ImplicitALS.solve(&itemFactors, given: customerFactors, byItem, settings)
            onIteration(iteration)
        }
    }

    /// The objective divided by the observed pairs (the run's per-iteration loss).
    public func loss(_ m: SparseInteractions) -> Double {
        let f = settings.factors
        let gram = ImplicitALS.gramian(itemFactors, count: items, f)
        var total = 0.0
        for u in 0..<m.rowCount {
            let x = customerFactors[(u * f)..<((u + 1) * f)]
            // Every pair as if unobserved: Σ_i (x·y_i)² = xᵀ(YᵀY)x …
            for a in 0..<f {
                var acc: Float = 0
                for b in 0..<f { acc += gram[a * f + b] * x[u * f + b] }
                total += Double(acc * x[u * f + a])
            }
            // … then the observed ones corrected: c(1 − s)² instead of s².
            for j in m.rowStart[u]..<m.rowStart[u + 1] {
                let i = Int(m.columns[j])
                var score: Float = 0
                for a in 0..<f { score += x[u * f + a] * itemFactors[i * f + a] }
                let c = Double(Float(settings.alpha) * m.values[j])
                total += c * Double((1 - score) * (1 - score)) - Double(score * score)
            }
        }
        let norms = (customerFactors + itemFactors).reduce(0.0) { $0 + Double($1 * $1) }
        return (total + settings.regularization * norms) / Double(max(m.columns.count, 1))
    }

    /// VᵀV of `count` row vectors of width f.
    static func gramian(_ v: [Float], count: Int, _ f: Int) -> [Float] {
        var gram = [Float](repeating: 0, count: f * f)
        v.withUnsafeBufferPointer { vp in
            gram.withUnsafeMutableBufferPointer { g in
                for i in 0..<count {
                    let row = vp.baseAddress! + i * f
                    for a in 0..<f {
                        let va = row[a]
                        if va == 0 { continue }
                        let out = g.baseAddress! + a * f
                        for b in 0..<f { out[b] += va * row[b] }
                    }
                }
            }
        }
        return gram
    }

    /// One half-iteration: updates every row vector of `x` against the fixed `y`.
    static func solve(_ x: inout [Float], given y: [Float], _ m: SparseInteractions, _ s: FactorizationSettings) {
        let f = s.factors
        let lambda = Float(s.regularization), alpha = Float(s.alpha)
        // G = YᵀY + λI, shared by every row.
        var gram = gramian(y, count: m.columnCount, f)
        for a in 0..<f { gram[a * f + a] += lambda }
        var r = [Float](repeating: 0, count: f), p = [Float](repeating: 0, count: f), ap = [Float](repeating: 0, count: f)
        x.withUnsafeMutableBufferPointer { xp in
            y.withUnsafeBufferPointer { yp in
                gram.withUnsafeBufferPointer { g in
                    r.withUnsafeMutableBufferPointer { r in
                        p.withUnsafeMutableBufferPointer { p in
                            ap.withUnsafeMutableBufferPointer { ap in
                                let yb = yp.baseAddress!, gb = g.baseAddress!
                                for u in 0..<m.rowCount {
                                    let xu = xp.baseAddress! + u * f
                                    let lo = m.rowStart[u], hi = m.rowStart[u + 1]
                                    // A v = G v + Σ_obs (c − 1)(y·v) y
                                    func multiply(_ v: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) {
                                        for a in 0..<f {
                                            var acc: Float = 0
                                            let row = gb + a * f
                                            for b in 0..<f { acc += row[b] * v[b] }
                                            out[a] = acc
                                        }
                                        for j in lo..<hi {
                                            let yi = yb + Int(m.columns[j]) * f
                                            var dot: Float = 0
                                            for a in 0..<f { dot += yi[a] * v[a] }
                                            let w = (alpha * m.values[j] - 1) * dot
                                            for a in 0..<f { out[a] += w * yi[a] }
                                        }
                                    }
                                    // r = b − A x, b = Σ_obs c y
                                    multiply(xu, into: ap.baseAddress!)
                                    for a in 0..<f { r[a] = -ap[a] }
                                    for j in lo..<hi {
                                        let yi = yb + Int(m.columns[j]) * f
                                        let c = alpha * m.values[j]
                                        for a in 0..<f { r[a] += c * yi[a] }
                                    }
                                    var rsOld: Float = 0
                                    for a in 0..<f { p[a] = r[a]; rsOld += r[a] * r[a] }
                                    for _ in 0..<s.conjugateGradientSteps {
                                        if rsOld < 1e-20 { break }
                                        multiply(p.baseAddress!, into: ap.baseAddress!)
                                        var pAp: Float = 0
                                        for a in 0..<f { pAp += p[a] * ap[a] }
                                        guard pAp > 0 else { break }
                                        let step = rsOld / pAp
                                        var rsNew: Float = 0
                                        for a in 0..<f {
                                            xu[a] += step * p[a]
                                            r[a] -= step * ap[a]
                                            rsNew += r[a] * r[a]
                                        }
                                        let beta = rsNew / rsOld
                                        for a in 0..<f { p[a] = r[a] + beta * p[a] }
                                        rsOld = rsNew
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
