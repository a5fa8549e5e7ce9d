/// Serving-side answer for one query (the `predictions[i]` object of the model server).
public struct Recommendations: Sendable, Equatable {
    /// Why an answer is not the model's view of a known query (the model server's `fallback` key).
    public enum Fallback: String, Sendable {
        /// The id is unknown and no other feature is known: the candidates most interacted with in the train
        /// split, scored by their interaction counts.
        case popularity
        /// The id is unknown: the tower scored the query's other features (the id took its out-of-vocabulary row).
        case attributes
    }

    public var productIds: [String]
    public var scores: [Float]
    /// nil for a known id, and for an unknown one with nothing else known when the bundle has no popularity
    /// (a bundle from before cold-start policies: the tower scores the out-of-vocabulary rows, as it always did).
    public var fallback: Fallback?
    public init(productIds: [String], scores: [Float], fallback: Fallback? = nil) {
        self.productIds = productIds; self.scores = scores; self.fallback = fallback
    }
}

/// Query-tower forward pass over raw features (no allocation beyond the output).
public struct QueryTower: Sendable {
    /// What a query gave the tower to go on.
    public enum Evidence: Sendable, Equatable {
        /// The id is in the vocabulary (or the tower has no id feature): the model knows this query.
        case knownID
        /// The id is unknown, but another feature is present and known to its transform.
        case attributesOnly
        /// The id is unknown and every other feature is missing or unknown: the input holds only the rows
        /// training learnt for "unknown", the same for every such query.
        case nothing
    }

    public let encoders: [FeatureEncoder]
    let tables: [[Float]?]
    let tableDims: [Int]
    let kernels: [[Float]]
    let biases: [[Float]]
    /// Layer widths, input first, output last.
    public let sizes: [Int]
    public let l2Normalize: Bool
    /// The vocabulary feature that identifies a query: `customer_id`, else the first required one, if the tower has one.
    let idFeature: Int?

    init(transforms: [FeatureTransform], layout: TowerLayout, l2Normalize: Bool) {
        encoders = transforms.map(FeatureEncoder.init)
        tables = layout.tables.map { $0?.data }
        tableDims = transforms.map { $0.inputWidth }
        kernels = layout.kernels.map(\.data)
        biases = layout.biases.map(\.data)
        sizes = [layout.inputDim] + layout.kernels.map { $0.shape[1] }
        self.l2Normalize = l2Normalize
        idFeature =
            transforms.firstIndex { $0.kind == .vocabulary && $0.name == "customer_id" }
            ?? transforms.firstIndex { $0.kind == .vocabulary && $0.required }
    }

    public var outputDim: Int { sizes.last! }

    /// Validates + transforms the raw features and runs the tower; writes `outputDim` floats and says what
    /// the query gave the tower to go on.
    @discardableResult
    public func embed(_ features: [String: FeatureValue], into out: UnsafeMutablePointer<Float>) throws(ScoringError) -> Evidence {
        let width = sizes.max()!
        return try withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * width) { (buf) throws(ScoringError) -> Evidence in
            let x = buf.baseAddress!, h = x + width
            var off = 0
            var idKnown = true
            var attributeKnown = false
            for (f, enc) in encoders.enumerated() {
                let value = features[enc.name]
                let informative: Bool
                if let table = tables[f] {
                    let row = try enc.tableIndex(value)
                    informative = enc.isInformative(row: row)
                    let d = tableDims[f]
                    table.withUnsafeBufferPointer { t in (x + off).update(from: t.baseAddress! + Int(row) * d, count: d) }
                    off += d
                } else {
                    try enc.writeDense(value, to: x + off)
                    informative = value != nil
                    off += tableDims[f]
                }
                if f == idFeature { idKnown = informative } else if informative { attributeKnown = true }
            }
            var cur = x, nxt = h
            for l in 0..<kernels.count {
                let nIn = sizes[l], nOut = sizes[l + 1]
                let dst = l == kernels.count - 1 ? out : nxt
                biases[l].withUnsafeBufferPointer { b in dst.update(from: b.baseAddress!, count: nOut) }
                kernels[l].withUnsafeBufferPointer { k in
                    for i in 0..<nIn where cur[i] != 0 { Kernels.axpy(dst, cur[i], k.baseAddress! + i * nOut, nOut) }
                }
                if l < kernels.count - 1 {
                    for i in 0..<nOut where dst[i] < 0 { dst[i] = 0 }
                    swap(&cur, &nxt)
                }
            }
            if l2Normalize {
                let n = Kernels.dot(out, out, outputDim).squareRoot()
                if n > 0 { let inv = 1 / n; for i in 0..<outputDim { out[i] *= inv } }
            }
            return idKnown ? .knownID : attributeKnown ? .attributesOnly : .nothing
        }
    }
}

