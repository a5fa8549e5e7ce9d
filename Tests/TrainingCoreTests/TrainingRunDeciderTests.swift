import Foundation
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

@testable import TrainingCore

/// Given a run's history (written as commands), when a command, then these events — or this rejection.
@Suite("training run decider")
struct TrainingRunDeciderTests {
    typealias D = TrainingRunDecider

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let given: [D.Command]
        let when: D.Command
        let then: [TrainingEvent]
        var testDescription: String { name }
    }

    typealias Refusal = SlipwayTestSupport.Refusal<D>

    @Test("events", arguments: Fixture.cases)
    func events(_ c: Case) throws {
        let history = try SlipwayTestSupport.history(D.self, c.given)
        #expect(try decide(D.self, given: history, when: c.when) == c.then)
    }

    @Test("rejections", arguments: Fixture.refusals)
    func rejections(_ c: Refusal) throws {
        try expectRejection(c)
    }

    @Test("the state follows the run: pending, submitting, running, then its end")
    func lifecycle() throws {
        let pending = D.fold(try SlipwayTestSupport.history(D.self, [Fixture.create(submit: false)]))
        #expect(pending.status == .pending)
        let running = D.fold(try SlipwayTestSupport.history(D.self, Fixture.running()))
        #expect(running.status == .running && !running.isTerminal)
        let cancelled = try stateAfter(D.self, given: try SlipwayTestSupport.history(D.self, Fixture.running()), when: .cancel(reason: "x", by: "t"))
        #expect(cancelled.status == .cancelled && cancelled.isTerminal)
    }
}

/// The runs, commands and events the tables are written with.
enum Fixture {
    typealias D = TrainingRunDecider

    static let catalog = D.Catalog(datasets: ["ds"], featureConfigs: ["fc"], modelConfigs: ["mc"])
    static let submission = D.Submission(tokenSHA256: "abc", artifactURI: "/artifacts/runs/m-1")

    static func settings(threshold: Double = 0.3, autoRegister: Bool? = nil, deploy: Bool = false, executor: String? = nil) -> RunSettings {
        RunSettings(
            datasetId: "ds", featureConfigId: "fc", modelConfigId: "mc", trainingParams: .init(epochs: 4),
            evaluatorConfig: .init(enabled: true, blessingMetric: "recall_at_100", blessingThreshold: threshold),
            deploymentConfig: deploy ? .init(enabled: true, serviceName: "shop") : nil, executor: executor, autoRegister: autoRegister)
    }

    static func config(_ settings: RunSettings = settings()) -> TrainingRunConfig {
        try! settings.config(over: nil)
    }

    static func create(
        number: Int32 = 1, model: String = "m", modelType: String? = nil, settings: RunSettings = settings(), catalog: D.Catalog = catalog,
        submit: Bool = true
    ) -> D.Command {
        .create(
            .init(
                model: model, number: number, description: "first", modelType: modelType, settings: settings, catalog: catalog, createdBy: "alice",
                submission: submit ? submission : nil))
    }

    static func running(_ settings: RunSettings = settings()) -> [D.Command] {
        [create(settings: settings), .start(jobID: "local:test")]
    }

    static let complete = D.Command.complete(.init(metrics: ["recall_at_100": 0.42], artifactURI: "/b", durationMs: 10))

    // MARK: Expected events

    static func created(_ config: TrainingRunConfig = config(), description: String = "first", number: Int32 = 1, rerunOf: String = "")
        -> TrainingEvent
    {
        var e = TrainingRunCreated()
        e.runID = "m-\(number)"
        e.runNumber = number
        e.name = "m"
        e.modelName = "m"
        e.descriptionText = description
        e.modelType = .retrieval
        e.config = config
        e.createdBy = "alice"
        e.rerunOfRunID = rerunOf
        return .trainingRunCreated(e)
    }

