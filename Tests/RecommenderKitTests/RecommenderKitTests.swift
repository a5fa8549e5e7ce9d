import Foundation
import SlipwayModelBundle
import SlipwayStatistics
import Testing

@testable import RecommenderKit

func tmp() -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-trainer-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

func write(_ text: String, _ name: String, in dir: URL) throws -> String {
    let u = dir.appendingPathComponent(name)
    try text.write(to: u, atomically: true, encoding: .utf8)
    return u.path
}

/// Independent Float64 re-implementation of the forward pass + loss (reference for the gradient check).
struct ReferenceModel {
    var values: [ObjectIdentifier: [Double]]
    let model: TwoTowerModel

    init(_ m: TwoTowerModel) {
        model = m
        values = Dictionary(uniqueKeysWithValues: m.parameters.map { (ObjectIdentifier($0), $0.value.map(Double.init)) })
    }

    func tower(_ t: Tower, rows: [Int32], enc: EncodedFeatures) -> [[Double]] {
        rows.map { r in
            var x: [Double] = []
            for (k, p) in t.tables.enumerated() {
                let row = Int(enc.tableIndex[Int(r) * enc.tableCount + k])
                x += values[ObjectIdentifier(p)]![(row * p.cols)..<((row + 1) * p.cols)]
            }
            x += enc.dense[(Int(r) * enc.denseWidth)..<((Int(r) + 1) * enc.denseWidth)].map(Double.init)
            for l in 0..<t.kernels.count {
                let w = values[ObjectIdentifier(t.kernels[l])]!, b = values[ObjectIdentifier(t.biases[l])]!
                let nOut = b.count
                var y = b
                for i in 0..<x.count { for o in 0..<nOut { y[o] += x[i] * w[i * nOut + o] } }
                if l < t.kernels.count - 1 { y = y.map { max($0, 0) } }
                x = y
            }
            if t.l2Normalize {
                let n = max(x.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                x = x.map { $0 / n }
            }
            return x
        }
    }

    func loss(qRows: [Int32], pRows: [Int32], qEnc: EncodedFeatures, cEnc: EncodedFeatures) -> Double {
        let u = tower(model.query, rows: qRows, enc: qEnc), v = tower(model.candidate, rows: pRows, enc: cEnc)
        let b = qRows.count
        var total = 0.0
        for i in 0..<b {
            var s = [Double](repeating: 0, count: b)
            for j in 0..<b {
                s[j] = zip(u[i], v[j]).reduce(0) { $0 + $1.0 * $1.1 } / Double(model.temperature)
                if model.logQCorrection { s[j] -= Double(model.logQ[Int(pRows[j])]) }
                if j != i && pRows[j] == pRows[i] { s[j] = -.infinity }
            }
            let m = s.max()!
            total += m + log(s.reduce(0) { $0 + exp($1 - m) }) - s[i]
        }
        return total / Double(b)
    }
}

@Suite struct GradientCheckTests {
    /// Hand-derived gradients (Float32 trainer code) vs central finite differences of an independent
    /// Float64 reference forward pass, for every parameter: embedding tables (vocabulary + bucketize),
    /// dense inputs (normalize + cyclical), hidden and output kernels/biases of both towers, through
    /// L2 normalisation, temperature, log-Q and the in-batch duplicate mask.
    @Test(arguments: [true, false])
    func analyticGradientsMatchFiniteDifferences(l2: Bool) throws {
        let qT: [FeatureTransform] = [
            .vocabulary("customer_id", values: ["a", "b", "c", "d"], embeddingDim: 3),
            FeatureTransform(name: "revenue", type: .float, kind: .normalize, mean: 1, std: 2),
            FeatureTransform(name: "ts", type: .timestamp, kind: .cyclical, cycles: [.dayOfWeek]),
        ]
        let cT: [FeatureTransform] = [
            .vocabulary("product_id", values: ["p", "q", "r", "s", "t"], embeddingDim: 3),
            FeatureTransform(name: "price", type: .float, kind: .bucketize, embeddingDim: 2, boundaries: [1, 2]),
        ]
        var rng = SeededRandom(seed: 3)
        let qTower = Tower(transforms: qT, layers: [5], outputDim: 4, l2Normalize: l2, rng: &rng)
        let cTower = Tower(transforms: cT, layers: [5], outputDim: 4, l2Normalize: l2, rng: &rng)
        // Larger embeddings and non-zero biases so ReLUs are active and no output is exactly zero.
        for p in qTower.tables + cTower.tables { p.value = p.value.map { $0 * 20 } }
        for p in qTower.biases + cTower.biases { p.value = p.value.map { _ in Float(rng.uniform() * 0.2 + 0.05) } }
        let model = TwoTowerModel(
            query: qTower, candidate: cTower, temperature: 0.5,
            logQ: [-1.0, -2.0, -1.5, -3.0, -0.5].map { Float($0) }, logQCorrection: true)
        let qEnc = EncodedFeatures(
            count: 5, tableCount: 1, denseWidth: 3,
            tableIndex: [0, 1, 2, 3, 4],
            dense: [0.5, 0.2, 0.9, -1.0, 0.7, 0.1, 0.3, -0.4, 0.8, 1.2, 0.0, 1.0, -0.6, 0.9, -0.2])
        let cEnc = EncodedFeatures(
            count: 5, tableCount: 2, denseWidth: 0,
            tableIndex: [0, 0, 1, 1, 2, 2, 3, 3, 4, 1], dense: [])
        let qRows: [Int32] = [0, 1, 2, 3, 4], pRows: [Int32] = [0, 1, 2, 1, 4]  // product 1 twice: masked duplicate
        let floatLoss = model.step(queryRows: qRows, productRows: pRows, queryEnc: qEnc, candEnc: cEnc, backward: true)
        var ref = ReferenceModel(model)
        let refLoss = ref.loss(qRows: qRows, pRows: pRows, qEnc: qEnc, cEnc: cEnc)
        #expect(abs(floatLoss - refLoss) < 1e-4 * max(1, abs(refLoss)), "forward passes agree")
        var checked = 0, worst = 0.0
        for p in model.parameters {
            let id = ObjectIdentifier(p)
            for i in 0..<p.value.count {
                let a = Double(p.grad[i])
                let orig = ref.values[id]![i]
                let eps = 1e-6
                ref.values[id]![i] = orig + eps
                let lp = ref.loss(qRows: qRows, pRows: pRows, qEnc: qEnc, cEnc: cEnc)
                ref.values[id]![i] = orig - eps
                let lm = ref.loss(qRows: qRows, pRows: pRows, qEnc: qEnc, cEnc: cEnc)
                ref.values[id]![i] = orig
                let numeric = (lp - lm) / (2 * eps)
                // Relative error, with an absolute floor for near-zero gradients (Float32 analytic side).
                let err = abs(a - numeric) / max(abs(a) + abs(numeric), 1e-3)
                worst = max(worst, err)
                #expect(err < 1e-3, "\(p.name)[\(i)] analytic \(a) numeric \(numeric)")
                checked += 1
            }
        }
        #expect(checked > 150)
        print("gradient check (l2=\(l2)): \(checked) parameters, worst relative error \(worst)")
    }

