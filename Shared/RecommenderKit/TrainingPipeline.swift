import Foundation
import SlipwayModelBundle

/// Outcome of a run.
public struct RunResult: Sendable {
    public var algorithm: TrainingAlgorithm
    public var metrics: [String: Double]
    public var blessed: Bool
    public var bundle: URL
    public var epochs: [EpochReport]
    public var trainSeconds: Double
    public var totalSeconds: Double
}

public struct EpochReport: Sendable {
    public var epoch: Int
    public var loss: Double
    public var valLoss: Double
    public var recallAt10: Double
    public var recallAt100: Double
    public var seconds: Double
    public var examplesPerSecond: Double
}

public struct PipelineError: Error, Sendable, CustomStringConvertible {
    public var stage: String
    public var message: String
    public var description: String { "\(stage): \(message)" }
}

/// The built-in trainer's stages: compile → examples → stats → schema → transform → train → evaluate.
/// `evaluate` also writes the bundle; `register` and `deploy` belong to the platform.
public final class TrainingPipeline {
    public let spec: RunSpec
    public let artifacts: URL
    let emit: (JSONValue) -> Void

    public init(spec: RunSpec, artifacts: URL, emit: @escaping (JSONValue) -> Void) {
        self.spec = spec; self.artifacts = artifacts; self.emit = emit
    }

    func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    func stage<T>(_ name: String, _ body: () throws -> (T, [(String, JSONValue)])) throws -> T {
        emit(.object([("event", .string("stage_started")), ("stage", .string(name))]))
        let t0 = now()
        do {
            let (v, details) = try body()
            emit(
                .object([
                    ("event", .string("stage_completed")), ("stage", .string(name)),
                    ("seconds", .num(now() - t0, digits: 4)), ("details", .object(details)),
                ]))
            return v
        } catch let e as PipelineError {
            throw e
        } catch {
            throw PipelineError(stage: name, message: String(describing: error))
        }
    }

    /// Runs every stage; emits `completed` or `failed`. Returns nil on failure.
    @discardableResult
    public func run() -> RunResult? {
        do {
            let r = try runStages()
            emit(
                .object([
                    ("event", .string("completed")),
                    ("metrics", .object(r.metrics.sorted { $0.key < $1.key }.map { ($0.key, .num($0.value)) })),
                    ("blessed", .bool(r.blessed)), ("bundle", .string(r.bundle.path)),
                ]))
            return r
        } catch let e as PipelineError {
            emit(.object([("event", .string("failed")), ("stage", .string(e.stage)), ("error", .string(e.message))]))
        } catch {
            emit(.object([("event", .string("failed")), ("stage", .string("unknown")), ("error", .string("\(error)"))]))
        }
        return nil
    }

