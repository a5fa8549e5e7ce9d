import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import Testing
import RecommenderKit
@testable import TrainingCore

@Suite("training run decider")
struct TrainingDeciderTests {
    typealias D = TrainingRunDecider

    static func config(threshold: Double = 0.3, autoRegister: Bool = true) throws -> TrainingRunConfig {
        try RunConfigValidation.merged(base: nil, datasetID: "ds", featureConfigID: "fc", modelConfigID: "mc", trainingParams: nil, gpu: nil,
                                       evaluator: EvaluatorConfigBody(enabled: true, blessingMetric: "recall_at_100", blessingThreshold: threshold),
                                       deployment: nil, executor: nil, autoRegister: autoRegister)
    }

    static func created(_ config: TrainingRunConfig) -> TrainingRunCreated {
        var created = TrainingRunCreated()
        created.runID = "m-1"
        created.runNumber = 1
        created.modelName = "m"
        created.modelType = .retrieval
        created.config = config
        return created
    }

    static func submitted() -> TrainingRunSubmitted {
        var submitted = TrainingRunSubmitted()
        submitted.runID = "m-1"
        submitted.executor = "local"
        submitted.tokenSha256 = "abc"
        return submitted
    }

    /// Decides and folds a sequence of commands; returns the state and every event.
    static func play(_ commands: [D.Command], from state: D.State = D.initial) throws -> (D.State, [TrainingEvent]) {
        var state = state
        var all: [TrainingEvent] = []
        for command in commands {
            let events = try D.decide(command, state)
            state = events.reduce(state, D.evolve)
            all += events
        }
        return (state, all)
    }

    static func running(_ config: TrainingRunConfig) throws -> D.State {
        try play([.create(created(config), submit: submitted()), .start(jobID: "local:test")]).0
    }

    @Test("create with submit, start: submitting then running")
    func lifecycle() throws {
        let (state, events) = try Self.play([.create(Self.created(try Self.config()), submit: Self.submitted())])
        #expect(events.map(\.eventType) == [TrainingRunCreated.protoMessageName, TrainingRunSubmitted.protoMessageName])
        #expect(state.status == .submitting)
        let started = try Self.play([.start(jobID: "j")], from: state).0
        #expect(started.status == .running)
        #expect(throws: CommandRejected.self) { try D.decide(.start(jobID: "j"), started) }
    }

    @Test("a repeated epoch or stage report decides nothing")
    func idempotentProgress() throws {
        var epoch = EpochCompleted()
        epoch.epoch = 1
        epoch.loss = 1.5
        var stage = StageCompleted()
        stage.stage = .examples
        let (state, events) = try Self.play([.epoch(epoch), .stageCompleted(stage)], from: try Self.running(try Self.config()))
        #expect(events.count == 2)
        #expect(events.allSatisfy { ($0.message as? EpochCompleted)?.runID ?? ($0.message as? StageCompleted)?.runID == "m-1" })
        #expect(try D.decide(.epoch(epoch), state).isEmpty)
        #expect(try D.decide(.stageCompleted(stage), state).isEmpty)
    }

    @Test("completion blesses against the run's evaluator config and starts registration")
    func blessing() throws {
        let blessed = try Self.play([.complete(metrics: ["recall_at_100": 0.42], artifactURI: "/b", artifacts: [:], durationMs: 10)],
                                    from: try Self.running(try Self.config(threshold: 0.3)))
        #expect(blessed.0.status == .completed)
        #expect(blessed.1.contains { ($0.message as? StageStarted)?.stage == .register })
        #expect(blessed.1.contains { ($0.message as? StageSkipped)?.stage == .deploy })
        let completed = try #require(blessed.1.last?.message as? TrainingRunCompleted)
        #expect(completed.blessed && completed.modelName == "m" && completed.runNumber == 1)

        let notBlessed = try Self.play([.complete(metrics: ["recall_at_100": 0.2], artifactURI: "/b", artifacts: [:], durationMs: 10)],
                                       from: try Self.running(try Self.config(threshold: 0.3)))
        #expect(notBlessed.0.status == .notBlessed)
        let skipped = try #require(notBlessed.1.compactMap { $0.message as? StageSkipped }.first { $0.stage == .register })
        #expect(skipped.reason.contains("0.2000 < threshold 0.3"))
    }

    @Test("auto-registration off: the register stage is skipped even when blessed")
    func manualRegistration() throws {
        let (_, events) = try Self.play([.complete(metrics: ["recall_at_100": 0.9], artifactURI: "/b", artifacts: [:], durationMs: 1)],
                                        from: try Self.running(try Self.config(autoRegister: false)))
        #expect(events.contains { ($0.message as? StageSkipped)?.stage == .register })
        #expect(!events.contains { $0.message is StageStarted })
    }

