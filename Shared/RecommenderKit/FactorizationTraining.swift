import Foundation
import SlipwayModelBundle

/// The matrix-factorisation path of the pipeline: settings chosen on the validation split, the final model fit on
/// everything before the test, exported as a two-tower bundle whose towers are lookups (customer factors on the
/// query side, item factors as the candidates), so serving needs nothing new.
extension TrainingPipeline {
    /// Confidence alphas tried (at the first λ) when the model config leaves alpha open, then the λs at the best alpha.
    static let alphaGrid: [Double] = [1, 2, 5, 10]
    static let regularizationGrid: [Double] = [1, 0.1, 5, 10, 20, 50]

    func trainFactorization(_ ds: InteractionDataset, _ split: DatasetSplit) throws -> TrainedModel {
        let mc = spec.modelConfig
        let f = mc.factors
        let history = split.history
        func lookup(_ name: String, _ side: [FeatureSpec]) -> FeatureSpec {
            var s = side.first { $0.name == name } ?? FeatureSpec(name: name, required: true)
            // The id is the model's only input: a query without it has nothing to be answered from.
            s.transform = .vocabulary; s.embeddingDim = f; s.oovBuckets = 1; s.minCount = 1; s.required = true
            return s
        }
        let ids = FeatureConfig(
            id: spec.featureConfig.id, query: [lookup("customer_id", spec.featureConfig.query)],
            candidate: [lookup("product_id", spec.featureConfig.candidate)])
        let pipeline = try stage("transform") { () throws -> (FeaturePipeline, [(String, JSONValue)]) in
            let p = try FeaturePipeline.fit(config: ids, dataset: ds, trainRows: history)
            return (p, Self.transformDetails(p))
        }
        let customers = ds.customerIds.count, items = ds.productIds.count
        func matrix(_ rows: [Int]) -> SparseInteractions {
            SparseInteractions(customers: customers, items: items, pairs: rows.map { (ds.interactions[$0].customer, ds.interactions[$0].product) })
        }
        var settings = FactorizationSettings(
            factors: f, iterations: mc.iterations, regularization: mc.regularization ?? Self.regularizationGrid[0],
            alpha: mc.alpha ?? Self.alphaGrid[1], seed: mc.seed)
        var epochs: [EpochReport] = []
        var model: ImplicitALS!
        let tTrain = now()
        var trials = 0
        try stage("train") {
            if (mc.regularization == nil || mc.alpha == nil) && !split.validation.isEmpty {
                settings = chooseSettings(settings, ds: ds, split: split, train: matrix(split.train), trials: &trials)
            }
            let full = matrix(history)
            model = ImplicitALS(customers: customers, items: items, settings: settings)
            var t0 = now()
            model.fit(full) { iteration in
                let seconds = now() - t0
                let loss = model.loss(full)
                emit(
                    .object([
                        ("event", .string("epoch_completed")), ("epoch", .int(iteration)), ("loss", .num(loss)),
                        ("seconds", .num(seconds, digits: 4)), ("examples_per_s", .num((Double(history.count) / seconds).rounded())),
                    ]))
                epochs.append(
                    EpochReport(
                        epoch: iteration, loss: loss, valLoss: loss, recallAt10: 0, recallAt100: 0, seconds: seconds,
                        examplesPerSecond: Double(history.count) / seconds))
                t0 = now()
            }
            return (
                (),
                [
                    ("epochs_run", .int(settings.iterations)), ("factors", .int(f)), ("regularization", .num(settings.regularization)),
                    ("alpha", .num(settings.alpha)), ("settings_tried", .int(trials)),
                    ("parameters", .int((customers + items) * f)),
                ]
            )
        }
        let als: ImplicitALS = model
        return TrainedModel(
            trainStarted: tTrain, epochs: epochs,
            metrics: ["factors": Double(f), "regularization": settings.regularization, "alpha": settings.alpha],
            evaluate: { set in
                Evaluator.factorMetrics(
                    set, customerVectors: als.customerFactors, itemVectors: als.itemFactors, dim: f, productCount: items
                ) { Int(set.customers[$0]) }
            },
            bundle: { metrics in try self.factorizationBundle(als, pipeline: pipeline, ds: ds, history: history, metrics: metrics) },
            baselineRows: history, queryFeatures: ids.query)
    }

