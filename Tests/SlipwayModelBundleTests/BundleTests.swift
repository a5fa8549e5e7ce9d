import Foundation
import Testing

@testable import SlipwayModelBundle

func tempDir(_ name: String = #function) -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-bundle-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

struct LCG {
    var s: UInt64
    mutating func next() -> Float {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Float(Double(s >> 11) * 0x1.0p-53) * 2 - 1
    }
}

/// A small but complete bundle with random weights.
func makeBundle(candidates n: Int = 300, dim d: Int = 16, seed: UInt64 = 1) -> ModelBundle {
    var r = LCG(s: seed)
    let query: [FeatureTransform] = [
        .vocabulary("customer_id", values: (0..<10).map { "C\($0)" }, oovBuckets: 1, embeddingDim: 8, required: true),
        .vocabulary("city", values: ["Warsaw", "Krakow"], oovBuckets: 3, embeddingDim: 4),
        FeatureTransform(name: "revenue", type: .float, kind: .normalize, mean: 100, std: 50),
        FeatureTransform(name: "seen_at", type: .timestamp, kind: .cyclical, cycles: [.dayOfWeek, .month]),
        FeatureTransform(name: "size", type: .int, kind: .bucketize, embeddingDim: 3, boundaries: [10, 100]),
    ]
    let candidate: [FeatureTransform] = [.vocabulary("product_id", values: (0..<n).map { "P\($0)" }, embeddingDim: 8, required: true)]
    func t(_ shape: [Int]) -> Tensor { Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in r.next() }) }
    let inDim = 8 + 4 + 1 + 4 + 3
    let qt: [String: Tensor] = [
        "embedding/customer_id": t([11, 8]), "embedding/city": t([5, 4]), "embedding/size": t([4, 3]),
        "dense_0/kernel": t([inDim, 12]), "dense_0/bias": t([12]),
        "dense_1/kernel": t([12, d]), "dense_1/bias": t([d]),
    ]
    let manifest = Manifest(
        modelName: "test", createdAt: "2026-01-01T00:00:00Z",
        inputSchema: .init(
            query: query.map { .init(name: $0.name, type: $0.type, required: $0.required) },
            candidate: [.init(name: "product_id", type: .string, required: true)]),
        transforms: [], queryTower: .init(layers: [12], outputDim: d, l2Normalize: true, weightsFile: "query_tower.bin"),
        candidateTower: .init(layers: [], outputDim: d, l2Normalize: true, weightsFile: nil),
        outputDim: d, temperature: 0.1, candidates: .init(count: n, dim: d, idFeature: "product_id"),
        metrics: ["recall_at_100": 0.5], lineage: .init(datasetId: "ds", featureConfigId: "fc", modelConfigId: "mc", trainingRunId: "tr"))
    return ModelBundle(
        manifest: manifest, preprocessing: Preprocessing(query: query, candidate: candidate), queryTower: qt,
        candidateEmbeddings: (0..<(n * d)).map { _ in r.next() }, candidateIds: (0..<n).map { "SKU-\(1000 + $0 * 3)" })
}

let sampleQuery: [String: FeatureValue] = [
    "customer_id": .string("C3"), "city": .string("Warsaw"), "revenue": .double(120),
    "seen_at": .string("2025-03-14T10:00:00Z"), "size": .int(42),
]