    @Test("terminal runs refuse to fail, cancel or take progress; running runs refuse config edits")
    func terminalRules() throws {
        let config = try Self.config()
        let running = try Self.running(config)
        #expect(throws: CommandRejected.self) { try D.decide(.editConfig(config, fields: ["gpu_config"], by: "t"), running) }
        let cancelled = try Self.play([.cancel(reason: "stop", by: "t")], from: running).0
        #expect(cancelled.status == .cancelled)
        #expect(throws: CommandRejected.self) { try D.decide(.cancel(reason: "", by: "t"), cancelled) }
        #expect(throws: CommandRejected.self) { try D.decide(.fail(stage: nil, error: "x", logTail: "", durationMs: 0), cancelled) }
        #expect(throws: CommandRejected.self) { try D.decide(.stageStarted(.train), cancelled) }
        #expect(try D.decide(.editConfig(config, fields: ["gpu_config"], by: "t"), cancelled).count == 1)
    }

    @Test("an external trainer's first report starts a submitted run")
    func externalStart() throws {
        let submitted = try Self.play([.create(Self.created(try Self.config()), submit: Self.submitted())]).0
        let (state, events) = try Self.play([.stageStarted(.examples)], from: submitted)
        #expect(events.first?.message is TrainingRunStarted)
        #expect(state.status == .running)
    }

    @Test("auto-deploy: the deploy stage waits for the registered version, then the run ends deployed or deploy_failed")
    func autoDeploy() throws {
        var config = try Self.config()
        config.deploymentConfig.enabled = true
        config.deploymentConfig.endpointName = "shop"
        let complete = D.Command.complete(metrics: ["recall_at_100": 0.5], artifactURI: "/b", artifacts: [:], durationMs: 1)
        let (completed, events) = try Self.play([complete], from: try Self.running(config))
        #expect(completed.status == .completed)
        #expect(!events.contains { ($0.message as? StageSkipped)?.stage == .deploy }, "the deploy stage stays pending")
        var requested = TrainingRunDeployRequested()
        requested.versionNumber = 1
        let (deploying, requestEvents) = try Self.play([.requestDeploy(requested)], from: completed)
        #expect(deploying.status == .deploying)
        #expect((requestEvents.last?.message as? TrainingRunDeployRequested)?.deploymentConfig.endpointName == "shop")
        #expect(throws: CommandRejected.self) { try D.decide(.requestDeploy(requested), deploying) }
        var deployed = TrainingRunDeployed()
        deployed.endpointURL = "http://127.0.0.1:8081/shop"
        let (done, _) = try Self.play([.deployed(deployed)], from: deploying)
        #expect(done.status == .deployed)
        #expect(try D.decide(.deployFailed(TrainingRunDeployFailed()), done).isEmpty, "a late outcome changes nothing")
        let (failed, _) = try Self.play([.deployFailed(TrainingRunDeployFailed())], from: deploying)
        #expect(failed.status == .deployFailed)
        // Without auto-deploy the stage is skipped and nothing can be requested.
        let (plain, plainEvents) = try Self.play([complete], from: try Self.running(try Self.config()))
        #expect(plainEvents.contains { ($0.message as? StageSkipped)?.stage == .deploy })
        #expect(throws: CommandRejected.self) { try D.decide(.requestDeploy(requested), plain) }
    }

    @Test("a failure names the stage in progress")
    func failureStage() throws {
        let inTrain = try Self.play([.stageStarted(.train)], from: try Self.running(try Self.config())).0
        let (state, events) = try Self.play([.fail(stage: nil, error: "boom", logTail: "tail", durationMs: 5)], from: inTrain)
        #expect(state.status == .failed)
        #expect((events.last?.message as? TrainingRunFailed)?.stage == .train)
    }
}

@Suite("training configs")
struct TrainingConfigTests {
    func field(_ body: () throws -> Any) -> String? {
        do { _ = try body() } catch let rejected as CommandRejected { return rejected.field } catch { return "unexpected \(error)" }
        return nil
    }

    @Test("invalid run settings name their field")
    func runSettings() {
        func merged(_ params: TrainingParamsBody? = nil, evaluator: EvaluatorConfigBody? = nil, deployment: DeploymentConfigBody? = nil,
                    executor: String? = nil, dataset: String? = "ds") throws -> TrainingRunConfig {
            try RunConfigValidation.merged(base: nil, datasetID: dataset, featureConfigID: "fc", modelConfigID: "mc", trainingParams: params,
                                           gpu: nil, evaluator: evaluator, deployment: deployment, executor: executor, autoRegister: nil)
        }
        #expect(field { try merged(TrainingParamsBody(epochs: 0)) } == "training_params.epochs")
        #expect(field { try merged(TrainingParamsBody(optimizer: "lbfgs")) } == "training_params.optimizer")
        #expect(field { try merged(TrainingParamsBody(learningRate: -1)) } == "training_params.learning_rate")
        #expect(field { try merged(evaluator: EvaluatorConfigBody(blessingMetric: "auc")) } == "evaluator_config.blessing_metric")
        #expect(field { try merged(evaluator: EvaluatorConfigBody(blessingThreshold: 2)) } == "evaluator_config.blessing_threshold")
        #expect(field { try merged(deployment: DeploymentConfigBody(enabled: true, serviceName: "Shop_1")) } == "deployment_config.service_name")
        #expect(field { try merged(deployment: DeploymentConfigBody(enabled: true, preset: "huge")) } == "deployment_config.preset")
        #expect(field { try merged(deployment: DeploymentConfigBody(enabled: true, serviceName: "shop", preset: "development")) } == nil)
        #expect(field { try merged(executor: "slurm") } == "executor")
        #expect(field { try merged(dataset: nil) } == "dataset_id")
        #expect(field { try merged(TrainingParamsBody(epochs: 3, batchSize: 128)) } == nil)
    }