    @Test func optimizersReduceTheLoss() {
        for kind in [OptimizerKind.adagrad, .adam, .sgd] {
            var rng = SeededRandom(seed: 9)
            let q = Tower(
                transforms: [.vocabulary("c", values: (0..<20).map(String.init), embeddingDim: 8)], layers: [16], outputDim: 8, l2Normalize: true,
                rng: &rng)
            let c = Tower(
                transforms: [.vocabulary("p", values: (0..<20).map(String.init), embeddingDim: 8)], layers: [16], outputDim: 8, l2Normalize: true,
                rng: &rng)
            let m = TwoTowerModel(query: q, candidate: c, temperature: 0.2, logQ: [Float](repeating: 0, count: 20), logQCorrection: false)
            let enc = EncodedFeatures(count: 20, tableCount: 1, denseWidth: 0, tableIndex: (0..<20).map { Int32($0) }, dense: [])
            let rows = (0..<20).map { Int32($0) }, prods = (0..<20).map { Int32(($0 * 7) % 20) }
            var opt = Optimizer(kind: kind, learningRate: kind == .adam ? 0.01 : (kind == .sgd ? 1.0 : 0.1))
            let before = m.step(queryRows: rows, productRows: prods, queryEnc: enc, candEnc: enc, backward: false)
            for _ in 0..<60 { m.step(queryRows: rows, productRows: prods, queryEnc: enc, candEnc: enc, backward: true); opt.apply(m.parameters) }
            let after = m.step(queryRows: rows, productRows: prods, queryEnc: enc, candEnc: enc, backward: false)
            #expect(after < before * (kind == .sgd ? 0.85 : 0.5), "\(kind): \(before) → \(after)")
        }
    }
}

@Suite struct DatasetTests {
    @Test func missingFileIsReadable() {
        do { _ = try DatasetLoader.load(DatasetSpec(transactions: "/no/such/tx.csv")); Issue.record("expected error") } catch {
            #expect(error == .fileNotFound(path: "/no/such/tx.csv", role: "transactions"))
            #expect(error.description == "transactions file not found: /no/such/tx.csv")
        }
    }