    public func runStages() throws -> RunResult {
        let tStart = now()
        let mc = spec.modelConfig
        let fc = spec.featureConfig
        let splitSpec = spec.dataset.split ?? SplitSpec()
        let algorithm = try stage("compile") { () throws -> (TrainingAlgorithm, [(String, JSONValue)]) in
            try mc.validate()
            try spec.evaluator.validate()
            guard !fc.query.isEmpty, !fc.candidate.isEmpty else { throw SpecError.invalidValue("feature_config needs query and candidate features") }
            guard fc.candidate.contains(where: { $0.name == "product_id" }) else {
                throw SpecError.invalidValue("feature_config.candidate must include product_id")
            }
            let algorithm = mc.resolvedAlgorithm
            if algorithm == .matrixFactorization, !fc.query.contains(where: { $0.name == "customer_id" }) {
                throw SpecError.invalidValue(
                    "matrix factorisation (the default algorithm) needs customer_id in feature_config.query: add it, or set model_config.algorithm to two_tower"
                )
            }
            try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
            return (
                algorithm,
                [
                    ("run_id", .string(spec.runId)), ("model_name", .string(spec.modelName)), ("algorithm", .string(algorithm.rawValue)),
                    ("optimizer", .string(mc.optimizer.rawValue)),
                    ("epochs", .int(algorithm == .matrixFactorization ? mc.iterations : mc.epochs)),
                    ("split", .string(splitSpec.strategy.rawValue)),
                ]
            )
        }
        let (ds, split) = try stage("examples") { () throws -> ((InteractionDataset, DatasetSplit), [(String, JSONValue)]) in
            let ds = try DatasetLoader.load(spec.dataset)
            let split = try Splitter.split(ds, splitSpec)
            var d: [(String, JSONValue)] = ds.report.sorted { $0.key < $1.key }.map { ($0.key, .num($0.value)) }
            d += [("train", .int(split.train.count)), ("validation", .int(split.validation.count)), ("test", .int(split.test.count))]
            return ((ds, split), d)
        }
        let (statsBody, schemaBody) = try stage("stats") { () -> ((JSONValue, JSONValue), [(String, JSONValue)]) in
            let s = DataStatistics.compute(ds, split: split, features: fc)
            if case .object(let kv) = s.statistics { emit(.object([("event", .string("statistics"))] + kv)) }
            return (s, [("num_examples", .int(ds.interactions.count))] + DataStatistics.unparseableRowCounts(schema: s.schema))
        }
        _ = statsBody
        try stage("schema") {
            if case .object(let kv) = schemaBody { emit(.object([("event", .string("schema"))] + kv)) }
            var fields = 0
            if case .array(let a)? = schemaBody["features"] { fields = a.count }
            return ((), [("features", .int(fields))])
        }
        let trained =
            algorithm == .matrixFactorization
            ? try trainFactorization(ds, split) : try trainTwoTower(ds, split)
        let trainSeconds = now() - trained.trainStarted
        return try stage("evaluate") { () throws -> (RunResult, [(String, JSONValue)]) in
            let history = split.history
            let testSet = EvaluationSet.build(dataset: ds, historyRows: history, heldOutRows: split.test)
            let m = trained.evaluate(testSet)
            let pop = Evaluator.popularityMetrics(testSet, dataset: ds, historyRows: history)
            var metrics = trained.metrics
            for k in Evaluator.ks {
                metrics["recall_at_\(k)"] = m[k]
                metrics["popularity_recall_at_\(k)"] = pop[k]
                metrics["lift_at_\(k)"] = pop[k] > 0 ? m[k] / pop[k] : 0
            }
            metrics["ndcg_at_10"] = m.ndcgAt10
            metrics["map_at_10"] = m.mapAt10
            metrics["catalog_coverage_at_10"] = m.coverageAt10
            metrics["popularity_ndcg_at_10"] = pop.ndcgAt10
            metrics["test_pairs"] = Double(m.pairs)
            metrics["test_customers"] = Double(m.customers)
            metrics["test_unknown_item_pairs"] = Double(testSet.unknownItemPairs)
            metrics["train_seconds"] = trainSeconds
            let beatsPopularity = m[10] > pop[10]
            let blessed = spec.evaluator.blesses(metrics)
            emit(
                .object([
                    ("event", .string("evaluation")), ("protocol", .string(Evaluator.protocolName)),
                    ("split", .string(split.strategy.rawValue)), ("algorithm", .string(algorithm.rawValue)),
                    ("metrics", .object(metrics.sorted { $0.key < $1.key }.map { ($0.key, .num($0.value)) })),
                    ("beats_popularity", .bool(beatsPopularity)), ("blessed", .bool(blessed)),
                ]))
            let bundleURL = artifacts.appendingPathComponent("bundle")
            try trained.bundle(metrics).write(to: bundleURL)
            try TrainingBaselineExport.make(ds, trainRows: trained.baselineRows, features: trained.queryFeatures).write(toBundle: bundleURL)
            let r = RunResult(
                algorithm: algorithm, metrics: metrics, blessed: blessed, bundle: bundleURL, epochs: trained.epochs,
                trainSeconds: trainSeconds, totalSeconds: now() - tStart)
            return (
                r,
                [
                    ("protocol", .string(Evaluator.protocolName)), ("recall_at_10", .num(m[10])), ("recall_at_100", .num(m[100])),
                    ("popularity_recall_at_10", .num(pop[10])), ("popularity_recall_at_100", .num(pop[100])),
                    ("lift_at_10", .num(metrics["lift_at_10"]!)), ("lift_at_100", .num(metrics["lift_at_100"]!)),
                    ("ndcg_at_10", .num(m.ndcgAt10)), ("blessed", .bool(blessed)),
                    ("blessing_threshold", .num(spec.evaluator.blessingThreshold)), ("bundle", .string(bundleURL.path)),
                ]
            )
        }
    }