    /// Coordinate search on validation Recall@10 × Recall@100 (the top of the list and the reach, with equal say;
    /// Recall@10 alone picks λs that cost much Recall@100 for noise-level gains): alpha at the first λ, then λ at
    /// that alpha. Settings the model config fixes are not searched.
    func chooseSettings(
        _ start: FactorizationSettings, ds: InteractionDataset, split: DatasetSplit, train: SparseInteractions, trials: inout Int
    ) -> FactorizationSettings {
        let mc = spec.modelConfig
        let valSet = EvaluationSet.build(dataset: ds, historyRows: split.train, heldOutRows: split.validation)
        var best = start
        var bestScore = -1.0
        var tried: [FactorizationSettings: Double] = [:]
        func consider(_ s: FactorizationSettings) {
            let score: Double
            if let known = tried[s] {
                score = known
            } else {
                let t0 = now()
                let als = ImplicitALS(customers: ds.customerIds.count, items: ds.productIds.count, settings: s)
                als.fit(train)
                let m = Evaluator.factorMetrics(
                    valSet, customerVectors: als.customerFactors, itemVectors: als.itemFactors, dim: s.factors,
                    productCount: ds.productIds.count, ks: [10, 100]
                ) { Int(valSet.customers[$0]) }
                score = m[10] * m[100]
                tried[s] = score
                emit(
                    .object([
                        ("event", .string("model_selection")), ("regularization", .num(s.regularization)), ("alpha", .num(s.alpha)),
                        ("validation_recall_at_10", .num(m[10])), ("validation_recall_at_100", .num(m[100])),
                        ("seconds", .num(now() - t0, digits: 3)),
                    ]))
            }
            if score > bestScore { bestScore = score; best = s }
        }
        for alpha in mc.alpha.map({ [$0] }) ?? Self.alphaGrid {
            var s = start; s.alpha = alpha
            consider(s)
        }
        for lambda in mc.regularization.map({ [$0] }) ?? Self.regularizationGrid {
            var s = best; s.regularization = lambda
            consider(s)
        }
        trials = tried.count
        return best
    }

    /// Towers that look the factors up: one vocabulary table each, an identity layer, no normalisation (the
    /// scores are ALS's dot products); the candidates are the items the model knows. Serving answers an unknown
    /// customer from popularity (the bundle's cold-start counts); the unknown-id row holds the mean customer vector
    /// for readers of the towers themselves.
    func factorizationBundle(
        _ als: ImplicitALS, pipeline: FeaturePipeline, ds: InteractionDataset, history: [Int], metrics: [String: Double]
    ) throws -> ModelBundle {
        let f = als.settings.factors
        var exportSpec = spec
        exportSpec.modelConfig.queryLayers = []
        exportSpec.modelConfig.candidateLayers = []
        exportSpec.modelConfig.outputDim = f
        exportSpec.modelConfig.l2Normalize = false
        exportSpec.modelConfig.temperature = 1
        var rng = SeededRandom(seed: spec.modelConfig.seed)
        func lookupTower(_ transform: FeatureTransform, ids: [String], factors: [Float], present: [Bool]) throws -> Tower {
            let tower = Tower(transforms: [transform], layers: [], outputDim: f, l2Normalize: false, rng: &rng)
            var mean = [Float](repeating: 0, count: f)
            let presentCount = Float(max(present.count { $0 }, 1))
            for (i, isPresent) in present.enumerated() where isPresent { for a in 0..<f { mean[a] += factors[i * f + a] / presentCount } }
            let table = tower.tables[0]
            for r in 0..<table.rows { table.value.replaceSubrange((r * f)..<((r + 1) * f), with: mean) }
            let encoder = FeatureEncoder(transform)
            for (i, id) in ids.enumerated() where present[i] {
                let row = Int(try encoder.tableIndex(.string(id)))
                table.value.replaceSubrange((row * f)..<((row + 1) * f), with: factors[(i * f)..<((i + 1) * f)])
            }
            let kernel = tower.kernels[0]
            kernel.value = [Float](repeating: 0, count: f * f)
            for a in 0..<f { kernel.value[a * f + a] = 1 }
            return tower
        }
        var customerPresent = [Bool](repeating: false, count: ds.customerIds.count)
        var itemPresent = [Bool](repeating: false, count: ds.productIds.count)
        for r in history {
            customerPresent[Int(ds.interactions[r].customer)] = true
            itemPresent[Int(ds.interactions[r].product)] = true
        }
        let queryTower = try lookupTower(pipeline.query[0], ids: ds.customerIds, factors: als.customerFactors, present: customerPresent)
        let candidateTower = try lookupTower(pipeline.candidate[0], ids: ds.productIds, factors: als.itemFactors, present: itemPresent)
        let popularity = Evaluator.popularity(ds, rows: history)
        var candidateIds: [String] = [], embeddings: [Float] = [], interactions: [Double] = []
        for (i, id) in ds.productIds.enumerated() where itemPresent[i] {
            candidateIds.append(id)
            embeddings += als.itemFactors[(i * f)..<((i + 1) * f)]
            interactions.append(Double(popularity[i]))
        }
        return try BundleExporter.makeBundle(
            spec: exportSpec, pipeline: pipeline, queryTower: queryTower, candidateTower: candidateTower,
            candidateEmbeddings: embeddings, candidateIds: candidateIds, metrics: metrics, trainInteractions: interactions)
    }
}