    /// Unusable rows are skipped rather than fatal; when too many are (here half of each file), the error
    /// still names the file and line of the first one and what is wrong with it.
    @Test func tooManyBadRowsReportFileAndLine() throws {
        let d = tmp()
        let p1 = try write("customer_id,product_id,revenue,timestamp\nc1,p1,3,2025-01-01\nc2,p2,4\n", "tx.csv", in: d)
        do { _ = try DatasetLoader.load(DatasetSpec(transactions: p1)); Issue.record("expected error") } catch {
            guard case .tooManyBadRows(let skipped, _) = error else { Issue.record("\(error)"); return }
            #expect(skipped.path == p1 && skipped.first?.line == 3 && skipped.first?.reason == .malformedLine)
            #expect(error.description.contains("\(p1):3: expected 4 fields"), "\(error)")
            #expect(error.description.contains("'c2,p2,4'"), "the line itself: \(error)")
        }
        let p2 = try write("customer_id,product_id,revenue,timestamp\nc1,p1,3,2025-01-01\n\nc2,p2,abc,2025-01-02\n", "tx2.csv", in: d)
        do { _ = try DatasetLoader.load(DatasetSpec(transactions: p2)); Issue.record("expected error") } catch {
            #expect(error.description.contains("tx2.csv:4: column 'revenue': 'abc' is not a number"), "\(error)")
        }
        let p3 = try write("customer_id,product_id,revenue,timestamp\nc1,p1,3,01/02/2025\n", "tx3.csv", in: d)
        #expect(throws: DatasetError.self) { try DatasetLoader.load(DatasetSpec(transactions: p3)) }
        let p4 = try write("{\"customer_id\":\"c1\",\"product_id\":\"p1\"}\nnot json\n", "tx4.jsonl", in: d)
        do { _ = try DatasetLoader.load(DatasetSpec(transactions: p4)); Issue.record("expected error") } catch {
            #expect(error.description.contains("tx4.jsonl:2: not a JSON object: 'not json'"), "\(error)")
        }
        let p5 = try write("who,what\nc1,p1\n", "tx5.csv", in: d)
        do { _ = try DatasetLoader.load(DatasetSpec(transactions: p5)); Issue.record("expected error") } catch {
            #expect(error.description.contains("no column for 'customer_id'"))
        }
    }