    /// A trained model as the evaluate stage needs it.
    struct TrainedModel {
        var trainStarted: Double
        var epochs: [EpochReport]
        /// Extra metrics of the training itself (chosen settings).
        var metrics: [String: Double]
        var evaluate: (EvaluationSet) -> RankingMetrics
        var bundle: ([String: Double]) throws -> ModelBundle
        /// Rows and query features the drift baseline describes.
        var baselineRows: [Int]
        var queryFeatures: [FeatureSpec]
    }

    func trainTwoTower(_ ds: InteractionDataset, _ split: DatasetSplit) throws -> TrainedModel {
        let mc = spec.modelConfig
        let fc = spec.featureConfig
        let (pipeline, qEnc, cEnc) = try stage("transform") {
            () throws -> ((FeaturePipeline, EncodedFeatures, EncodedFeatures), [(String, JSONValue)]) in
            let p = try FeaturePipeline.fit(config: fc, dataset: ds, trainRows: split.train)
            let q = try p.encodeQueries(config: fc, dataset: ds)
            let c = try p.encodeCandidates(config: fc, dataset: ds)
            return ((p, q, c), Self.transformDetails(p))
        }
        var rng = SeededRandom(seed: mc.seed)
        let qTower = Tower(transforms: pipeline.query, layers: mc.queryLayers, outputDim: mc.outputDim, l2Normalize: mc.l2Normalize, rng: &rng)
        let cTower = Tower(
            transforms: pipeline.candidate, layers: mc.candidateLayers, outputDim: mc.outputDim, l2Normalize: mc.l2Normalize, rng: &rng)
        let counts = Evaluator.popularity(ds, rows: split.train)
        let total = Double(split.train.count)
        let logQ = counts.map { Float(log(max(Double($0), 0.5) / total)) }
        let model = TwoTowerModel(
            query: qTower, candidate: cTower, temperature: Float(mc.temperature), logQ: logQ,
            logQCorrection: mc.logQCorrection)
        let valSet = EvaluationSet.build(dataset: ds, historyRows: split.train, heldOutRows: split.validation)
        var epochs: [EpochReport] = []
        let tTrain = now()
        try stage("train") {
            let trainer = Trainer(model: model, config: mc)
            epochs = trainer.fit(dataset: ds, split: split, queryEnc: qEnc, candEnc: cEnc, valSet: valSet) { rep in
                self.emit(
                    .object([
                        ("event", .string("epoch_completed")), ("epoch", .int(rep.epoch)), ("loss", .num(rep.loss)),
                        ("val_loss", .num(rep.valLoss)), ("recall_at_10", .num(rep.recallAt10)),
                        ("recall_at_100", .num(rep.recallAt100)), ("seconds", .num(rep.seconds, digits: 4)),
                        ("examples_per_s", .num(rep.examplesPerSecond.rounded())),
                    ]))
            }
            return (
                (),
                [
                    ("epochs_run", .int(epochs.count)), ("best_epoch", .int(trainer.bestEpoch)),
                    ("parameters", .int(model.parameters.reduce(0) { $0 + $1.value.count })),
                ]
            )
        }
        let candEmb = cTower.embedAll(cEnc)
        var extra: [String: Double] = [:]
        if let last = epochs.last { extra["final_loss"] = last.loss; extra["final_val_loss"] = last.valLoss }
        return TrainedModel(
            trainStarted: tTrain, epochs: epochs, metrics: extra,
            evaluate: { set in
                Evaluator.towerMetrics(set, queryTower: qTower, queryEnc: qEnc, candidateEmbeddings: candEmb, productCount: ds.productIds.count)
            },
            bundle: { metrics in
                try BundleExporter.makeBundle(
                    spec: self.spec, pipeline: pipeline, queryTower: qTower, candidateTower: cTower,
                    candidateEmbeddings: candEmb, candidateIds: ds.productIds, metrics: metrics,
                    trainInteractions: Evaluator.popularity(ds, rows: split.history).map(Double.init))
            },
            baselineRows: split.train, queryFeatures: fc.query)
    }

    static func transformDetails(_ p: FeaturePipeline) -> [(String, JSONValue)] {
        (p.query + p.candidate).map { t in
            var kv: [(String, JSONValue)] = [("kind", .string(t.kind.rawValue)), ("width", .int(t.inputWidth))]
            if let v = t.vocabulary { kv.append(("vocabulary_size", .int(v.count))) }
            if let b = t.boundaries { kv.append(("buckets", .int(b.count + 1))) }
            return (t.name, .object(kv))
        }
    }
}

