import Foundation
import RecommenderKit
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayTestSupport
import Testing

@testable import TrainingCore

/// Datasets, feature configs and model configs: a definition is checked and recorded once.
@Suite("catalog deciders")
struct CatalogDeciderTests {
    static let dataset = DatasetDefinition(name: "ds", transactions: "/data/t.csv")

    @Test("a dataset is registered with every option filled in")
    func registerDataset() throws {
        let definition = DatasetDefinition(
            name: "ds", description: "d", transactions: "file:///data/t.tsv", products: "/data/p.csv", format: "TSV",
            columnAliases: ["division_desc": "category"], filters: DatasetFilters(startDate: "2024-01-01", topNProducts: 50), samplePercent: 50,
            split: DatasetSplit(strategy: "random", testFraction: 0.2))
        var expected = DatasetRegistered()
        expected.datasetID = "ds"
        expected.name = "ds"
        expected.descriptionText = "d"
        expected.transactionsUri = "/data/t.tsv"
        expected.productsUri = "/data/p.csv"
        expected.sourceUris = ["/data/t.tsv", "/data/p.csv"]
        expected.format = .tsv
        expected.columnAliases = ["category": "division_desc"]
        expected.selection.startDate = "2024-01-01"
        expected.selection.topNProducts = 50
        expected.samplePercent = 50
        let defaults = SplitSpec()
        expected.split.strategy = "random"
        expected.split.holdoutDays = Int32(defaults.holdoutDays)
        expected.split.validationDays = Int32(defaults.validationDays)
        expected.split.validationFraction = defaults.validationFraction
        expected.split.testFraction = 0.2
        expected.split.seed = Int64(defaults.seed)
        expected.maxBadRowFraction = 0.01
        #expect(try decide(DatasetDecider.self, given: [], when: .register(definition)) == [.datasetRegistered(expected)])
    }

    @Test("a dataset's view round-trips into the trainer's spec, aliases inverted")
    func datasetView() throws {
        let definition = DatasetDefinition(
            name: "ds", description: "d", transactions: "file:///data/t.tsv", products: "/data/p.csv", format: "tsv",
            columnAliases: ["division_desc": "category"], filters: DatasetFilters(topNProducts: 50), samplePercent: 50,
            split: DatasetSplit(strategy: "random", testFraction: 0.2), maxBadRowFraction: 0.05)
        guard case .datasetRegistered(let registered)? = try decide(DatasetDecider.self, given: [], when: .register(definition)).first else {
            Issue.record("no DatasetRegistered")
            return
        }
        let view = DatasetView(registered, createdAt: nil)
        #expect(view.format == "tsv" && view.transactions == "/data/t.tsv" && view.columnAliases == ["division_desc": "category"])
        let spec = view.trainerSpec
        #expect(spec.columns == ["category": "division_desc"])
        #expect(spec.filters?.topNProducts == 50)
        #expect(spec.samplePercent == 50)
        #expect(spec.split?.strategy == .random && spec.split?.testFraction == 0.2)
        #expect(view.maxBadRowFraction == 0.05 && spec.maxBadRowFraction == 0.05)
    }

    struct DatasetCase: Sendable, CustomTestStringConvertible {
        let field: String
        let definition: DatasetDefinition
        var testDescription: String { field }
    }

    static var badDatasets: [DatasetCase] {
        func with(_ edit: (inout DatasetDefinition) -> Void) -> DatasetDefinition {
            var definition = dataset
            edit(&definition)
            return definition
        }
        return [
            .init(field: "name", definition: with { $0.name = "Bad Name" }),
            .init(field: "transactions", definition: with { $0.transactions = "relative.csv" }),
            .init(field: "customers", definition: with { $0.customers = "c.csv" }),
            .init(field: "format", definition: with { $0.format = "xlsx" }),
            .init(field: "column_aliases", definition: with { $0.columnAliases = ["a": "x", "b": "x"] }),
            .init(field: "filters.start_date", definition: with { $0.filters = DatasetFilters(startDate: "yesterday") }),
            .init(field: "filters.end_date", definition: with { $0.filters = DatasetFilters(startDate: "2024-05-01", endDate: "2024-01-01") }),
            .init(field: "filters.top_n_products", definition: with { $0.filters = DatasetFilters(topNProducts: 0) }),
            .init(field: "sample_percent", definition: with { $0.samplePercent = 0 }),
            .init(field: "max_bad_row_fraction", definition: with { $0.maxBadRowFraction = 1.5 }),
            .init(field: "split.strategy", definition: with { $0.split = DatasetSplit(strategy: "kfold") }),
            .init(field: "split.test_fraction", definition: with { $0.split = DatasetSplit(testFraction: 0.5) }),
            // The first rule broken is the one answered.
            .init(
                field: "transactions",
                definition: with {
                    $0.transactions = "x.csv"; $0.format = "xlsx"
                }),
        ]
    }

