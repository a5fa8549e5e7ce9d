import Foundation
import SlipwayModelBundle

/// The one evaluation protocol, for validation (model selection, early stopping) and the final test alike
/// (README, "How a run is evaluated"): each evaluated customer's ranking covers the items known from the
/// history (rows before the held-out ones), leaves out the items the customer already interacted with there,
/// and is scored against the distinct new items of the customer's held-out rows. Metrics are averaged over
/// customers, as MLflow's, RecBole's and Evidently's ranking metrics are.
public struct RankingMetrics: Sendable, Equatable {
    /// Recall@K: the share of a customer's held-out items found in their top K.
    public var recall: [Int: Double]
    /// NDCG@10 with binary relevance (ideal DCG over min(10, held-out items)).
    public var ndcgAt10: Double
    /// MAP@10: precision at each hit in the top 10, summed over min(10, held-out items).
    public var mapAt10: Double
    /// Share of the known catalogue that appears in at least one customer's top 10.
    public var coverageAt10: Double
    /// Customers evaluated and their (customer, new item) pairs.
    public var customers: Int
    public var pairs: Int
    public subscript(k: Int) -> Double { recall[k] ?? 0 }
}

public struct EvaluationSet: Sendable {
    /// Customers evaluated, each with one query-example row (into the query EncodedFeatures).
    public var customers: [Int32]
    public var queryRows: [Int32]
    /// Held-out items per evaluated customer: known, and not in the customer's history.
    public var targets: [[Int32]]
    /// Items in the customer's history (left out of the ranking).
    public var excluded: [[Int32]]
    /// Items that appear in the history: the only ones a model can recommend.
    public var known: [Bool]
    /// Held-out pairs dropped because their item never appears in the history.
    public var unknownItemPairs: Int

    /// Builds the set from held-out rows; the query row is the customer's first held-out row.
    public static func build(dataset ds: InteractionDataset, historyRows: [Int], heldOutRows: [Int]) -> EvaluationSet {
        var historyItems = [Set<Int32>](repeating: [], count: ds.customerIds.count)
        var known = [Bool](repeating: false, count: ds.productIds.count)
        for r in historyRows {
            let it = ds.interactions[r]
            historyItems[Int(it.customer)].insert(it.product)
            known[Int(it.product)] = true
        }
        var slot = [Int32](repeating: -1, count: ds.customerIds.count)
        var set = EvaluationSet(customers: [], queryRows: [], targets: [], excluded: [], known: known, unknownItemPairs: 0)
        var seen = [Set<Int32>]()
        var unknownSeen = Set<Int64>()
        for r in heldOutRows {
            let it = ds.interactions[r]
            let c = Int(it.customer)
            if historyItems[c].contains(it.product) { continue }
            guard known[Int(it.product)] else {
                if unknownSeen.insert(Int64(c) << 32 | Int64(it.product)).inserted { set.unknownItemPairs += 1 }
                continue
            }
            if slot[c] < 0 {
                slot[c] = Int32(set.customers.count)
                set.customers.append(it.customer); set.queryRows.append(Int32(r))
                set.targets.append([]); set.excluded.append(historyItems[c].sorted()); seen.append([])
            }
            let s = Int(slot[c])
            if seen[s].insert(it.product).inserted { set.targets[s].append(it.product) }
        }
        return set
    }
}

public enum Evaluator {
    public static let ks = [5, 10, 50, 100]
    /// Names the protocol in a run's metrics and details.
    public static let protocolName = "ranking_over_known_items_excluding_history"