/// Mini-batch loop with early stopping (best weights restored) on what the run is judged by: validation
/// Recall@10 × Recall@100 under the evaluation protocol, or the validation loss when there is no validation set to
/// rank for. The loss keeps falling for epochs after the ranking has stopped improving, and the other way round.
public final class Trainer {
    public let model: TwoTowerModel
    public let config: ModelConfig
    public private(set) var bestEpoch = 0

    public init(model: TwoTowerModel, config: ModelConfig) { self.model = model; self.config = config }

    func meanLoss(rows: [Int], ds: InteractionDataset, queryEnc: EncodedFeatures, candEnc: EncodedFeatures) -> Double {
        let b = config.batchSize
        var total = 0.0, batches = 0
        var start = 0
        while start + 2 <= rows.count {
            let end = min(start + b, rows.count)
            let q = rows[start..<end].map { Int32($0) }
            let p = rows[start..<end].map { ds.interactions[$0].product }
            if q.count >= 2 {
                total += model.step(queryRows: q, productRows: p, queryEnc: queryEnc, candEnc: candEnc, backward: false)
                batches += 1
            }
            start = end
        }
        return batches > 0 ? total / Double(batches) : .nan
    }

    public func fit(
        dataset ds: InteractionDataset, split: DatasetSplit, queryEnc: EncodedFeatures, candEnc: EncodedFeatures,
        valSet: EvaluationSet, onEpoch: (EpochReport) -> Void
    ) -> [EpochReport] {
        var rng = SeededRandom(seed: config.seed &+ 101)
        var opt = Optimizer(kind: config.optimizer, learningRate: Float(config.learningRate))
        let params = model.parameters
        var best = -Double.infinity
        var bestWeights: [[Float]] = params.map(\.value)
        var sinceBest = 0
        var reports: [EpochReport] = []
        var order = split.train
        // Validation rows shuffled once so each batch mixes customers like training batches do.
        var valRows = split.validation
        for i in stride(from: valRows.count - 1, to: 0, by: -1) { valRows.swapAt(i, rng.int(i + 1)) }
        let b = config.batchSize
        var q = [Int32](repeating: 0, count: b), p = [Int32](repeating: 0, count: b)
        for epoch in 1...config.epochs {
            let t0 = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.int(i + 1)) }
            var lossSum = 0.0, batches = 0, examples = 0
            var start = 0
            while start + b <= order.count {  // the last partial batch is dropped
                for j in 0..<b {
                    let r = order[start + j]
                    q[j] = Int32(r); p[j] = ds.interactions[r].product
                }
                lossSum += model.step(queryRows: q, productRows: p, queryEnc: queryEnc, candEnc: candEnc, backward: true)
                opt.apply(params)
                batches += 1; examples += b; start += b
            }
            let trainTime = Double(DispatchTime.now().uptimeNanoseconds) / 1e9 - t0
            let valLoss = valRows.isEmpty ? lossSum / Double(max(batches, 1)) : meanLoss(rows: valRows, ds: ds, queryEnc: queryEnc, candEnc: candEnc)
            var r10 = 0.0, r100 = 0.0
            if !valSet.customers.isEmpty {
                let candEmb = model.candidate.embedAll(candEnc)
                let m = Evaluator.towerMetrics(
                    valSet, queryTower: model.query, queryEnc: queryEnc, candidateEmbeddings: candEmb,
                    productCount: ds.productIds.count, ks: [10, 100])
                r10 = m[10]; r100 = m[100]
            }
            let secs = Double(DispatchTime.now().uptimeNanoseconds) / 1e9 - t0
            let rep = EpochReport(
                epoch: epoch, loss: lossSum / Double(max(batches, 1)), valLoss: valLoss, recallAt10: r10,
                recallAt100: r100, seconds: secs, examplesPerSecond: Double(examples) / max(trainTime, 1e-9))
            reports.append(rep)
            onEpoch(rep)
            let score = valSet.customers.isEmpty ? -valLoss : r10 * r100
            if score > best + 1e-6 || best.isInfinite {
                best = score; bestEpoch = epoch; sinceBest = 0
                bestWeights = params.map(\.value)
            } else {
                sinceBest += 1
                if config.earlyStoppingPatience > 0 && sinceBest >= config.earlyStoppingPatience { break }
            }
        }
        for (p, w) in zip(params, bestWeights) { p.value = w }
        return reports
    }
}