    static func submitted(executor: String = "local", runID: String = "m-1") -> TrainingEvent {
        var e = TrainingRunSubmitted()
        e.runID = runID
        e.executor = executor
        e.tokenSha256 = "abc"
        e.artifactUri = "/artifacts/runs/m-1"
        return .trainingRunSubmitted(e)
    }

    static func started(_ job: String) -> TrainingEvent {
        var e = TrainingRunStarted()
        e.runID = "m-1"
        e.executorJobID = job
        return .trainingRunStarted(e)
    }

    static func stageStarted(_ stage: TrainingStage) -> TrainingEvent {
        var e = StageStarted()
        e.runID = "m-1"
        e.stage = stage
        e.attempt = 1
        return .stageStarted(e)
    }

    static func stageCompleted(_ stage: TrainingStage, durationMs: Int64 = 0, artifacts: [String: String] = [:], metrics: [String: Double] = [:])
        -> TrainingEvent
    {
        var e = StageCompleted()
        e.runID = "m-1"
        e.stage = stage
        e.durationMs = durationMs
        e.artifacts = artifacts
        e.metrics = metrics
        return .stageCompleted(e)
    }

    static func skipped(_ stage: TrainingStage, _ reason: String) -> TrainingEvent {
        var e = StageSkipped()
        e.runID = "m-1"
        e.stage = stage
        e.reason = reason
        return .stageSkipped(e)
    }

    static func completed(_ config: TrainingRunConfig = config(), blessed: Bool, recall: Double = 0.42) -> TrainingEvent {
        var e = TrainingRunCompleted()
        e.runID = "m-1"
        e.metrics = ["recall_at_100": recall]
        e.blessed = blessed
        e.blessingMetric = "recall_at_100"
        e.blessingThreshold = config.evaluatorConfig.blessingThreshold
        e.artifactUri = "/b"
        e.durationMs = 10
        e.modelName = "m"
        e.registeredModelID = "m"
        e.modelType = .retrieval
        e.runNumber = 1
        e.config = config
        return .trainingRunCompleted(e)
    }

    static func failed(_ stage: TrainingStage, _ error: String, logTail: String = "", durationMs: Int64 = 0) -> [TrainingEvent] {
        var s = StageFailed()
        s.runID = "m-1"
        s.stage = stage
        s.error = error
        s.logTail = logTail
        var f = TrainingRunFailed()
        f.runID = "m-1"
        f.stage = stage
        f.error = error
        f.logTail = logTail
        f.durationMs = durationMs
        return [.stageFailed(s), .trainingRunFailed(f)]
    }

    static func epoch(_ number: Int32, total: Int32 = 4) -> TrainingEvent {
        var e = EpochCompleted()
        e.runID = "m-1"
        e.epoch = number
        e.totalEpochs = total
        e.loss = 1.5
        e.valLoss = 1.7
        e.recallAtK = [100: 0.3]
        e.durationMs = 2000
        return .epochCompleted(e)
    }

    static func reportEpoch(_ number: Int, total: Int? = nil, loss: Double = 1.5) -> D.Command {
        .reportEpoch(.init(epoch: number, totalEpochs: total, loss: loss, valLoss: 1.7, recallAtK: [100: 0.3], durationMs: 2000))
    }

    // MARK: Tables