@Suite struct BundleFormatTests {
    @Test func roundTripPreservesEverything() throws {
        let b = makeBundle()
        let dir = tempDir()
        try b.write(to: dir)
        for f in ["manifest.json", "preprocessing.json", "query_tower.bin", "candidates.bin", "candidate_ids.json"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f) written")
        }
        let l = try ModelBundle.load(from: dir)
        #expect(l.manifest == b.manifest)
        #expect(l.preprocessing == b.preprocessing)
        #expect(l.queryTower == b.queryTower)
        #expect(l.candidateEmbeddings == b.candidateEmbeddings)
        #expect(l.candidateIds == b.candidateIds)
        // Same scores from the original and the reloaded bundle.
        let s1 = try Scorer(bundle: b), s2 = try Scorer(bundle: l)
        #expect(try s1.recommend(sampleQuery, k: 7) == s2.recommend(sampleQuery, k: 7))
    }

    @Test func candidatesBinHasDocumentedLayout() throws {
        let b = makeBundle(candidates: 3, dim: 16)
        let dir = tempDir()
        try b.write(to: dir)
        let bytes = Array(try Data(contentsOf: dir.appendingPathComponent("candidates.bin")))
        #expect(Array(bytes[0..<4]) == Array("SLWC".utf8))
        #expect(bytes[4] == 1 && bytes[8] == 3 && bytes[12] == 16)
        #expect(bytes.count == 16 + 3 * 16 * 4)
        let first = Float(bitPattern: UInt32(bytes[16]) | UInt32(bytes[17]) << 8 | UInt32(bytes[18]) << 16 | UInt32(bytes[19]) << 24)
        #expect(first == b.candidateEmbeddings[0])
        let ids = try JSONDecoder().decode([String].self, from: Data(contentsOf: dir.appendingPathComponent("candidate_ids.json")))
        #expect(ids == ["SKU-1000", "SKU-1003", "SKU-1006"])
    }

    @Test func loadErrorsNameTheFile() throws {
        let missing = tempDir()
        #expect(throws: BundleError.missingFile(path: missing.appendingPathComponent("manifest.json").path)) {
            try ModelBundle.load(from: missing)
        }
        #expect(throws: BundleError.notADirectory(path: "/nonexistent/bundle")) {
            try ModelBundle.load(from: URL(fileURLWithPath: "/nonexistent/bundle"))
        }

        let dir = tempDir()
        try makeBundle().write(to: dir)
        let cand = dir.appendingPathComponent("candidates.bin")
        let data = try Data(contentsOf: cand)
        try data.prefix(data.count - 8).write(to: cand)
        do { _ = try ModelBundle.load(from: dir); Issue.record("expected an error") } catch {
            guard case .corruptFile(let p, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(p.hasSuffix("candidates.bin"))
        }

        let dir2 = tempDir()
        try makeBundle().write(to: dir2)
        let m = dir2.appendingPathComponent("manifest.json")
        let text = try String(contentsOf: m, encoding: .utf8).replacingOccurrences(of: "\"format_version\" : 1", with: "\"format_version\" : 99")
        try text.write(to: m, atomically: true, encoding: .utf8)
        #expect(throws: BundleError.unsupportedFormatVersion(found: 99, supported: 1)) { try ModelBundle.load(from: dir2) }

        let dir3 = tempDir()
        try makeBundle().write(to: dir3)
        try Data("{\"format_version\": 1}".utf8).write(to: dir3.appendingPathComponent("manifest.json"))
        do { _ = try ModelBundle.load(from: dir3); Issue.record("expected an error") } catch {
            guard case .invalidManifest(let p, let reason) = error else { Issue.record("wrong error \(error)"); return }
            #expect(p.hasSuffix("manifest.json") && reason.contains("missing key"))
        }
    }

    @Test func shapeMismatchIsRejected() throws {
        var b = makeBundle()
        b.queryTower["dense_1/bias"] = Tensor(shape: [3], data: [0, 0, 0])
        #expect(throws: BundleError.self) { try b.validate() }
    }
}