    @Test("a dataset definition that breaks a rule names its field", arguments: badDatasets)
    func badDataset(_ c: DatasetCase) {
        expectRejection(DatasetDecider.self, given: [], when: .register(c.definition), kind: .invalid, field: c.field)
    }

    @Test("a dataset name is taken once; an invalid definition is answered before the name's conflict")
    func duplicateDataset() throws {
        let history = try SlipwayTestSupport.history(DatasetDecider.self, [.register(Self.dataset)])
        expectRejection(DatasetDecider.self, given: history, when: .register(Self.dataset), kind: .conflict, field: "name")
        var invalid = Self.dataset
        invalid.format = "xlsx"
        expectRejection(DatasetDecider.self, given: history, when: .register(invalid), kind: .invalid, field: "format")
    }

    static let features = FeatureConfigDefinition(
        name: "fc", description: "f", query: [RecommenderKit.FeatureSpec(name: "customer_id")],
        candidate: [
            RecommenderKit.FeatureSpec(name: "product_id", embeddingDim: 8),
            RecommenderKit.FeatureSpec(name: "price", type: .float, transform: .bucketize, buckets: 5),
        ])

    @Test("a feature config is created with each tower's features")
    func createFeatureConfig() throws {
        let events = try decide(FeatureConfigDecider.self, given: [], when: .create(Self.features))
        guard case .featureConfigCreated(let created)? = events.first, events.count == 1 else {
            Issue.record("got \(events)")
            return
        }
        #expect(created.featureConfigID == "fc" && created.name == "fc" && created.descriptionText == "f")
        #expect(created.queryFeatures.map(\.name) == ["customer_id"])
        #expect(created.queryFeatures.first?.kind == .categorical && created.queryFeatures.first?.transform == "vocabulary")
        #expect(created.candidateFeatures.map(\.embeddingDim) == [8, 16])
        #expect(created.candidateFeatures.last?.kind == .numeric && created.candidateFeatures.last?.bucketCount == 5)
        #expect(FeatureConfigView(created, createdAt: nil).candidate == Self.features.candidate)
    }

    struct FeatureCase: Sendable, CustomTestStringConvertible {
        let field: String
        let definition: FeatureConfigDefinition
        var testDescription: String { field }
    }

    static var badFeatures: [FeatureCase] {
        let product = RecommenderKit.FeatureSpec(name: "product_id")
        let customer = RecommenderKit.FeatureSpec(name: "customer_id")
        return [
            .init(field: "name", definition: .init(name: "FC", query: [customer], candidate: [product])),
            .init(field: "query", definition: .init(name: "fc", query: [], candidate: [product])),
            .init(field: "candidate", definition: .init(name: "fc", query: [customer], candidate: [RecommenderKit.FeatureSpec(name: "category")])),
            .init(
                field: "query[0].transform",
                definition: .init(name: "fc", query: [.init(name: "c", type: .string, transform: .normalize)], candidate: [product])),
            .init(
                field: "candidate[1].embedding_dim",
                definition: .init(name: "fc", query: [customer], candidate: [product, .init(name: "x", embeddingDim: 0)])),
            .init(field: "query[1].name", definition: .init(name: "fc", query: [customer, customer], candidate: [product])),
        ]
    }

    @Test("a feature config that breaks a rule names its field", arguments: badFeatures)
    func badFeatureConfig(_ c: FeatureCase) {
        expectRejection(FeatureConfigDecider.self, given: [], when: .create(c.definition), kind: .invalid, field: c.field)
    }

    @Test("a model config is created with the defaults filled in")
    func createModelConfig() throws {
        let defaults = ModelConfig()
        var expected = ModelConfigCreated()
        expected.modelConfigID = "mc"
        expected.name = "mc"
        expected.modelType = .retrieval
        expected.queryTowerLayers = [32]
        expected.candidateTowerLayers = defaults.candidateLayers.map { Int32($0) }
        expected.outputEmbeddingDim = 16
        expected.temperature = defaults.temperature
        expected.disableLogQCorrection = true
        expected.algorithm = "auto"
        expected.factors = Int32(defaults.factors)
        expected.iterations = Int32(defaults.iterations)
        let definition = ModelConfigDefinition(name: "mc", queryLayers: [32], outputDim: 16, logQCorrection: false)
        #expect(try decide(ModelConfigDecider.self, given: [], when: .create(definition)) == [.modelConfigCreated(expected)])
        var factorization = expected
        factorization.modelConfigID = "mf"; factorization.name = "mf"
        factorization.algorithm = "matrix_factorization"; factorization.factors = 32; factorization.alpha = 5
        let mf = ModelConfigDefinition(
            name: "mf", queryLayers: [32], outputDim: 16, logQCorrection: false, algorithm: "matrix_factorization", factors: 32, alpha: 5)
        #expect(try decide(ModelConfigDecider.self, given: [], when: .create(mf)) == [.modelConfigCreated(factorization)])
        let view = ModelConfigView(factorization, createdAt: nil)
        #expect(view.algorithm == "matrix_factorization" && view.alpha == 5 && view.regularization == nil)
        let history = try SlipwayTestSupport.history(ModelConfigDecider.self, [.create(definition)])
        expectRejection(ModelConfigDecider.self, given: history, when: .create(definition), kind: .conflict, field: "name")
    }

