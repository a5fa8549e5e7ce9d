import Foundation
import Testing

@testable import SlipwayModelBundle

/// Five candidates `SKU-1000, SKU-1003, …, SKU-1012` with train counts 3, 9, 0, 9, 5: by popularity (ties by row)
/// SKU-1003, SKU-1009, SKU-1012, SKU-1000, SKU-1006.
func makePopularBundle() -> ModelBundle {
    makeBundle(candidates: 5).withPopularityFallback(trainInteractions: [3, 9, 0, 9, 5])
}

@Suite struct ColdStartTests {
    let unknownCustomer: [String: FeatureValue] = ["customer_id": .string("nobody")]

    @Test func popularityRoundTripsThroughTheBundleDirectory() throws {
        let bundle = makePopularBundle()
        let dir = tempDir()
        try bundle.write(to: dir)
        let manifest = try String(contentsOf: dir.appendingPathComponent("manifest.json"), encoding: .utf8)
        #expect(manifest.contains(#""cold_start""#) && manifest.contains(#""policy" : "popularity""#))
        #expect(manifest.contains(#""popularity_file" : "candidate_popularity.bin""#))
        let loaded = try ModelBundle.load(from: dir)
        #expect(loaded.manifest.coldStart == Manifest.ColdStart(policy: .popularity, popularityFile: "candidate_popularity.bin"))
        #expect(loaded.candidatePopularity == [3, 9, 0, 9, 5])
    }

    @Test func unknownCustomerWithNothingElseGetsThePopularityOrder() throws {
        let scorer = try Scorer(bundle: makePopularBundle())
        let answer = try scorer.recommend(unknownCustomer, k: 3)
        #expect(answer == Recommendations(productIds: ["SKU-1003", "SKU-1009", "SKU-1012"], scores: [9, 9, 5], fallback: .popularity))
        // An unknown city is no more than an unknown id: still nothing the model knows.
        #expect(try scorer.recommend(["customer_id": .string("nobody"), "city": .string("Gdansk")], k: 3) == answer)
        let excluding = try scorer.recommend(unknownCustomer, k: 3, excluding: ["SKU-1009"])
        #expect(excluding.productIds == ["SKU-1003", "SKU-1012", "SKU-1000"] && excluding.fallback == .popularity)
        #expect(try scorer.recommend(unknownCustomer, k: 50).productIds.count == 5, "at most every candidate")
        // A bad feature is still a bad feature, whatever the fallback.
        #expect(throws: ScoringError.typeMismatch(feature: "city", expected: .string, got: "float")) {
            try scorer.recommend(["customer_id": .string("nobody"), "city": .double(1.5)], k: 3)
        }
    }

    @Test func knownCustomerIsTheModelsAnswerWithoutFallback() throws {
        let withPopularity = try Scorer(bundle: makePopularBundle())
        let without = try Scorer(bundle: makeBundle(candidates: 5))
        let known: [String: FeatureValue] = ["customer_id": .string("C3")]
        let answer = try withPopularity.recommend(known, k: 4)
        #expect(answer.fallback == nil)
        #expect(answer == (try without.recommend(known, k: 4)))
    }

    @Test(arguments: [
        ["city": FeatureValue.string("Warsaw")], ["revenue": .int(120)], ["seen_at": .string("2025-03-14T10:00:00Z")], ["size": .int(42)],
    ])
    func unknownCustomerWithAKnownAttributeIsScoredByTheTower(attribute: [String: FeatureValue]) throws {
        let query = unknownCustomer.merging(attribute) { id, _ in id }
        let withPopularity = try Scorer(bundle: makePopularBundle())
        let answer = try withPopularity.recommend(query, k: 4)
        #expect(answer.fallback == .attributes)
        let tower = try Scorer(bundle: makeBundle(candidates: 5)).recommend(query, k: 4)
        #expect(answer.productIds == tower.productIds && answer.scores == tower.scores)
    }

    @Test func bundleWithoutPopularityLoadsAndScoresAsBefore() throws {
        let old = makeBundle()
        let dir = tempDir()
        try old.write(to: dir)
        let manifest = try String(contentsOf: dir.appendingPathComponent("manifest.json"), encoding: .utf8)
        #expect(!manifest.contains("cold_start"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("candidate_popularity.bin").path))
        let loaded = try ModelBundle.load(from: dir)
        #expect(loaded.manifest.coldStart == nil && loaded.candidatePopularity == nil)
        let scorer = try Scorer(bundle: loaded)
        // The out-of-vocabulary row's answer, unmarked, exactly as the tower gives it.
        let answer = try scorer.recommend(unknownCustomer, k: 5)
        #expect(answer.fallback == nil)
        let embedding = try scorer.queryEmbedding(unknownCustomer)
        #expect(answer.productIds == scorer.topK(query: embedding, k: 5).map { loaded.candidateIds[$0.index] })
        #expect(try scorer.recommend(unknownCustomer.merging(["size": .int(42)]) { id, _ in id }, k: 5).fallback == .attributes)
    }

    @Test func batchAnswersEachQueryAsAlone() throws {
        let scorer = try Scorer(bundle: makePopularBundle())
        let instances: [[String: FeatureValue]] = [
            unknownCustomer, ["customer_id": .string("C1")], ["customer_id": .string("nobody"), "size": .int(7)], unknownCustomer,
            ["customer_id": .string("C2"), "city": .string("Krakow")],
        ]
        let batch = try scorer.recommendBatch(instances, k: 3)
        #expect(batch.map(\.fallback) == [.popularity, nil, .attributes, .popularity, nil])
        for (instance, answer) in zip(instances, batch) {
            let alone = try scorer.recommend(instance, k: 3)
            #expect(answer.productIds == alone.productIds && answer.fallback == alone.fallback)
        }
    }

    @Test func inconsistentPopularityIsRejected() throws {
        var short = makePopularBundle()
        short.candidatePopularity = [1, 2]
        #expect(throws: BundleError.shapeMismatch("candidate_popularity.bin counts 2 candidates, candidate_ids holds 5")) {
            try short.validate()
        }
        var negative = makePopularBundle()
        negative.candidatePopularity = [1, -2, 3, 4, 5]
        #expect(throws: BundleError.self) { try negative.validate() }
        var undeclared = makeBundle(candidates: 5)
        undeclared.candidatePopularity = [1, 2, 3, 4, 5]
        #expect(throws: BundleError.self) { try undeclared.validate() }

        let dir = tempDir()
        try makePopularBundle().write(to: dir)
        let file = dir.appendingPathComponent("candidate_popularity.bin")
        try FileManager.default.removeItem(at: file)
        #expect(throws: BundleError.missingFile(path: file.path)) { try ModelBundle.load(from: dir) }
    }
}
