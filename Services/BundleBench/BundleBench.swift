import Foundation
import SlipwayModelBundle

/// Scoring benchmark: a synthetic bundle (default 10,000 candidates × 64 dims, query tower with
/// 5,000-customer vocabulary, one hidden layer of 128) is written, loaded through `ModelBundle.load`, then
/// single queries and batches are timed. Prints a `RESULT` line.
@main
struct BundleBench {
    struct RNG {
        var s: UInt64
        mutating func next() -> Float {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(s >> 11) * 0x1.0p-53) * 2 - 1
        }
    }

    static func arg(_ name: String, _ def: Int) -> Int {
        let a = CommandLine.arguments
        if let i = a.firstIndex(of: "--\(name)"), i + 1 < a.count, let v = Int(a[i + 1]) { return v }
        return def
    }

    static func nowNs() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func main() throws {
        let n = arg("candidates", 10_000), d = arg("dim", 64), k = arg("k", 10), iters = arg("iterations", 20_000)
        let customers = 5_000
        var r = RNG(s: 7)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-bench-\(getpid())")
        try SyntheticBundle.make(candidates: n, dim: d, customers: customers, modelName: "bench").write(to: dir)
        let t0 = nowNs()
        let bundle = try ModelBundle.load(from: dir)
        let loadMs = Double(nowNs() - t0) / 1e6
        let scorer = try Scorer(bundle: bundle)
        defer { try? FileManager.default.removeItem(at: dir) }

        let queries: [[Float]] = (0..<256).map { _ in
            var q = (0..<d).map { _ in r.next() }
            let inv = 1 / q.reduce(0) { $0 + $1 * $1 }.squareRoot()
            q = q.map { $0 * inv }
            return q
        }
        var sink = 0
        // Top-k over the embeddings only.
        for i in 0..<1000 { sink &+= scorer.topK(query: queries[i % queries.count], k: k)[0].index }
        var lat = [Double](repeating: 0, count: iters)
        for i in 0..<iters {
            let s = nowNs()
            sink &+= scorer.topK(query: queries[i % queries.count], k: k)[0].index
            lat[i] = Double(nowNs() - s) / 1e3
        }
        lat.sort()
        let p50 = lat[iters / 2], p99 = lat[iters * 99 / 100]
        // End to end: raw features → validation/transform → tower → top-k → product ids.
        let feats: [[String: FeatureValue]] = (0..<256).map { i in
            ["customer_id": .string("C\(i * 19 % (customers + 300))"), "city": .string("city\(i % 23)"), "segment": .string("horeca")]
        }
        var e2e = [Double](repeating: 0, count: iters)
        let tAll = nowNs()
        for i in 0..<iters {
            let s = nowNs()
            sink &+= try scorer.recommend(feats[i % feats.count], k: k).productIds.count
            e2e[i] = Double(nowNs() - s) / 1e3
        }
        let qps = Double(iters) / (Double(nowNs() - tAll) / 1e9)
        e2e.sort()
        // Batches of 64 (blocked matrix × matrix over the candidate matrix).
        let batch = Array(feats.prefix(64))
        let reps = max(10, iters / 640)
        let tb = nowNs()
        for _ in 0..<reps { sink &+= try scorer.recommendBatch(batch, k: k).count }
        let batchPerQuery = Double(nowNs() - tb) / 1e3 / Double(reps * batch.count)
        print(
            String(
                format:
                    "candidates=%d dim=%d k=%d load_ms=%.1f topk_us_p50=%.1f topk_us_p99=%.1f recommend_us_p50=%.1f recommend_us_p99=%.1f batch64_us_per_query=%.1f (sink %d)",
                n, d, k, loadMs, p50, p99, e2e[iters / 2], e2e[iters * 99 / 100], batchPerQuery, sink % 7))
        print(String(format: "RESULT score_us_p50=%.1f score_us_p99=%.1f qps_single_thread=%.0f", p50, p99, qps))
    }
}