/// Exact top-k retrieval over all candidates of a bundle.
///
/// Scores are dot products between the query-tower output and the precomputed candidate matrix
/// (contiguous N×D Float32, SIMD kernels); selection keeps a k-sized min-heap (no full sort).
public final class Scorer: Sendable {
    public let manifest: Manifest
    public let queryTower: QueryTower
    /// N×D, row-major.
    public let candidates: [Float]
    public let candidateIds: [String]
    public let dim: Int
    let idIndex: [String: Int32]
    /// Train-split interaction count per candidate row, and the rows ordered by it (most first, ties by row);
    /// nil when the bundle has no popularity.
    let popularity: (counts: [Float], ranking: [Int32])?

    /// Candidates scored per block (block of N×D rows stays in L1/L2 while a batch of queries runs over it).
    public static let blockSize = 256

    public init(bundle: ModelBundle) throws(BundleError) {
        let layout = try TowerLayout(
            transforms: bundle.preprocessing.query, config: bundle.manifest.queryTower,
            tensors: bundle.queryTower, side: "query")
        manifest = bundle.manifest
        queryTower = QueryTower(
            transforms: bundle.preprocessing.query, layout: layout,
            l2Normalize: bundle.manifest.queryTower.l2Normalize)
        candidates = bundle.candidateEmbeddings
        candidateIds = bundle.candidateIds
        dim = bundle.manifest.outputDim
        var ix: [String: Int32] = [:]
        for (i, id) in candidateIds.enumerated() { ix[id] = Int32(i) }
        idIndex = ix
        popularity = bundle.candidatePopularity.map { counts in
            (counts: counts, ranking: counts.indices.sorted { counts[$0] > counts[$1] || (counts[$0] == counts[$1] && $0 < $1) }.map(Int32.init))
        }
    }

    public var candidateCount: Int { candidateIds.count }

    /// Query embedding for raw features (validated and transformed with the bundle's preprocessing).
    public func queryEmbedding(_ features: [String: FeatureValue]) throws(ScoringError) -> [Float] {
        var out = [Float](repeating: 0, count: dim)
        _ = try out.withUnsafeMutableBufferPointer { (b) throws(ScoringError) in try queryTower.embed(features, into: b.baseAddress!) }
        return out
    }

    /// Which fallback the answer to a query with this evidence takes; nil: the tower's answer, unmarked.
    public func fallback(for evidence: QueryTower.Evidence) -> Recommendations.Fallback? {
        switch evidence {
        case .knownID: nil
        case .attributesOnly: .attributes
        case .nothing: popularity == nil ? nil : .popularity
        }
    }

    /// Embeds one query and says how it is answered: `.popularity` by `mostPopular` (the embedding unused),
    /// anything else by the tower's top-k for `out`, marked with the fallback.
    public func embed(_ features: [String: FeatureValue], into out: UnsafeMutablePointer<Float>) throws(ScoringError)
        -> Recommendations.Fallback?
    {
        fallback(for: try queryTower.embed(features, into: out))
    }

    /// The k candidates most interacted with in the train split, skipping `excluded` rows; the scores are the counts.
    /// Only for a bundle with popularity (the only one whose queries take that fallback).
    public func mostPopular(k: Int, excluded: Set<Int32> = []) -> Recommendations {
        guard let popularity else { preconditionFailure("the bundle has no candidate popularity") }
        var answer = Recommendations(productIds: [], scores: [], fallback: .popularity)
        for row in popularity.ranking where !excluded.contains(row) {
            guard answer.productIds.count < k else { break }
            answer.productIds.append(candidateIds[Int(row)])
            answer.scores.append(popularity.counts[Int(row)])
        }
        return answer
    }

    /// Product ids and scores of a tower top-k.
    public func recommendations(_ top: some Sequence<(index: Int, score: Float)>, fallback: Recommendations.Fallback?) -> Recommendations {
        var answer = Recommendations(productIds: [], scores: [], fallback: fallback)
        answer.productIds.reserveCapacity(top.underestimatedCount)
        answer.scores.reserveCapacity(top.underestimatedCount)
        for (index, score) in top {
            answer.productIds.append(candidateIds[index])
            answer.scores.append(score)
        }
        return answer
    }