    @Test(
        "a model config that breaks a rule names its field",
        arguments: [
            ("model_type", ModelConfigDefinition(name: "mc", modelType: "gan")),
            ("query_layers", ModelConfigDefinition(name: "mc", queryLayers: [1, 2, 3, 4, 5])),
            ("candidate_layers", ModelConfigDefinition(name: "mc", candidateLayers: [0])),
            ("output_dim", ModelConfigDefinition(name: "mc", outputDim: 1)),
            ("temperature", ModelConfigDefinition(name: "mc", temperature: 0)),
            ("algorithm", ModelConfigDefinition(name: "mc", algorithm: "svd")),
            ("factors", ModelConfigDefinition(name: "mc", factors: 0)),
            ("iterations", ModelConfigDefinition(name: "mc", iterations: 1000)),
            ("regularization", ModelConfigDefinition(name: "mc", regularization: -1)),
            ("alpha", ModelConfigDefinition(name: "mc", alpha: 0)),
        ])
    func badModelConfig(_ field: String, _ definition: ModelConfigDefinition) {
        expectRejection(ModelConfigDecider.self, given: [], when: .create(definition), kind: .invalid, field: field)
    }
}

/// A run's settings over the defaults or a run's config: every value checked, naming its field.
@Suite("run settings")
struct RunSettingsTests {
    static let ids = RunSettings(datasetId: "ds", featureConfigId: "fc", modelConfigId: "mc")

    static func with(_ edit: (inout RunSettings) -> Void) -> RunSettings {
        var settings = ids
        edit(&settings)
        return settings
    }

    @Test(
        "a setting out of range names its field",
        arguments: [
            ("training_params.epochs", RunSettingsTests.with { $0.trainingParams = .init(epochs: 0) }),
            ("training_params.optimizer", RunSettingsTests.with { $0.trainingParams = .init(optimizer: "lbfgs") }),
            ("training_params.learning_rate", RunSettingsTests.with { $0.trainingParams = .init(learningRate: -1) }),
            ("training_params.batch_size", RunSettingsTests.with { $0.trainingParams = .init(batchSize: 1) }),
            ("gpu_config.gpu_count", RunSettingsTests.with { $0.gpuConfig = .init(gpuCount: 17) }),
            ("evaluator_config.blessing_metric", RunSettingsTests.with { $0.evaluatorConfig = .init(blessingMetric: "auc") }),
            ("evaluator_config.blessing_threshold", RunSettingsTests.with { $0.evaluatorConfig = .init(blessingThreshold: 2) }),
            ("deployment_config.service_name", RunSettingsTests.with { $0.deploymentConfig = .init(enabled: true, serviceName: "Shop_1") }),
            ("deployment_config.preset", RunSettingsTests.with { $0.deploymentConfig = .init(enabled: true, preset: "huge") }),
            ("executor", RunSettingsTests.with { $0.executor = "slurm" }),
            ("dataset_id", RunSettingsTests.with { $0.datasetId = nil }),
        ])
    func outOfRange(_ field: String, _ settings: RunSettings) {
        do {
            _ = try settings.config(over: nil)
            Issue.record("accepted")
        } catch let rejected as CommandRejected {
            #expect(rejected.kind == .invalid && rejected.field == field)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("settings in range apply over the defaults; a run's view is its config again")
    func inRange() throws {
        let settings = Self.with {
            $0.trainingParams = .init(epochs: 3, batchSize: 128, optimizer: "ADAM")
            $0.deploymentConfig = .init(enabled: true, serviceName: "shop", preset: "high-traffic")
            $0.autoRegister = false
        }
        let config = try settings.config(over: nil)
        #expect(config.trainingParams.epochs == 3 && config.trainingParams.batchSize == 128 && config.trainingParams.optimizer == "adam")
        #expect(
            config.deploymentConfig.endpointName == "shop" && config.deploymentConfig.preset == .highTraffic && config.deploymentConfig.customName)
        #expect(config.skipAutoRegister && config.executor == "local" && config.evaluatorConfig.blessingMetric == "recall_at_100")
        // (An empty message may come back present: the same config, as every reader of it sees it.)
        #expect(try RunSettings(config.view).config(over: nil).view == config.view)
        #expect(RunSettings(trainingParams: .init(epochs: 5), executor: "external").givenFields == ["training_params", "executor"])
    }
}
