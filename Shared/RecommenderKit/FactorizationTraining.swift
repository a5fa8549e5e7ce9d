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
        let features = Self.factorFeatures(spec.featureConfig, factors: f)
        let pipeline = try stage("transform") { () throws -> (FeaturePipeline, [(String, JSONValue)]) in
            let p = try FeaturePipeline.fit(config: features, dataset: ds, trainRows: history)
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
            bundle: { metrics in
                try self.factorizationBundle(als, pipeline: pipeline, features: features, ds: ds, history: history, metrics: metrics)
            },
            baselineRows: history, queryFeatures: features.query)
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

    /// The feature config as factor towers read it: the ids first (vocabulary, one row per id, required: a query
    /// without one has nothing to be answered from), every table feature as wide as the factors.
    static func factorFeatures(_ config: FeatureConfig, factors f: Int) -> FeatureConfig {
        func side(_ specs: [FeatureSpec], id: String) -> [FeatureSpec] {
            var idSpec = specs.first { $0.name == id } ?? FeatureSpec(name: id)
            idSpec.transform = .vocabulary; idSpec.oovBuckets = 1; idSpec.minCount = 1; idSpec.required = true
            let others = specs.filter { $0.name != id }
            return ([idSpec] + others).map { spec in
                var spec = spec
                if spec.transform == .vocabulary || spec.transform == .bucketize { spec.embeddingDim = f }
                return spec
            }
        }
        return FeatureConfig(id: config.id, query: side(config.query, id: "customer_id"), candidate: side(config.candidate, id: "product_id"))
    }

    /// The bundle: towers that reproduce the factors exactly for the customers and items the model knows, and
    /// answer the others from their attributes. A tower's output is the sum of its inputs' blocks (an identity per
    /// table, a fitted matrix for the dense inputs, no normalisation): the attribute blocks hold a ridge regression
    /// of the factors on the attributes (`AttributeRegression`), and the id table holds each known id's factors
    /// minus what its attributes predict — so a known id gets its factors back, an unknown one with attributes
    /// what they predict (`fallback: attributes`), and one with nothing known popularity (the bundle's counts).
    /// The candidates are the items the history knows, scored by ALS's dot products.
    func factorizationBundle(
        _ als: ImplicitALS, pipeline: FeaturePipeline, features: FeatureConfig, ds: InteractionDataset, history: [Int],
        metrics: [String: Double]
    ) throws -> ModelBundle {
        let f = als.settings.factors
        var exportSpec = spec
        exportSpec.featureConfig = features
        exportSpec.modelConfig.queryLayers = []
        exportSpec.modelConfig.candidateLayers = []
        exportSpec.modelConfig.outputDim = f
        exportSpec.modelConfig.l2Normalize = false
        exportSpec.modelConfig.temperature = 1
        var rng = SeededRandom(seed: spec.modelConfig.seed)
        // One example row per known customer (their latest history row) and per known item.
        var customerRow = [Int](repeating: -1, count: ds.customerIds.count)
        var itemPresent = [Bool](repeating: false, count: ds.productIds.count)
        for r in history {
            let it = ds.interactions[r]
            let c = Int(it.customer)
            if customerRow[c] < 0 || ds.interactions[customerRow[c]].timestamp <= it.timestamp { customerRow[c] = r }
            itemPresent[Int(it.product)] = true
        }
        let queryEnc = try pipeline.encodeQueries(config: features, dataset: ds)
        let candidateEnc = try pipeline.encodeCandidates(config: features, dataset: ds)
        let knownCustomers = customerRow.indices.filter { customerRow[$0] >= 0 }
        let knownItems = itemPresent.indices.filter { itemPresent[$0] }
        func tower(_ transforms: [FeatureTransform], _ enc: EncodedFeatures, entities: [(entity: Int, row: Int)], factors: [Float]) -> Tower {
            let tower = Tower(transforms: transforms, layers: [], outputDim: f, l2Normalize: false, rng: &rng)
            let fit = AttributeRegression.fit(enc, transforms: transforms, entities: entities, factors: factors, dim: f)
            for (k, table) in tower.tables.enumerated() { table.value = fit.tables[k] }
            let kernel = tower.kernels[0]
            kernel.value = [Float](repeating: 0, count: kernel.rows * f)
            for offset in tower.tableOffsets {  // every table is as wide as the factors (factorFeatures)
                for a in 0..<f { kernel.value[(offset + a) * f + a] = 1 }
            }
            for d in 0..<tower.denseWidth {
                for a in 0..<f { kernel.value[(tower.denseOffset + d) * f + a] = fit.dense[d * f + a] }
            }
            return tower
        }
        let queryTower = tower(
            pipeline.query, queryEnc, entities: knownCustomers.map { ($0, customerRow[$0]) }, factors: als.customerFactors)
        let candidateTower = tower(pipeline.candidate, candidateEnc, entities: knownItems.map { ($0, $0) }, factors: als.itemFactors)
        let popularity = Evaluator.popularity(ds, rows: history)
        var embeddings: [Float] = []
        for i in knownItems { embeddings += als.itemFactors[(i * f)..<((i + 1) * f)] }
        return try BundleExporter.makeBundle(
            spec: exportSpec, pipeline: pipeline, queryTower: queryTower, candidateTower: candidateTower,
            candidateEmbeddings: embeddings, candidateIds: knownItems.map { ds.productIds[$0] }, metrics: metrics,
            trainInteractions: knownItems.map { Double(popularity[$0]) })
    }
}