    /// Exact top-k of `query · candidates`; `excluded` holds candidate rows to skip.
    public func topK(query: UnsafePointer<Float>, k: Int, excluded: Set<Int32> = []) -> [(index: Int, score: Float)] {
        var heap = TopKHeap(k: min(max(k, 1), candidateCount))
        withUnsafeTemporaryAllocation(of: Float.self, capacity: Scorer.blockSize) { sbuf in
            let scores = sbuf.baseAddress!
            candidates.withUnsafeBufferPointer { cand in
                var start = 0
                let n = candidateCount
                while start < n {
                    let cnt = min(Scorer.blockSize, n - start)
                    Kernels.scoreBlock(query: query, candidates: cand.baseAddress! + start * dim, count: cnt, dim: dim, scores: scores)
                    var thr = heap.threshold
                    for j in 0..<cnt where scores[j] >= thr {
                        let idx = Int32(start + j)
                        if !excluded.isEmpty && excluded.contains(idx) { continue }
                        heap.push(scores[j], idx)
                        thr = heap.threshold
                    }
                    start += cnt
                }
            }
        }
        return heap.sorted()
    }

    public func topK(query: [Float], k: Int, excluded: Set<Int32> = []) -> [(index: Int, score: Float)] {
        precondition(query.count == dim, "query has \(query.count) dims, bundle has \(dim)")
        return query.withUnsafeBufferPointer { topK(query: $0.baseAddress!, k: k, excluded: excluded) }
    }

    /// Raw features → top-k ORIGINAL product ids with scores. `excluding` takes product ids.
    public func recommend(_ features: [String: FeatureValue], k: Int, excluding: Set<String> = []) throws(ScoringError) -> Recommendations {
        guard k >= 1 else { throw .invalidK(k) }
        var q = [Float](repeating: 0, count: dim)
        let fallback = try q.withUnsafeMutableBufferPointer { (b) throws(ScoringError) in try embed(features, into: b.baseAddress!) }
        let ex = Set(excluding.compactMap { idIndex[$0] })
        if fallback == .popularity { return mostPopular(k: k, excluded: ex) }
        return recommendations(topK(query: q, k: k, excluded: ex), fallback: fallback)
    }

    /// Top-k for a batch of query embeddings (Q×D row-major). Candidate blocks are reused across all
    /// queries while hot in cache (blocked matrix × matrixᵀ).
    public func topKBatch(queries: [Float], k: Int) -> [[(index: Int, score: Float)]] {
        precondition(queries.count % dim == 0)
        let q = queries.count / dim
        if q == 0 { return [] }
        var heaps = [TopKHeap](repeating: TopKHeap(k: min(max(k, 1), candidateCount)), count: q)
        let block = Scorer.blockSize
        withUnsafeTemporaryAllocation(of: Float.self, capacity: block) { sbuf in
            let scores = sbuf.baseAddress!
            candidates.withUnsafeBufferPointer { cand in
                queries.withUnsafeBufferPointer { qs in
                    var start = 0
                    let n = candidateCount
                    while start < n {
                        let cnt = min(block, n - start)
                        let cb = cand.baseAddress! + start * dim
                        for qi in 0..<q {
                            Kernels.scoreBlock(query: qs.baseAddress! + qi * dim, candidates: cb, count: cnt, dim: dim, scores: scores)
                            var thr = heaps[qi].threshold
                            for j in 0..<cnt where scores[j] >= thr {
                                heaps[qi].push(scores[j], Int32(start + j))
                                thr = heaps[qi].threshold
                            }
                        }
                        start += cnt
                    }
                }
            }
        }
        return heaps.map { $0.sorted() }
    }

    /// Raw-feature batch → recommendations. The first invalid instance fails the batch with
    /// `.instance(index:error:)` naming the instance and the feature.
    public func recommendBatch(_ instances: [[String: FeatureValue]], k: Int) throws(ScoringError) -> [Recommendations] {
        guard k >= 1 else { throw .invalidK(k) }
        var qs = [Float](repeating: 0, count: instances.count * dim)
        var fallbacks: [Recommendations.Fallback?] = []
        var towerRows = 0
        try qs.withUnsafeMutableBufferPointer { (b) throws(ScoringError) in
            for (i, inst) in instances.enumerated() {
                do throws(ScoringError) {
                    let fallback = try embed(inst, into: b.baseAddress! + towerRows * dim)
                    fallbacks.append(fallback)
                    // A popularity answer needs no top-k: the next query's embedding takes its row.
                    if fallback != .popularity { towerRows += 1 }
                } catch {
                    throw .instance(index: i, error: error)
                }
            }
        }
        qs.removeLast((instances.count - towerRows) * dim)
        var tops = topKBatch(queries: qs, k: k).makeIterator()
        return fallbacks.map { fallback in
            fallback == .popularity ? mostPopular(k: k) : recommendations(tops.next()!, fallback: fallback)
        }
    }
}