    static var cases: [TrainingRunDeciderTests.Case] {
        let deploy = settings(deploy: true)
        var deployRequested = TrainingRunDeployRequested()
        deployRequested.runID = "m-1"
        deployRequested.registeredModelID = "m"
        deployRequested.versionNumber = 1
        deployRequested.modelVersionID = "v-1"
        deployRequested.deploymentConfig = config(deploy).deploymentConfig
        var deployed = TrainingRunDeployed()
        deployed.runID = "m-1"
        deployed.endpointID = "shop"
        deployed.endpointName = "shop"
        deployed.deploymentID = "shop-1"
        deployed.endpointURL = "http://127.0.0.1:8081/shop"
        var deployFailed = TrainingRunDeployFailed()
        deployFailed.runID = "m-1"
        deployFailed.endpointID = "shop"
        deployFailed.deploymentID = "shop-1"
        deployFailed.error = "no capacity"
        var deployStageFailed = StageFailed()
        deployStageFailed.runID = "m-1"
        deployStageFailed.stage = .deploy
        deployStageFailed.error = "no capacity"
        var cancelled = TrainingRunCancelled()
        cancelled.runID = "m-1"
        cancelled.reason = "wrong data"
        cancelled.cancelledBy = "bob"
        cancelled.previousStatus = .running
        cancelled.stage = .train
        var edited = TrainingRunConfigEdited()
        edited.runID = "m-1"
        edited.config = config(
            RunSettings(
                datasetId: "ds", featureConfigId: "fc", modelConfigId: "mc", trainingParams: .init(epochs: 5), gpuConfig: .init(gpuCount: 1),
                evaluatorConfig: .init(enabled: true, blessingMetric: "recall_at_100", blessingThreshold: 0.3)))
        edited.updatedFields = ["training_params", "gpu_config"]
        edited.editedBy = "bob"
        let registered = D.RegisteredVersion(model: "m", number: 1, versionID: "v-1")
        let source = D.RerunSource(id: "m-1", model: "m", number: 1, status: .failed, modelType: .retrieval, config: config())
        var rerunSubmitted = TrainingRunSubmitted()
        rerunSubmitted.runID = "m-2"
        rerunSubmitted.executor = "local"
        rerunSubmitted.tokenSha256 = "abc"
        rerunSubmitted.artifactUri = "/artifacts/runs/m-1"
        var rerunCreated = TrainingRunCreated()
        rerunCreated.runID = "m-2"
        rerunCreated.runNumber = 2
        rerunCreated.name = "m"
        rerunCreated.modelName = "m"
        rerunCreated.descriptionText = "Re-run of m #1"
        rerunCreated.modelType = .retrieval
        rerunCreated.config = config()
        rerunCreated.createdBy = "alice"
        rerunCreated.rerunOfRunID = "m-1"

        return [
            .init(name: "create without submission: the run is created pending", given: [], when: create(submit: false), then: [created()]),
            .init(
                name: "create with submission: created, then submitted to its executor", given: [], when: create(), then: [created(), submitted()]),
            .init(
                name: "an external run is submitted to the external executor", given: [],
                when: create(settings: settings(executor: "external")),
                then: [created(config(settings(executor: "external"))), submitted(executor: "external")]),
            .init(
                name: "a ranking model trains on an external trainer", given: [],
                when: create(modelType: "ranking", settings: settings(executor: "external"), submit: false),
                then: [
                    {
                        var e = TrainingRunCreated()
                        e.runID = "m-1"; e.runNumber = 1; e.name = "m"; e.modelName = "m"; e.descriptionText = "first"
                        e.modelType = .ranking; e.config = config(settings(executor: "external")); e.createdBy = "alice"
                        return .trainingRunCreated(e)
                    }()
                ]),
            .init(name: "submit a pending run", given: [create(submit: false)], when: .submit(submission), then: [submitted()]),
            .init(
                name: "the local executor starts a submitted run", given: [create()], when: .start(jobID: "local:h:1"), then: [started("local:h:1")]),
            .init(
                name: "an external trainer's first report starts the run", given: [create()],
                when: .reportStage(.init(stage: "examples", status: "started")), then: [started("local"), stageStarted(.examples)]),
            .init(
                name: "a stage completion carries its duration, artifacts and metrics", given: running(),
                when: .reportStage(.init(stage: "stats", durationMs: 1500, artifacts: ["statistics": "/s.json"], metrics: ["rows": 200])),
                then: [stageCompleted(.stats, durationMs: 1500, artifacts: ["statistics": "/s.json"], metrics: ["rows": 200])]),
            .init(
                name: "a repeated stage report decides nothing", given: running() + [.reportStage(.init(stage: "examples"))],
                when: .reportStage(.init(stage: "examples")), then: []),
            .init(
                name: "a stage that completed does not start again", given: running() + [.reportStage(.init(stage: "examples"))],
                when: .reportStage(.init(stage: "examples", status: "started")), then: []),
            .init(name: "an epoch without a total takes the configured epochs", given: running(), when: reportEpoch(1), then: [epoch(1)]),
            .init(name: "an epoch's reported total wins", given: running(), when: reportEpoch(2, total: 8), then: [epoch(2, total: 8)]),
            .init(name: "a repeated epoch decides nothing", given: running() + [reportEpoch(1)], when: reportEpoch(1), then: []),
            .init(
                name: "a blessed run starts registration; auto-deploy off skips deploy", given: running(), when: complete,
                then: [stageStarted(.register), skipped(.deploy, "auto-deploy is disabled"), completed(blessed: true)]),
            .init(
                name: "a run below the threshold is not blessed and registers nothing", given: running(settings(threshold: 0.5)), when: complete,
                then: [
                    skipped(.register, "not blessed: recall_at_100 0.4200 < threshold 0.5"), skipped(.deploy, "auto-deploy is disabled"),
                    completed(config(settings(threshold: 0.5)), blessed: false),
                ]),
            .init(
                name: "auto-registration off: register is skipped even when blessed", given: running(settings(autoRegister: false)), when: complete,
                then: [
                    skipped(.register, "auto-registration is off: push the run to the registry"), skipped(.deploy, "auto-deploy is disabled"),
                    completed(config(settings(autoRegister: false)), blessed: true),
                ]),
            .init(
                name: "auto-deploy on: the deploy stage waits for the registered version", given: running(deploy), when: complete,
                then: [stageStarted(.register), completed(config(deploy), blessed: true)]),
            .init(
                name: "auto-deploy asks for the registered version to be deployed", given: running(deploy) + [complete],
                when: .requestDeploy(registered), then: [stageStarted(.deploy), .trainingRunDeployRequested(deployRequested)]),
            .init(
                name: "deployed: the deploy stage completes with the endpoint", given: running(deploy) + [complete, .requestDeploy(registered)],
                when: .recordDeployment(.deployed(endpoint: "shop", deploymentID: "shop-1", url: "http://127.0.0.1:8081/shop")),
                then: [stageCompleted(.deploy, artifacts: ["endpoint": "http://127.0.0.1:8081/shop"]), .trainingRunDeployed(deployed)]),
            .init(
                name: "a failed deployment fails the deploy stage", given: running(deploy) + [complete, .requestDeploy(registered)],
                when: .recordDeployment(.failed(endpoint: "shop", deploymentID: "shop-1", error: "no capacity")),
                then: [.stageFailed(deployStageFailed), .trainingRunDeployFailed(deployFailed)]),
            .init(
                name: "a late deployment outcome changes nothing",
                given: running(deploy) + [
                    complete, .requestDeploy(registered), .recordDeployment(.deployed(endpoint: "shop", deploymentID: "shop-1", url: "u")),
                ],
                when: .recordDeployment(.failed(endpoint: "shop", deploymentID: "shop-1", error: "late")), then: []),
            .init(
                name: "a failure without a stage names the stage in progress",
                given: running() + [.reportStage(.init(stage: "train", status: "started"))],
                when: .fail(.init(error: "boom", logTail: "tail", durationMs: 5)), then: failed(.train, "boom", logTail: "tail", durationMs: 5)),
            .init(
                name: "a failure before any stage is the compile stage's", given: running(), when: .fail(.init(error: "boom")),
                then: failed(.compile, "boom")),
            .init(
                name: "a reported stage is the failed one", given: running(), when: .fail(.init(stage: "examples", error: "file missing")),
                then: failed(.examples, "file missing")),
            .init(
                name: "cancel a running run, keeping where it was", given: running() + [.reportStage(.init(stage: "train", status: "started"))],
                when: .cancel(reason: "wrong data", by: "bob"), then: [.trainingRunCancelled(cancelled)]),
            .init(
                name: "edit a pending run's settings: the whole new config and the fields given",
                given: [create(submit: false)],
                when: .editConfig(RunSettings(trainingParams: .init(epochs: 5), gpuConfig: .init(gpuCount: 1)), catalog: catalog, by: "bob"),
                then: [.trainingRunConfigEdited(edited)]),
            .init(
                name: "an ended run's settings may change", given: running() + [.cancel(reason: "", by: "t")],
                when: .editConfig(RunSettings(gpuConfig: .init(gpuCount: 1)), catalog: catalog, by: "bob"),
                then: [
                    {
                        var e = TrainingRunConfigEdited()
                        e.runID = "m-1"
                        e.config = config(
                            RunSettings(
                                datasetId: "ds", featureConfigId: "fc", modelConfigId: "mc", trainingParams: .init(epochs: 4),
                                gpuConfig: .init(gpuCount: 1),
                                evaluatorConfig: .init(enabled: true, blessingMetric: "recall_at_100", blessingThreshold: 0.3)))
                        e.updatedFields = ["gpu_config"]
                        e.editedBy = "bob"
                        return .trainingRunConfigEdited(e)
                    }()
                ]),
            .init(
                name: "an edit that gives no field decides nothing", given: [create(submit: false)],
                when: .editConfig(RunSettings(), catalog: catalog, by: "bob"), then: []),
            .init(
                name: "rerun of an ended run: same model and config, numbered anew, submitted", given: [],
                when: .rerun(.init(source: source, number: 2, catalog: catalog, createdBy: "alice", submission: submission)),
                then: [.trainingRunCreated(rerunCreated), .trainingRunSubmitted(rerunSubmitted)]),
        ]
    }