    @Test func aliasesJoinsFiltersAndJSONL() throws {
        let d = tmp()
        var tx = "buyer_id,sku,amount,order_date,channel\n"
        for i in 0..<30 { tx += "b\(i % 3),s\(i % 5),\(i + 1),2025-01-\(String(format: "%02d", i % 28 + 1)),web\n" }
        tx += "b9,s9,1000,2025-02-01,shop\n"
        let txp = try write(tx, "tx.csv", in: d)
        let cust = try write("customer_id,city\nb0,Warsaw\nb1,\"Krakow, PL\"\nb9,Lodz\nunused,X\n", "c.csv", in: d)
        let ds = try DatasetLoader.load(DatasetSpec(transactions: txp, customers: cust))
        #expect(ds.interactions.count == 31 && ds.customerIds.count == 4 && ds.productIds.count == 6)
        #expect(ds.customerAttributes["city"]![Int(ds.interactions[1].customer)] == "Krakow, PL")
        #expect(ds.customerAttributes["city"]![Int(ds.interactions[2].customer)] == nil, "b2 has no attribute row")
        #expect(ds.rowColumns["channel"]?.first == "web")
        var f = DatasetSpec(transactions: txp, filters: DatasetFilters(startDate: "2025-01-05", endDate: "2025-01-10"))
        #expect(try DatasetLoader.load(f).interactions.count == 5)
        f = DatasetSpec(transactions: txp, filters: DatasetFilters(topNProducts: 1))
        let top = try DatasetLoader.load(f)
        #expect(top.productIds == ["s9"])
        f = DatasetSpec(transactions: txp, filters: DatasetFilters(minInteractionsPerCustomer: 2))
        #expect(try DatasetLoader.load(f).customerIds.contains("b9") == false)
        f = DatasetSpec(transactions: txp, samplePercent: 50)
        let sampled = try DatasetLoader.load(f).interactions.count
        #expect(sampled > 5 && sampled < 28)
        let j = try write("{\"cust\":\"a\",\"item\":\"x\",\"ts\":1700000000}\n{\"cust\":\"b\",\"item\":\"x\",\"ts\":1700000100}\n", "t.jsonl", in: d)
        let ds2 = try DatasetLoader.load(DatasetSpec(transactions: j, columns: ["customer_id": "cust", "product_id": "item", "timestamp": "ts"]))
        #expect(ds2.interactions.map(\.timestamp) == [1_700_000_000, 1_700_000_100])
    }

    @Test func importsRatingsTSVAndRenamesAttributeColumns() throws {
        let d = tmp()
        // MovieLens-style interactions: tab-separated, epoch-second timestamps, a rating as the weight.
        let tsv = try write(
            "user\titem\trating\ttimestamp\n196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881251000\n", "ratings.tsv", in: d)
        let products = try write("item_id,division_desc\n242,Comedy\n302,Drama\n", "items.csv", in: d)
        let ds = try DatasetLoader.load(DatasetSpec(transactions: tsv, products: products, columns: ["category": "division_desc"]))
        #expect(ds.customerIds == ["196", "186"] && ds.productIds == ["242", "302"])
        #expect(ds.interactions.map(\.revenue) == [3, 3, 5])
        #expect(ds.interactions[0].timestamp == 881_250_949)
        #expect(ds.productAttributes["category"] == ["Comedy", "Drama"])
        // The same file named .csv is still recognised as tab-separated by its header.
        let csvNamed = try write(try String(contentsOfFile: tsv, encoding: .utf8), "ratings.csv", in: d)
        #expect(try DatasetLoader.load(DatasetSpec(transactions: csvNamed)).interactions.count == 3)
    }

    /// Feedback sent to training joins the train split only, passes the date filter and sampling, leaves the
    /// holdout where the file's rows put it, and a bad line is counted rather than fatal.
    @Test func feedbackRowsTrainButNeverMoveTheHoldout() throws {
        let d = tmp()
        var tx = "customer_id,product_id,timestamp,channel\n"
        for i in 0..<60 { tx += "c\(i % 6),p\(i % 4),2025-01-\(String(format: "%02d", i % 28 + 1)),web\n" }
        let txp = try write(tx, "tx.csv", in: d)
        // Given in 2026, long after the file's newest row; one for a new customer, one without a product.
        let feedback = try write(
            "customer_id,product_id,timestamp\nc1,p3,2026-12-04T10:00:00Z\n\"new, customer\",p2,2026-12-04T11:00:00.250Z\nc2,,2026-12-04T12:00:00Z\n",
            "feedback.csv", in: d)
        var split = SplitSpec(strategy: .timeHoldout)
        split.holdoutDays = 7
        let plain = DatasetSpec(transactions: txp, filters: DatasetFilters(endDate: "2025-02-01"), samplePercent: 99.9, split: split)
        var withFeedback = plain
        withFeedback.feedback = feedback
        let base = try DatasetLoader.load(plain), ds = try DatasetLoader.load(withFeedback)
        #expect(ds.interactions.count == base.interactions.count + 2)
        #expect(ds.report["feedback_rows"] == 2 && ds.report["feedback_rows_skipped"] == 1 && ds.report["feedback_rows_used"] == 2)
        #expect(ds.customerIds.contains("new, customer"))
        #expect(ds.rowColumns["channel"]?.count == 62, "feedback rows have no extra columns, but a slot each")
        let fed = ds.interactions.indices.filter { ds.interactions[$0].fromFeedback }
        #expect(fed.count == 2)

        let before = try Splitter.split(base, split), after = try Splitter.split(ds, split)
        #expect(after.test == before.test && after.validation == before.validation, "the holdout is the file's")
        #expect(Set(after.train) == Set(before.train + fed))
        var random = SplitSpec(strategy: .random)
        random.testFraction = 0.3
        let randomSplit = try Splitter.split(ds, random)
        #expect(fed.allSatisfy { randomSplit.train.contains($0) })

        let statistics = DataStatistics.compute(ds, split: after, features: .b2bDefault).statistics
        #expect(statistics["feedback_rows"]?.doubleValue == 2)
        // A product filter applies to feedback too: a product outside the top N is not a candidate.
        var top = withFeedback
        top.filters = DatasetFilters(topNProducts: 1)
        let topLoaded = try DatasetLoader.load(top)
        #expect(topLoaded.report["feedback_rows_used"] == Double(topLoaded.interactions.count { $0.fromFeedback }))
        #expect(topLoaded.interactions.allSatisfy { topLoaded.productIds[Int($0.product)] == topLoaded.productIds[0] })
    }

