import Foundation
import SlipwayModelBundle

/// Tower inputs for many examples: table indices (n × tables) and dense floats (n × denseWidth).
public struct EncodedFeatures: Sendable {
    public var count: Int
    public var tableCount: Int
    public var denseWidth: Int
    public var tableIndex: [Int32]
    public var dense: [Float]
}

public enum FeatureError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownFeature(name: String, side: String, available: [String])
    case badValue(feature: String, value: String, type: RawFeatureType, location: String)
    case invalidConfig(String)
    public var description: String {
        switch self {
        case .unknownFeature(let n, let s, let a):
            "\(s) feature '\(n)' is not a column of the dataset (available: \(a.sorted().joined(separator: ", ")))"
        case .badValue(let f, let v, let t, let l): "feature '\(f)': value '\(v)' at \(l) is not a valid \(t.rawValue)"
        case .invalidConfig(let r): "invalid feature config: \(r)"
        }
    }
}

/// Where a feature's raw values come from.
enum FeatureSource {
    case customerId, productId, timestamp, revenue
    case customerAttribute([String?])
    case productAttribute([String?])
    case rowColumn([String?])
    /// Transaction column pivoted per product (value of the product's last row).
    case productPivot([String?])
}

/// Fits transforms (vocabularies, mean/std, quantile boundaries) on the train split and encodes examples.
public struct FeaturePipeline: Sendable {
    public var query: [FeatureTransform]
    public var candidate: [FeatureTransform]

    static func source(_ f: FeatureSpec, side: String, ds: InteractionDataset) throws(FeatureError) -> FeatureSource {
        if side == "query" {
            if f.name == "customer_id" { return .customerId }
            if let a = ds.customerAttributes[f.name] { return .customerAttribute(a) }
            if f.name == "timestamp" { return .timestamp }
            if f.name == "revenue" { return .revenue }
            if let r = ds.rowColumns[f.name] { return .rowColumn(r) }
            throw .unknownFeature(
                name: f.name, side: side,
                available: ["customer_id", "timestamp", "revenue"] + ds.customerAttributes.keys + ds.rowColumns.keys)
        } else {
            if f.name == "product_id" { return .productId }
            if let a = ds.productAttributes[f.name] { return .productAttribute(a) }
            if let r = ds.rowColumns[f.name] {
                var pv = [String?](repeating: nil, count: ds.productIds.count)
                for it in ds.interactions { if let v = r[Int(it.row)] { pv[Int(it.product)] = v } }
                return .productPivot(pv)
            }
            throw .unknownFeature(name: f.name, side: side, available: ["product_id"] + ds.productAttributes.keys + ds.rowColumns.keys)
        }
    }

    /// Raw value of a query feature for interaction `i`, or of a candidate feature for product `i`.
    static func rawValue(_ src: FeatureSource, _ spec: FeatureSpec, ds: InteractionDataset, index i: Int) throws(FeatureError) -> FeatureValue? {
        let s: String?
        switch src {
        case .customerId: s = ds.customerIds[Int(ds.interactions[i].customer)]
        case .productId: s = ds.productIds[i]
        case .timestamp: return .double(ds.interactions[i].timestamp)
        case .revenue: return .double(Double(ds.interactions[i].revenue))
        case .customerAttribute(let a): s = a[Int(ds.interactions[i].customer)]
        case .productAttribute(let a), .productPivot(let a): s = a[i]
        case .rowColumn(let r): s = r[Int(ds.interactions[i].row)]
        }
        guard let s else { return nil }
        if let value = parse(s, as: spec.type) { return value }
        // An optional feature's unparseable value is missing, as an empty cell is (the stats stage counts them).
        // A required feature has no missing value to fall back on, and leaving its example out here would change
        // the split after the fact, so the run fails, naming the value and its row.
        guard spec.required else { return nil }
        throw .badValue(feature: spec.name, value: s, type: spec.type, location: location(src, ds: ds, index: i))
    }

    /// A cell as a value of `type`, or nil when it does not parse as one.
    static func parse(_ s: String, as type: RawFeatureType) -> FeatureValue? {
        switch type {
        case .string: return .string(s)
        case .int: return Int(s.trimmingCharacters(in: .whitespaces)).map(FeatureValue.int)
        case .float:
            guard let v = Double(s.trimmingCharacters(in: .whitespaces)), v.isFinite else { return nil }
            return .double(v)
        case .timestamp:
            guard let v = Timestamp.parse(s), v.isFinite else { return nil }
            return .double(v)
        }
    }

    /// The file row a raw value came from (`path:line`), or the example when it has none.
    static func location(_ src: FeatureSource, ds: InteractionDataset, index i: Int) -> String {
        let row: String?
        switch src {
        case .customerAttribute: row = ds.customerLines?.row(Int(ds.interactions[i].customer))
        case .productAttribute: row = ds.productLines?.row(i)
        case .rowColumn: row = ds.transactionLines.row(Int(ds.interactions[i].row))
        case .productPivot: return "product '\(ds.productIds[i])'"
        case .customerId, .productId, .timestamp, .revenue: row = nil
        }
        return row ?? "example \(i)"
    }