    static var refusals: [TrainingRunDeciderTests.Refusal] {
        let running = running()
        let cancelled = running + [.cancel(reason: "", by: "t")]
        let activeSource = D.RerunSource(id: "m-1", model: "m", number: 1, status: .running, modelType: .retrieval, config: config())
        return [
            .init(name: "a number another creator took", given: [create()], when: create(), kind: .conflict, field: "run_number"),
            .init(name: "a model name that is no name", given: [], when: create(model: "Not A Name"), kind: .invalid, field: "name"),
            .init(name: "an unknown model type", given: [], when: create(modelType: "gan"), kind: .invalid, field: "model_type"),
            .init(
                name: "the built-in trainer trains retrieval models only", given: [], when: create(modelType: "ranking"), kind: .invalid,
                field: "model_type"),
            .init(
                name: "a dataset that does not exist", given: [], when: create(catalog: .init(featureConfigs: ["fc"], modelConfigs: ["mc"])),
                kind: .invalid, field: "dataset_id"),
            .init(
                name: "a model config that does not exist", given: [], when: create(catalog: .init(datasets: ["ds"], featureConfigs: ["fc"])),
                kind: .invalid, field: "model_config_id"),
            .init(
                name: "a setting out of range", given: [],
                when: create(settings: RunSettings(datasetId: "ds", featureConfigId: "fc", modelConfigId: "mc", trainingParams: .init(epochs: 0))),
                kind: .invalid, field: "training_params.epochs"),
            .init(name: "a submitted run is not submitted again", given: [create()], when: .submit(submission), kind: .conflict, field: nil),
            .init(name: "a pending run is not started", given: [create(submit: false)], when: .start(jobID: "j"), kind: .conflict, field: nil),
            .init(name: "a running run is not started again", given: running, when: .start(jobID: "j"), kind: .conflict, field: nil),
            .init(name: "an unknown stage", given: running, when: .reportStage(.init(stage: "bake")), kind: .invalid, field: "stage"),
            .init(
                name: "an unknown stage status", given: running, when: .reportStage(.init(stage: "train", status: "paused")), kind: .invalid,
                field: "status"),
            .init(name: "epoch 0", given: running, when: reportEpoch(0), kind: .invalid, field: "epoch"),
            .init(name: "a loss that is not a number", given: running, when: reportEpoch(1, loss: .nan), kind: .invalid, field: "loss"),
            .init(
                name: "a result without metrics", given: running, when: .complete(.init(metrics: [:], artifactURI: "/b", durationMs: 0)),
                kind: .invalid, field: "metrics"),
            .init(
                name: "a bundle at a relative path", given: running,
                when: .complete(.init(metrics: ["recall_at_100": 0.5], artifactURI: "b", durationMs: 0)),
                kind: .invalid, field: "artifact_uri"),
            .init(
                name: "a bundle that does not load", given: running,
                when: .complete(.init(metrics: ["recall_at_100": 0.5], artifactURI: "/b", durationMs: 0, bundleProblem: "no manifest")),
                kind: .invalid, field: "artifact_uri"),
            .init(name: "a failure that says nothing", given: running, when: .fail(.init(error: "")), kind: .invalid, field: "error"),
            .init(
                name: "a failure in an unknown stage", given: running, when: .fail(.init(stage: "bake", error: "x")), kind: .invalid, field: "stage"),
            .init(
                name: "a cancelled run takes no progress", given: cancelled, when: .reportStage(.init(stage: "train", status: "started")),
                kind: .conflict, field: nil),
            .init(name: "a cancelled run does not fail", given: cancelled, when: .fail(.init(error: "x")), kind: .conflict, field: nil),
            .init(name: "a cancelled run is not cancelled again", given: cancelled, when: .cancel(reason: "", by: "t"), kind: .conflict, field: nil),
            .init(
                name: "a running run's config does not change", given: running,
                when: .editConfig(RunSettings(gpuConfig: .init(gpuCount: 1)), catalog: catalog, by: "t"), kind: .conflict, field: nil),
            .init(
                name: "an edit to a model config that does not exist", given: [create(submit: false)],
                when: .editConfig(RunSettings(modelConfigId: "missing"), catalog: catalog, by: "t"), kind: .invalid, field: "model_config_id"),
            .init(
                name: "a run still running is not rerun", given: [],
                when: .rerun(.init(source: activeSource, number: 2, catalog: catalog, createdBy: "a", submission: submission)), kind: .conflict,
                field: nil),
            .init(
                name: "without auto-deploy nothing is deployed", given: running + [complete],
                when: .requestDeploy(.init(model: "m", number: 1, versionID: "v")), kind: .conflict, field: nil),
            .init(
                name: "a deploying run is not deployed again",
                given: Fixture.running(settings(deploy: true)) + [complete, .requestDeploy(.init(model: "m", number: 1, versionID: "v"))],
                when: .requestDeploy(.init(model: "m", number: 1, versionID: "v")), kind: .conflict, field: nil),
            .init(name: "a run that does not exist", given: [], when: .cancel(reason: "", by: "t"), kind: .notFound, field: nil),
        ]
    }
}

@Suite("blessing")
struct BlessingTests {
    @Test("a model that does not beat popularity is not blessed unless evaluator_config.allow_below_popularity forces it")
    func popularityRule() {
        // The run: a fine Recall@100, but Recall@10 under popularity's.
        let metrics = ["recall_at_100": 0.45, "recall_at_10": 0.048, "popularity_recall_at_10": 0.056]
        let config = Fixture.config()
        #expect(!config.blessing(of: metrics))
        #expect(TrainingRunDecider.blessingNote(config, metrics).contains("popularity baseline's 0.0560"))
        var forced = Fixture.settings()
        forced.evaluatorConfig?.allowBelowPopularity = true
        #expect(Fixture.config(forced).blessing(of: metrics))
        #expect(config.blessing(of: ["recall_at_100": 0.45]), "an external trainer without the baseline is judged on its metric alone")
        var onRecall10 = Fixture.settings(threshold: 0.05)
        onRecall10.evaluatorConfig?.blessingMetric = "recall_at_10"
        #expect(!Fixture.config(onRecall10).blessing(of: ["recall_at_10": 0.048, "recall_at_100": 0.9]), "the threshold is on recall_at_10")
    }
}