    func syntheticDataset() -> InteractionDataset {
        var ds = InteractionDataset()
        ds.customerIds = (0..<10).map { "c\($0)" }
        ds.productIds = (0..<10).map { "p\($0)" }
        for i in 0..<1000 {
            let ts = Double(i) * 3600
            ds.interactions.append(Interaction(customer: Int32(i % 10), product: Int32(i % 7), revenue: 1, timestamp: ts, row: Int32(i)))
        }
        return ds
    }

    @Test func splitStrategies() throws {
        let ds = syntheticDataset()
        var s = SplitSpec(strategy: .random)
        s.testFraction = 0.2; s.validationFraction = 0.1
        let r = try Splitter.split(ds, s)
        #expect(r.test.count == 200 && r.validation.count == 100 && r.train.count == 700)
        #expect(Set(r.train + r.validation + r.test).count == 1000)
        #expect(try Splitter.split(ds, s) == r, "seeded")

        var t = SplitSpec(strategy: .timeHoldout)
        t.holdoutDays = 10; t.validationFraction = 0.1
        let th = try Splitter.split(ds, t)
        let maxTrain = (th.train + th.validation).map { ds.interactions[$0].timestamp }.max()!
        #expect(th.test.allSatisfy { ds.interactions[$0].timestamp > maxTrain })
        #expect(th.test.count == 240)
        #expect(th.validation.count == 76)

        var st = SplitSpec(strategy: .strictTemporal)
        st.holdoutDays = 5; st.validationDays = 5
        let sp = try Splitter.split(ds, st)
        let trMax = sp.train.map { ds.interactions[$0].timestamp }.max()!
        let vMin = sp.validation.map { ds.interactions[$0].timestamp }.min()!, vMax = sp.validation.map { ds.interactions[$0].timestamp }.max()!
        let teMin = sp.test.map { ds.interactions[$0].timestamp }.min()!
        #expect(trMax < vMin && vMax < teMin)
        #expect(sp.train.count + sp.validation.count + sp.test.count == 1000)

        t.holdoutDays = 100
        #expect(throws: DatasetError.self) { try Splitter.split(ds, t) }  // empty train
        var noTs = ds; noTs.hasTimestamps = false
        #expect(throws: DatasetError.self) { try Splitter.split(noTs, SplitSpec(strategy: .strictTemporal)) }
    }
}

@Suite struct GeneratorTests {
    @Test func deterministicBySeed() throws {
        let a = DemoDataGenerator.generate(DemoDataConfig(customers: 50, products: 80, transactions: 2000, seed: 5))
        let b = DemoDataGenerator.generate(DemoDataConfig(customers: 50, products: 80, transactions: 2000, seed: 5))
        let c = DemoDataGenerator.generate(DemoDataConfig(customers: 50, products: 80, transactions: 2000, seed: 6))
        #expect(a == b)
        #expect(a != c)
        #expect(a.transactions.count == 2000 && a.customers.count == 50 && a.products.count == 80)
        #expect(zip(a.transactions, a.transactions.dropFirst()).allSatisfy { $0.timestamp <= $1.timestamp })
        let d1 = tmp(), d2 = tmp()
        try DemoDataGenerator.write(a, to: d1)
        try DemoDataGenerator.write(b, to: d2)
        for f in ["customers.csv", "products.csv", "transactions.csv"] {
            #expect(try Data(contentsOf: d1.appendingPathComponent(f)) == Data(contentsOf: d2.appendingPathComponent(f)))
        }
        let ds = try DatasetLoader.load(
            DatasetSpec(
                transactions: d1.appendingPathComponent("transactions.csv").path,
                customers: d1.appendingPathComponent("customers.csv").path,
                products: d1.appendingPathComponent("products.csv").path))
        #expect(ds.interactions.count == 2000)
        #expect(ds.customerAttributes["segment"] != nil && ds.productAttributes["sub_category"] != nil)
    }
}

@Suite struct EndToEndTests {
    func smallSpec(_ dir: URL, epochs: Int = 4) throws -> RunSpec {
        var gc = DemoDataConfig(customers: 300, products: 300, transactions: 9_000, seed: 11)
        gc.categories = 8
        let data = DemoDataGenerator.generate(gc)
        try DemoDataGenerator.write(data, to: dir)
        var mc = ModelConfig()
        mc.epochs = epochs; mc.batchSize = 64; mc.queryLayers = [32]; mc.candidateLayers = [32]; mc.outputDim = 32
        mc.learningRate = 0.1
        var split = SplitSpec(strategy: .timeHoldout)
        split.holdoutDays = 45
        return RunSpec(
            runId: "tr-e2e", modelName: "e2e",
            dataset: DatasetSpec(
                id: "ds-e2e", transactions: dir.appendingPathComponent("transactions.csv").path,
                customers: dir.appendingPathComponent("customers.csv").path,
                products: dir.appendingPathComponent("products.csv").path, split: split),
            modelConfig: mc)
    }

