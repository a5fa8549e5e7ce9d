import Foundation

/// xoshiro256** seeded through SplitMix64: fast, deterministic across platforms for a given seed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1).
    @inline(__always)
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform integer in 0..<n (n > 0).
    @inline(__always)
    public mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    public mutating func normal() -> Double {
        var u = uniform()
        while u <= 1e-300 { u = uniform() }
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * uniform())
    }

    /// Gamma(shape, 1) by Marsaglia–Tsang.
    public mutating func gamma(_ shape: Double) -> Double {
        if shape < 1 { return gamma(shape + 1) * pow(max(uniform(), 1e-300), 1 / shape) }
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat { x = normal(); v = 1 + c * x } while v <= 0
            v = v * v * v
            let u = uniform()
            if u < 1 - 0.0331 * x * x * x * x || log(max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    public mutating func dirichlet(_ alpha: Double, count: Int) -> [Double] {
        var g = (0..<count).map { _ in gamma(alpha) + 1e-12 }
        let s = g.reduce(0, +)
        for i in g.indices { g[i] /= s }
        return g
    }
}

/// Sampling from a fixed discrete distribution by binary search on the cumulative weights.
public struct DiscreteSampler: Sendable {
    let cumulative: [Double]
    public init(weights: [Double]) {
        var acc = 0.0
        cumulative = weights.map {
            acc += max($0, 0); return acc
        }
    }
    public func sample(_ rng: inout SeededRandom) -> Int {
        let total = cumulative.last ?? 0
        let u = rng.uniform() * total
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) >> 1
            if cumulative[mid] > u { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}