    /// Fits every transform on the train rows (query side) / train products (candidate side).
    public static func fit(config: FeatureConfig, dataset ds: InteractionDataset, trainRows: [Int]) throws(FeatureError) -> FeaturePipeline {
        guard !config.query.isEmpty, !config.candidate.isEmpty else {
            throw .invalidConfig("both query and candidate sides need at least one feature")
        }
        var seenProducts = [Bool](repeating: false, count: ds.productIds.count)
        for r in trainRows { seenProducts[Int(ds.interactions[r].product)] = true }
        // Candidate statistics are weighted by train interactions, like the query side.
        var productWeight = [Int](repeating: 0, count: ds.productIds.count)
        for r in trainRows { productWeight[Int(ds.interactions[r].product)] += 1 }

        func fitOne(_ f: FeatureSpec, side: String) throws(FeatureError) -> FeatureTransform {
            let src = try source(f, side: side, ds: ds)
            var values: [(FeatureValue, Int)] = []
            if side == "query" {
                values.reserveCapacity(trainRows.count)
                for r in trainRows { if let v = try rawValue(src, f, ds: ds, index: r) { values.append((v, 1)) } }
            } else {
                for p in 0..<ds.productIds.count where seenProducts[p] {
                    if let v = try rawValue(src, f, ds: ds, index: p) { values.append((v, productWeight[p])) }
                }
            }
            var t = FeatureTransform(name: f.name, type: f.type, kind: f.transform, required: f.required)
            switch f.transform {
            case .vocabulary:
                var counts: [String: Int] = [:]
                for (v, w) in values { counts[v.description, default: 0] += w }
                let vocab = counts.filter { $0.value >= f.minCount }.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.map(
                    \.key)
                t.vocabulary = vocab; t.oovBuckets = max(1, f.oovBuckets); t.embeddingDim = f.embeddingDim
            case .normalize:
                var s = 0.0, s2 = 0.0, n = 0.0
                for (v, w) in values {
                    var x = numeric(v)
                    if f.log { x = x > -1 ? log1p(x) : 0 }
                    s += x * Double(w); s2 += x * x * Double(w); n += Double(w)
                }
                let mean = n > 0 ? s / n : 0
                let std = n > 0 ? max((s2 / n - mean * mean), 0).squareRoot() : 1
                t.mean = mean; t.std = std > 1e-12 ? std : 1; t.logTransform = f.log
            case .bucketize:
                var xs: [Double] = []
                for (v, w) in values { for _ in 0..<min(w, 1000) { xs.append(numeric(v)) } }
                xs.sort()
                var b: [Double] = []
                let k = max(2, f.buckets)
                if !xs.isEmpty {
                    for q in 1..<k {
                        let x = xs[min(xs.count - 1, q * xs.count / k)]
                        if b.last.map({ x > $0 }) ?? true { b.append(x) }
                    }
                }
                if b.isEmpty { b = [0] }
                t.boundaries = b; t.embeddingDim = f.embeddingDim
            case .cyclical:
                t.cycles = f.cycles
            }
            do { try t.validate() } catch { throw .invalidConfig(error.description) }
            return t
        }
        var q: [FeatureTransform] = [], c: [FeatureTransform] = []
        for f in config.query { q.append(try fitOne(f, side: "query")) }
        for f in config.candidate { c.append(try fitOne(f, side: "candidate")) }
        return FeaturePipeline(query: q, candidate: c)
    }

    static func numeric(_ v: FeatureValue) -> Double {
        switch v {
        case .int(let i): Double(i)
        case .double(let d): d
        case .string(let s): Double(s) ?? 0
        }
    }

    /// Encodes `count` items with the same encoders serving uses.
    static func encode(
        _ transforms: [FeatureTransform], specs: [FeatureSpec], side: String, ds: InteractionDataset,
        count: Int
    ) throws -> EncodedFeatures {
        let encoders = transforms.map(FeatureEncoder.init)
        let tables = transforms.filter(\.isTable).count
        let denseW = transforms.filter { !$0.isTable }.reduce(0) { $0 + $1.denseWidth }
        var out = EncodedFeatures(
            count: count, tableCount: tables, denseWidth: denseW,
            tableIndex: [Int32](repeating: 0, count: count * tables),
            dense: [Float](repeating: 0, count: count * max(denseW, 0)))
        let sources = try specs.map { (f) throws(FeatureError) in try source(f, side: side, ds: ds) }
        try out.dense.withUnsafeMutableBufferPointer { dense in
            for i in 0..<count {
                var ti = 0, di = 0
                for (k, enc) in encoders.enumerated() {
                    let v = try rawValue(sources[k], specs[k], ds: ds, index: i)
                    if enc.transform.isTable {
                        out.tableIndex[i * tables + ti] = try enc.tableIndex(v); ti += 1
                    } else {
                        try enc.writeDense(v, to: dense.baseAddress! + i * denseW + di); di += enc.transform.denseWidth
                    }
                }
            }
        }
        return out
    }

    /// Query inputs, one per interaction row.
    public func encodeQueries(config: FeatureConfig, dataset ds: InteractionDataset) throws -> EncodedFeatures {
        try FeaturePipeline.encode(query, specs: config.query, side: "query", ds: ds, count: ds.interactions.count)
    }

    /// Candidate inputs, one per product (row i = `ds.productIds[i]`).
    public func encodeCandidates(config: FeatureConfig, dataset ds: InteractionDataset) throws -> EncodedFeatures {
        try FeaturePipeline.encode(candidate, specs: config.candidate, side: "candidate", ds: ds, count: ds.productIds.count)
    }
}