@Suite struct ScorerTests {
    func bruteForce(_ s: Scorer, _ q: [Float], k: Int, excluded: Set<Int32> = []) -> [(index: Int, score: Float)] {
        var all: [(index: Int, score: Float)] = []
        for j in 0..<s.candidateCount where !excluded.contains(Int32(j)) {
            var dot: Float = 0
            for i in 0..<s.dim { dot += q[i] * s.candidates[j * s.dim + i] }
            all.append((j, dot))
        }
        all.sort { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
        return Array(all.prefix(k))
    }

    @Test(arguments: [1, 5, 10, 64, 299, 300, 1000])
    func topKEqualsFullSort(k: Int) throws {
        for (n, d) in [(300, 16), (257, 24), (1001, 64)] {
            let s = try Scorer(bundle: makeBundle(candidates: n, dim: d, seed: UInt64(n)))
            var r = LCG(s: 99)
            for _ in 0..<5 {
                let q = (0..<d).map { _ in r.next() }
                let fast = s.topK(query: q, k: k)
                let slow = bruteForce(s, q, k: k)
                #expect(fast.map(\.index) == slow.map(\.index))
                for (a, b) in zip(fast, slow) { #expect(abs(a.score - b.score) < 1e-4) }
                let ex: Set<Int32> = [Int32(slow[0].index), 3, 7]
                #expect(s.topK(query: q, k: k, excluded: ex).map(\.index) == bruteForce(s, q, k: k, excluded: ex).map(\.index))
            }
        }
    }

    @Test func ties() throws {
        var b = makeBundle(candidates: 50, dim: 16)
        b.candidateEmbeddings = [Float](repeating: 0.25, count: 50 * 16)
        let s = try Scorer(bundle: b)
        #expect(s.topK(query: [Float](repeating: 1, count: 16), k: 5).map(\.index) == [0, 1, 2, 3, 4])
    }

    @Test func batchEqualsSingle() throws {
        let s = try Scorer(bundle: makeBundle(candidates: 700, dim: 16))
        let instances: [[String: FeatureValue]] = (0..<13).map { i in
            [
                "customer_id": .string("C\(i)"), "city": .string(i % 2 == 0 ? "Warsaw" : "Gdansk"), "revenue": .int(i * 10),
                "seen_at": .int(1_700_000_000 + i * 86400), "size": .int(i * 9),
            ]
        }
        let batch = try s.recommendBatch(instances, k: 10)
        for (i, inst) in instances.enumerated() {
            let single = try s.recommend(inst, k: 10)
            #expect(batch[i].productIds == single.productIds)
        }
        #expect(batch[0].productIds.allSatisfy { $0.hasPrefix("SKU-") }, "original ids, not indices")
    }

    @Test func recommendReturnsOriginalIdsAndHonoursExclusions() throws {
        let s = try Scorer(bundle: makeBundle())
        let r = try s.recommend(sampleQuery, k: 5)
        #expect(r.productIds.count == 5 && r.scores == r.scores.sorted(by: >))
        #expect(r.productIds.allSatisfy { $0.hasPrefix("SKU-") })
        let r2 = try s.recommend(sampleQuery, k: 5, excluding: [r.productIds[0]])
        #expect(!r2.productIds.contains(r.productIds[0]))
        #expect(r2.productIds[0] == r.productIds[1])
        #expect(throws: ScoringError.invalidK(0)) { try s.recommend(sampleQuery, k: 0) }
    }

    @Test func unknownCategoriesGoToOOV() throws {
        let b = makeBundle()
        let s = try Scorer(bundle: b)
        let enc = FeatureEncoder(b.preprocessing.query[0])
        #expect(try enc.tableIndex(.string("C4")) == 4)
        #expect(try enc.tableIndex(.string("never-seen")) == 10)
        let city = FeatureEncoder(b.preprocessing.query[1])
        let oov = try city.tableIndex(.string("Lodz"))
        #expect((2..<5).contains(oov))
        #expect(try city.tableIndex(.string("Lodz")) == oov, "OOV hashing is deterministic")
        #expect(try city.tableIndex(nil) == 2, "missing optional → first OOV row")
        // Two unknown customers share the single OOV row → same embedding.
        var q1 = sampleQuery; q1["customer_id"] = .string("X1")
        var q2 = sampleQuery; q2["customer_id"] = .string("Y2")
        #expect(try s.queryEmbedding(q1) == s.queryEmbedding(q2))
        #expect(try s.queryEmbedding(q1) != s.queryEmbedding(sampleQuery))
        // Optional features may be absent.
        _ = try s.recommend(["customer_id": .string("C1")], k: 3)
    }

    @Test func typeErrorsNameTheFeature() throws {
        let s = try Scorer(bundle: makeBundle())
        var q = sampleQuery
        q["revenue"] = .string("lots")
        #expect(throws: ScoringError.typeMismatch(feature: "revenue", expected: .float, got: "string")) { try s.recommend(q, k: 3) }
        q = sampleQuery; q["city"] = .double(1.5)
        #expect(throws: ScoringError.typeMismatch(feature: "city", expected: .string, got: "float")) { try s.recommend(q, k: 3) }
        q = sampleQuery; q["size"] = .double(2.5)
        do { _ = try s.recommend(q, k: 3); Issue.record("expected error") } catch { #expect(error.feature == "size") }
        q = sampleQuery; q["seen_at"] = .string("yesterday")
        do { _ = try s.recommend(q, k: 3); Issue.record("expected error") } catch {
            #expect(error.feature == "seen_at")
            #expect(error.description.contains("seen_at"))
        }
        q = sampleQuery; q["customer_id"] = nil
        #expect(throws: ScoringError.missingFeature(name: "customer_id")) { try s.recommend(q, k: 3) }
        q = sampleQuery; q["revenue"] = .double(.nan)
        #expect(throws: ScoringError.invalidValue(feature: "revenue", reason: "not a finite number")) { try s.recommend(q, k: 3) }
        let batch = [sampleQuery, ["customer_id": .string("C1"), "revenue": .string("x")]]
        do { _ = try s.recommendBatch(batch, k: 3); Issue.record("expected error") } catch {
            #expect(error == .instance(index: 1, error: .typeMismatch(feature: "revenue", expected: .float, got: "string")))
        }
    }

    @Test func featureValueDecodesFromJSON() throws {
        let v = try JSONDecoder().decode([String: FeatureValue].self, from: Data(#"{"a":"x","b":3,"c":2.5}"#.utf8))
        #expect(v == ["a": .string("x"), "b": .int(3), "c": .double(2.5)])
    }
}

@Suite struct TimestampTests {
    @Test func parsesCommonForms() {
        #expect(Timestamp.parse("1970-01-02") == 86400)
        #expect(Timestamp.parse("2025-03-14T10:22:05Z") == Timestamp.parse("2025-03-14 12:22:05+02:00"))
        #expect(Timestamp.parse("1700000000") == 1_700_000_000)
        #expect(Timestamp.parse("2025-13-01") == nil)
        #expect(Timestamp.parse("soon") == nil)
        #expect(Timestamp.format(Timestamp.parse("2024-02-29T23:59:59Z")!) == "2024-02-29T23:59:59Z")
    }

    @Test func cyclicalEncoding() {
        var out = [Float](repeating: 0, count: 4)
        // 2025-03-17 is a Monday → day-of-week angle 0 → (sin, cos) = (0, 1); March → month angle 2π·2/12.
        out.withUnsafeMutableBufferPointer {
            FeatureEncoder.writeCycles(seconds: Timestamp.parse("2025-03-17T08:00:00Z")!, cycles: [.dayOfWeek, .month], to: $0.baseAddress!)
        }
        #expect(abs(out[0]) < 1e-6 && abs(out[1] - 1) < 1e-6)
        #expect(abs(out[2] - Float(sin(Double.pi / 3))) < 1e-6)
    }
}