    @Test func smallRunBeatsPopularityAndWritesAServableBundle() throws {
        let dir = tmp()
        let spec = try smallSpec(dir)
        var events: [JSONValue] = []
        let result = try #require(TrainingPipeline(spec: spec, artifacts: dir.appendingPathComponent("artifacts")) { events.append($0) }.run())
        let names = events.compactMap { $0["event"]?.stringValue }
        #expect(names.first == "stage_started" && names.last == "completed")
        let stages = events.filter { $0["event"]?.stringValue == "stage_completed" }.compactMap { $0["stage"]?.stringValue }
        #expect(stages == ["compile", "examples", "stats", "schema", "transform", "train", "evaluate"])
        #expect(names.contains("statistics") && names.contains("schema") && names.contains("epoch_completed"))
        let model = result.metrics["recall_at_10"]!, pop = result.metrics["popularity_recall_at_10"]!
        print(
            "e2e recall@10 model \(model) popularity \(pop); @100 \(result.metrics["recall_at_100"]!) vs \(result.metrics["popularity_recall_at_100"]!)"
        )
        #expect(model > pop * 1.3)
        // Lines are valid JSON.
        for e in events { _ = try JSONSerialization.jsonObject(with: Data(e.serialized().utf8)) }

        let bundle = try ModelBundle.load(from: result.bundle)
        #expect(bundle.manifest.lineage.trainingRunId == "tr-e2e" && bundle.manifest.lineage.datasetId == "ds-e2e")
        // Beside it, what drift compares live requests with: the query features a request carries, over the train rows.
        let baseline = try #require(try TrainingBaseline.load(bundle: result.bundle))
        #expect(Set(baseline.categorical.keys) == ["city", "segment"] && baseline.numeric.isEmpty, "identifiers are left out")
        #expect(baseline.rows > 0 && baseline.categorical["city"]?.count == baseline.rows)
        #expect(bundle.candidateIds.allSatisfy { $0.hasPrefix("P") }, "original product ids")
        let scorer = try Scorer(bundle: bundle)
        let rec = try scorer.recommend(["customer_id": .string("C10003"), "city": .string("Warsaw"), "segment": .string("horeca")], k: 10)
        #expect(rec.productIds.count == 10 && rec.productIds.allSatisfy { $0.hasPrefix("P") })
        // Serving-side query embedding equals the trainer's tower output for the same customer.
        let unknown = try scorer.recommend(["customer_id": .string("nobody")], k: 5)
        #expect(unknown.productIds.count == 5)
        // A customer the model never saw gets the candidates most bought in the train split, scored by their counts.
        let popularity = try #require(bundle.candidatePopularity)
        #expect(unknown.fallback == .popularity && unknown.scores == Array(popularity.sorted(by: >).prefix(5)))
    }