    /// Ranks every customer's items with `scoreFn` (fills n scores for customer slot s) and scores the rankings.
    public static func evaluate(
        _ set: EvaluationSet, productCount n: Int, ks: [Int] = ks,
        scoreFn: (Int, UnsafeMutablePointer<Float>) -> Void
    ) -> RankingMetrics {
        let kmax = min(max(ks.max() ?? 10, 10), n)
        var recallSum = [Double](repeating: 0, count: ks.count)
        var ndcgSum = 0.0, apSum = 0.0
        var pairs = 0
        var scores = [Float](repeating: 0, count: n)
        var isTarget = [Bool](repeating: false, count: n)
        var inSomeTop10 = [Bool](repeating: false, count: n)
        for s in 0..<set.customers.count {
            scores.withUnsafeMutableBufferPointer { sp in
                scoreFn(s, sp.baseAddress!)
                for p in set.excluded[s] { sp[Int(p)] = -.infinity }
            }
            var heap = TopKHeap(k: kmax)
            for j in 0..<n where set.known[j] && scores[j] > -.infinity && scores[j] >= heap.threshold { heap.push(scores[j], Int32(j)) }
            let top = heap.sorted()
            let targets = set.targets[s]
            for t in targets { isTarget[Int(t)] = true }
            var hitsBefore = [Int](repeating: 0, count: ks.count)
            var dcg = 0.0, precisionSum = 0.0, hits10 = 0
            for (rank, e) in top.enumerated() {
                if rank < 10 { inSomeTop10[e.index] = true }
                guard isTarget[e.index] else { continue }
                for (ki, k) in ks.enumerated() where rank < k { hitsBefore[ki] += 1 }
                if rank < 10 {
                    hits10 += 1
                    dcg += 1 / log2(Double(rank) + 2)
                    precisionSum += Double(hits10) / Double(rank + 1)
                }
            }
            for t in targets { isTarget[Int(t)] = false }
            let relevantAt10 = min(10, targets.count)
            let idcg = (0..<relevantAt10).reduce(0.0) { $0 + 1 / log2(Double($1) + 2) }
            for ki in ks.indices { recallSum[ki] += Double(hitsBefore[ki]) / Double(targets.count) }
            ndcgSum += dcg / idcg
            apSum += precisionSum / Double(relevantAt10)
            pairs += targets.count
        }
        let customers = set.customers.count
        let mean = { (x: Double) in customers > 0 ? x / Double(customers) : 0 }
        var recall: [Int: Double] = [:]
        for (ki, k) in ks.enumerated() { recall[k] = mean(recallSum[ki]) }
        let knownCount = set.known.count { $0 }
        return RankingMetrics(
            recall: recall, ndcgAt10: mean(ndcgSum), mapAt10: mean(apSum),
            coverageAt10: knownCount > 0 ? Double(inSomeTop10.count { $0 }) / Double(knownCount) : 0,
            customers: customers, pairs: pairs)
    }

    /// A two-tower model: query embeddings of the set's rows against all candidate embeddings.
    public static func towerMetrics(
        _ set: EvaluationSet, queryTower: Tower, queryEnc: EncodedFeatures,
        candidateEmbeddings: [Float], productCount n: Int, ks: [Int] = ks
    ) -> RankingMetrics {
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
        return factorMetrics(set, customerVectors: qEmb, itemVectors: candidateEmbeddings, dim: d, productCount: n, ks: ks) { $0 }
    }

    /// Dot products of per-customer vectors (`vectorRow` maps a set slot to a row of `customerVectors`) with item vectors.
    public static func factorMetrics(
        _ set: EvaluationSet, customerVectors: [Float], itemVectors: [Float], dim d: Int, productCount n: Int, ks: [Int] = ks,
        vectorRow: (Int) -> Int
    ) -> RankingMetrics {
        customerVectors.withUnsafeBufferPointer { q in
            itemVectors.withUnsafeBufferPointer { c in
                evaluate(set, productCount: n, ks: ks) { s, out in
                    Kernels.scoreBlock(query: q.baseAddress! + vectorRow(s) * d, candidates: c.baseAddress!, count: n, dim: d, scores: out)
                }
            }
        }
    }

    /// Popularity baseline: items ranked by their interaction count in the history (same exclusions, same targets).
    public static func popularityMetrics(
        _ set: EvaluationSet, dataset ds: InteractionDataset, historyRows: [Int], ks: [Int] = ks
    ) -> RankingMetrics {
        let counts = popularity(ds, rows: historyRows)
        return counts.withUnsafeBufferPointer { cp in
            evaluate(set, productCount: ds.productIds.count, ks: ks) { _, out in out.update(from: cp.baseAddress!, count: cp.count) }
        }
    }

    /// Interactions per item over `rows`.
    public static func popularity(_ ds: InteractionDataset, rows: [Int]) -> [Float] {
        var counts = [Float](repeating: 0, count: ds.productIds.count)
        for r in rows { counts[Int(ds.interactions[r].product)] += 1 }
        return counts
    }
}