/// A ridge regression of entities' factors on their attributes, fitted by backfitting (one block at a time:
/// a table feature's rows are shrunk means of the partial residuals of the entities with that value, a dense
/// input's row the shrunk least-squares slope), and the id table that makes the sum exact for known entities.
enum AttributeRegression {
    /// Shrinkage, in entities: a value seen by few entities predicts little.
    static let shrinkage: Float = 5
    static let sweeps = 8

    struct Fit {
        /// Per table feature (the id's first), `tableRows × dim`.
        var tables: [[Float]]
        /// `denseWidth × dim`.
        var dense: [Float]
    }

    /// `entities`: (index into `factors`, example row into `enc`); table 0 is the id, whose rows get the residuals.
    static func fit(_ enc: EncodedFeatures, transforms: [FeatureTransform], entities: [(entity: Int, row: Int)], factors: [Float], dim f: Int)
        -> Fit
    {
        let tableTransforms = transforms.filter(\.isTable)
        var tables = tableTransforms.map { [Float](repeating: 0, count: $0.tableRows * f) }
        var dense = [Float](repeating: 0, count: enc.denseWidth * f)
        var predicted = [Float](repeating: 0, count: entities.count * f)
        func index(_ e: Int, _ k: Int) -> Int { Int(enc.tableIndex[entities[e].row * enc.tableCount + k]) }
        for _ in 0..<(tableTransforms.count > 1 || enc.denseWidth > 0 ? sweeps : 0) {
            for k in 1..<max(tableTransforms.count, 1) {
                var sums = [Float](repeating: 0, count: tables[k].count)
                var counts = [Float](repeating: 0, count: tableTransforms[k].tableRows)
                for e in entities.indices {
                    let v = index(e, k), target = entities[e].entity * f
                    counts[v] += 1
                    for a in 0..<f { sums[v * f + a] += factors[target + a] - predicted[e * f + a] + tables[k][v * f + a] }
                }
                var updated = tables[k]
                for v in counts.indices { for a in 0..<f { updated[v * f + a] = sums[v * f + a] / (counts[v] + shrinkage) } }
                for e in entities.indices {
                    let v = index(e, k)
                    for a in 0..<f { predicted[e * f + a] += updated[v * f + a] - tables[k][v * f + a] }
                }
                tables[k] = updated
            }
            for d in 0..<enc.denseWidth {
                var numerator = [Float](repeating: 0, count: f)
                var denominator = shrinkage
                for e in entities.indices {
                    let z = enc.dense[entities[e].row * enc.denseWidth + d], target = entities[e].entity * f
                    denominator += z * z
                    for a in 0..<f { numerator[a] += z * (factors[target + a] - predicted[e * f + a] + dense[d * f + a] * z) }
                }
                for e in entities.indices {
                    let z = enc.dense[entities[e].row * enc.denseWidth + d]
                    for a in 0..<f { predicted[e * f + a] += (numerator[a] / denominator - dense[d * f + a]) * z }
                }
                for a in 0..<f { dense[d * f + a] = numerator[a] / denominator }
            }
        }
        // The id rows: what the attributes leave unexplained; unknown ids (the out-of-vocabulary row) get nothing.
        if !tables.isEmpty {
            for e in entities.indices {
                let v = index(e, 0), target = entities[e].entity * f
                for a in 0..<f { tables[0][v * f + a] = factors[target + a] - predicted[e * f + a] }
            }
        }
        return Fit(tables: tables, dense: dense)
    }
}