    @Test func failedStageIsReported() throws {
        let dir = tmp()
        var spec = try smallSpec(dir, epochs: 1)
        spec.dataset.transactions = dir.appendingPathComponent("missing.csv").path
        var events: [JSONValue] = []
        #expect(TrainingPipeline(spec: spec, artifacts: dir.appendingPathComponent("a")) { events.append($0) }.run() == nil)
        let last = try #require(events.last)
        #expect(last["event"]?.stringValue == "failed" && last["stage"]?.stringValue == "examples")
        #expect(last["error"]?.stringValue?.contains("missing.csv") == true)
    }

    @Test func runSpecDecodesWithDefaults() throws {
        let json = """
            {"run_id":"r1","dataset":{"transactions":"tx.csv","split":{"strategy":"strict_temporal","holdout_days":7}},
             "model_config":{"epochs":3,"optimizer":"adam","tower_ignored":1},
             "evaluator":{"blessing_threshold":0.2}}
            """
        let s = try RunSpec.decoder().decode(RunSpec.self, from: Data(json.utf8))
        #expect(s.modelConfig.epochs == 3 && s.modelConfig.optimizer == .adam && s.modelConfig.outputDim == 64)
        #expect(s.dataset.split?.strategy == .strictTemporal && s.dataset.split?.holdoutDays == 7)
        #expect(s.evaluator.blessingThreshold == 0.2)
        #expect(s.featureConfig == .b2bDefault)
        let s2 = try RunSpec.decoder().decode(
            RunSpec.self, from: Data(#"{"dataset":{"transactions":"t"},"evaluator":{"blessing_threshold":{"min_recall_at_100":0.3}}}"#.utf8))
        #expect(s2.evaluator.blessingThreshold == 0.3)
    }
}

/// Endpoint-test samples: the training data as the run read it, as typed request features, the same for the same seed.
@Suite struct EndpointTestSamplesTests {
    @Test func samplesAreTypedReproducibleAndFromTheFilteredData() throws {
        let dir = tmp()
        let tx = try write(
            "customer_id,product_id,revenue,city\nC1,P1,10,Warsaw\nC2,P2,5,Krakow\nC3,P3,7,\nC3,P5,2,\nC1,P4,1,Warsaw\n", "tx.csv", in: dir)
        var spec = RunSpec(dataset: DatasetSpec(id: "d", transactions: tx))
        spec.dataset.filters = DatasetFilters(minInteractionsPerCustomer: 2)
        let query = [
            Manifest.FeatureSpec(name: "customer_id", type: .string, required: true),
            Manifest.FeatureSpec(name: "city", type: .string, required: false),
            Manifest.FeatureSpec(name: "revenue", type: .float, required: false),
        ]
        let first = try EndpointTestSamples.make(spec: spec, query: query, count: 10, seed: 3)
        #expect(first.rowsAvailable == 4 && first.instances.count == 4, "the filter left C1's and C3's rows")
        #expect(first.catalog == ["P1", "P3", "P4", "P5"], "C2's product went with C2")
        let c3 = first.instances.filter { $0["customer_id"] == .string("C3") }
        #expect(c3.allSatisfy { $0["city"] == nil }, "a missing value is left out")
        #expect(Set(c3.compactMap { $0["revenue"] }) == [.double(7), .double(2)], "a number is a number")
        #expect(try EndpointTestSamples.make(spec: spec, query: query, count: 2, seed: 3).instances == Array(first.instances.prefix(2)))
        let other = (1...20).map { seed in try? EndpointTestSamples.make(spec: spec, query: query, count: 1, seed: UInt64(seed)).instances }
        #expect(Set(other.compactMap { $0?.first?["customer_id"] }).count > 1, "other seeds pick other rows")
    }
}