    @Test("invalid datasets and feature configs name their field")
    func catalog() {
        func dataset(_ edit: (inout DatasetBody) -> Void) -> DatasetBody {
            var body = DatasetBody(name: "ds", description: nil, transactions: "/data/t.csv", customers: nil, products: nil, format: nil,
                                   columnAliases: nil, filters: nil, samplePercent: nil, split: nil)
            edit(&body)
            return body
        }
        #expect(field { try dataset { $0.name = "Bad Name" }.validated() } == "name")
        #expect(field { try dataset { $0.transactions = "relative.csv" }.validated() } == "transactions")
        #expect(field { try dataset { $0.format = "xlsx" }.validated() } == "format")
        #expect(field { try dataset { $0.samplePercent = 0 }.validated() } == "sample_percent")
        #expect(field { try dataset { $0.split = SplitBody(strategy: "kfold") }.validated() } == "split.strategy")
        #expect(field { try dataset { $0.filters = DatasetFilters(startDate: "yesterday") }.validated() } == "filters.start_date")
        #expect(field { try dataset { _ in }.validated() } == nil)

        let noProduct = FeatureConfigBody(name: "fc", description: nil, query: [RecommenderKit.FeatureSpec(name: "customer_id")],
                                          candidate: [RecommenderKit.FeatureSpec(name: "category")])
        #expect(field { try noProduct.validated() } == "candidate")
        let badTransform = FeatureConfigBody(name: "fc", description: nil,
                                             query: [RecommenderKit.FeatureSpec(name: "customer_id", type: .string, transform: .normalize)],
                                             candidate: [RecommenderKit.FeatureSpec(name: "product_id")])
        #expect(field { try badTransform.validated() } == "query[0].transform")
    }

    @Test("a dataset's view round-trips into the trainer's spec, aliases inverted")
    func datasetView() throws {
        let body = DatasetBody(name: "ds", description: "d", transactions: "file:///data/t.tsv", customers: nil, products: "/data/p.csv",
                               format: "tsv", columnAliases: ["division_desc": "category"], filters: DatasetFilters(topNProducts: 50),
                               samplePercent: 50, split: SplitBody(strategy: "random", testFraction: 0.2))
        let view = try body.validated().view(createdAt: nil)
        #expect(view.format == "tsv" && view.transactions == "/data/t.tsv")
        let spec = view.trainerSpec
        #expect(spec.columns == ["category": "division_desc"])
        #expect(spec.filters?.topNProducts == 50)
        #expect(spec.samplePercent == 50)
        #expect(spec.split?.strategy == .random && spec.split?.testFraction == 0.2)
    }
}

@Suite("trainer report lines")
struct TrainerReportTests {
    @Test("the built-in trainer's JSON lines become run commands; statistics go to a file")
    func lines() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-report-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var report = TrainerReport(artifacts: directory)
        func command(_ line: String) -> TrainingRunDecider.Command? { report.command(for: line, elapsedMs: 7, logTail: { "tail" }) }

        guard case .stageStarted(.compile)? = command(#"{"event":"stage_started","stage":"compile"}"#) else { Issue.record("compile"); return }
        _ = command(#"{"event":"stage_completed","stage":"compile","seconds":0.5,"details":{"epochs":4}}"#)
        #expect(command(#"{"event":"statistics","num_examples":10}"#) == nil)
        guard case .stageCompleted(let stats)? = command(#"{"event":"stage_completed","stage":"stats","seconds":1,"details":{"num_examples":10}}"#) else {
            Issue.record("stats"); return
        }
        #expect(stats.durationMs == 1000 && stats.metrics["num_examples"] == 10)
        #expect(stats.artifacts["statistics"] == directory.appendingPathComponent("statistics.json").path)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("statistics.json").path))
        guard case .epoch(let epoch)? = command(#"{"event":"epoch_completed","epoch":2,"loss":1.25,"val_loss":1.5,"recall_at_100":0.4,"seconds":2}"#) else {
            Issue.record("epoch"); return
        }
        #expect(epoch.epoch == 2 && epoch.totalEpochs == 4 && epoch.recallAtK[100] == 0.4)
        guard case .complete(let metrics, let uri, let files, _)? = command(#"{"event":"completed","metrics":{"recall_at_100":0.4},"bundle":"/b"}"#) else {
            Issue.record("completed"); return
        }
        #expect(metrics["recall_at_100"] == 0.4 && uri == "/b" && files["statistics"] != nil)
        guard case .fail(let stage, let error, let tail, _)? = command(#"{"event":"failed","stage":"examples","error":"file missing"}"#) else {
            Issue.record("failed"); return
        }
        #expect(stage == .examples && error == "file missing" && tail == "tail")
        #expect(command("plain log line") == nil)
    }
}
