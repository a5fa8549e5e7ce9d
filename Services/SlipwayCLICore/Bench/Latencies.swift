import Foundation

/// Request latencies in milliseconds.
struct Latencies {
    var sorted: [Double]
    var failures = 0
    var bytes = 0

    init(_ samples: [Double]) { sorted = samples.sorted() }

    var count: Int { sorted.count }
    var p50: Double { percentile(0.50) }
    var p99: Double { percentile(0.99) }

    func percentile(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))]
    }

    var summary: String {
        String(
            format: "%d requests, p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms",
            count, p50, percentile(0.90), p99, sorted.last ?? 0)
    }
}

extension Duration {
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
