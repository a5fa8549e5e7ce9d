import Foundation
import SlipwayModelBundle

/// Recall@K on held-out pairs; items the customer already bought in train are excluded from the
/// ranking and from the targets (the task is finding *new* products).
public struct RecallMetrics: Sendable, Equatable {
    public var recall: [Int: Double]
    /// Distinct (customer, new product) pairs evaluated.
    public var pairs: Int
    public var customers: Int
    public subscript(k: Int) -> Double { recall[k] ?? 0 }
}

public struct EvaluationSet: Sendable {
    /// Customers evaluated, each with one query-example row (into the query EncodedFeatures).
    public var customers: [Int32]
    public var queryRows: [Int32]
    /// Target products per evaluated customer (not bought in train).
    public var targets: [[Int32]]
    /// Products bought in train per evaluated customer (excluded from the ranking).
    public var excluded: [[Int32]]

    /// Builds the set from held-out rows; the query row is the customer's first held-out row.
    public static func build(dataset ds: InteractionDataset, trainRows: [Int], heldOutRows: [Int]) -> EvaluationSet {
        var trainItems = [Set<Int32>](repeating: [], count: ds.customerIds.count)
        for r in trainRows { let it = ds.interactions[r]; trainItems[Int(it.customer)].insert(it.product) }
        var slot = [Int32](repeating: -1, count: ds.customerIds.count)
        var set = EvaluationSet(customers: [], queryRows: [], targets: [], excluded: [])
        var seen = [Set<Int32>]()
        for r in heldOutRows {
            let it = ds.interactions[r]
            let c = Int(it.customer)
            if trainItems[c].contains(it.product) { continue }
            if slot[c] < 0 {
                slot[c] = Int32(set.customers.count)
                set.customers.append(it.customer); set.queryRows.append(Int32(r))
                set.targets.append([]); set.excluded.append(trainItems[c].sorted()); seen.append([])
            }
            let s = Int(slot[c])
            if seen[s].insert(it.product).inserted { set.targets[s].append(it.product) }
        }
        return set
    }
}

public enum Evaluator {
    public static let ks = [5, 10, 50, 100]

    /// Recall of a ranking given per-customer scores (`scoreFn` fills n scores for customer slot s).
    static func recall(
        _ set: EvaluationSet, productCount n: Int, ks: [Int],
        scoreFn: (Int, UnsafeMutablePointer<Float>) -> Void
    ) -> RecallMetrics {
        let kmax = min(ks.max() ?? 100, n)
        var hits = [Int](repeating: 0, count: ks.count)
        var pairs = 0
        var scores = [Float](repeating: 0, count: n)
        var rankOf = [Int32](repeating: -1, count: n)
        for s in 0..<set.customers.count {
            scores.withUnsafeMutableBufferPointer { sp in
                scoreFn(s, sp.baseAddress!)
                for p in set.excluded[s] { sp[Int(p)] = -.infinity }
            }
            var heap = TopKHeap(k: kmax)
            for j in 0..<n where scores[j] > -.infinity && scores[j] >= heap.threshold { heap.push(scores[j], Int32(j)) }
            let top = heap.sorted()
            for (rank, e) in top.enumerated() { rankOf[e.index] = Int32(rank) }
            for t in set.targets[s] {
                let r = rankOf[Int(t)]
                if r >= 0 { for (ki, k) in ks.enumerated() where Int(r) < k { hits[ki] += 1 } }
            }
            pairs += set.targets[s].count
            for e in top { rankOf[e.index] = -1 }
        }
        var out: [Int: Double] = [:]
        for (ki, k) in ks.enumerated() { out[k] = pairs > 0 ? Double(hits[ki]) / Double(pairs) : 0 }
        return RecallMetrics(recall: out, pairs: pairs, customers: set.customers.count)
    }

    /// Model recall: query embeddings of the set's rows against all candidate embeddings.
    public static func modelRecall(
        _ set: EvaluationSet, queryTower: Tower, queryEnc: EncodedFeatures,
        candidateEmbeddings: [Float], productCount n: Int, ks: [Int] = ks
    ) -> RecallMetrics {
        let d = queryTower.outputDim
        var qEmb = [Float](repeating: 0, count: set.queryRows.count * d)
        var start = 0
        while start < set.queryRows.count {
            let cnt = min(512, set.queryRows.count - start)
            set.queryRows[start..<(start + cnt)].withUnsafeBufferPointer { queryTower.forward(rows: $0, enc: queryEnc) }
            qEmb.withUnsafeMutableBufferPointer { q in
                queryTower.output.withUnsafeBufferPointer { (q.baseAddress! + start * d).update(from: $0.baseAddress!, count: cnt * d) }
            }
            start += cnt
        }
        return qEmb.withUnsafeBufferPointer { q in
            candidateEmbeddings.withUnsafeBufferPointer { c in
                recall(set, productCount: n, ks: ks) { s, out in
                    Kernels.scoreBlock(query: q.baseAddress! + s * d, candidates: c.baseAddress!, count: n, dim: d, scores: out)
                }
            }
        }
    }

    /// Popularity baseline: products ranked by train purchase count (same exclusions, same targets).
    public static func popularityRecall(
        _ set: EvaluationSet, dataset ds: InteractionDataset, trainRows: [Int],
        ks: [Int] = ks
    ) -> RecallMetrics {
        var counts = [Float](repeating: 0, count: ds.productIds.count)
        for r in trainRows { counts[Int(ds.interactions[r].product)] += 1 }
        return counts.withUnsafeBufferPointer { cp in
            recall(set, productCount: ds.productIds.count, ks: ks) { _, out in out.update(from: cp.baseAddress!, count: cp.count) }
        }
    }
}
