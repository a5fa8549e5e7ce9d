import Foundation
import RecommenderKit
import SlipwayContracts
import SlipwayEventSourcing
import SlipwayModelBundle

/// A dataset, identified by its name: registered once and never changed, so a run that used it can
/// always be rerun as it was.
public enum DatasetDecider: Decider {
    public static let aggregateType = "Dataset"
    /// Whether the dataset exists.
    public static let initial = false

    public enum Command: Sendable, Equatable {
        case register(DatasetDefinition)
    }

    public static func decide(_ command: Command, _ exists: Bool) throws -> [TrainingEvent] {
        switch command {
        case .register(let definition):
            let registered = try registered(definition)
            guard !exists else { throw CommandRejected(.conflict, field: "name", "a dataset with this name already exists") }
            return [.datasetRegistered(registered)]
        }
    }

    public static func evolve(_ exists: Bool, _ event: TrainingEvent) -> Bool {
        switch event {
        case .datasetRegistered: true
        case .featureConfigCreated, .modelConfigCreated, .trainingRunCreated, .trainingRunSubmitted, .trainingRunStarted,
            .trainingRunConfigEdited, .stageStarted, .stageCompleted, .stageSkipped, .stageFailed, .epochCompleted, .trainingRunCompleted,
            .trainingRunFailed, .trainingRunCancelled, .trainingRunDeployRequested, .trainingRunDeployed, .trainingRunDeployFailed:
            exists  // not a dataset's
        }
    }

    static let formatCases: [String: DatasetFormat] = ["csv": .csv, "tsv": .tsv, "jsonl": .jsonl]

    /// Every rule of a definition, in the order a client sees them (the first broken one is answered).
    static func registered(_ definition: DatasetDefinition) throws -> DatasetRegistered {
        try TrainingNames.validate(definition.name, field: "name")
        var event = DatasetRegistered()
        event.datasetID = definition.name
        event.name = definition.name
        event.descriptionText = definition.description ?? ""
        func path(_ value: String?, _ field: String) throws -> String {
            guard let value else { return "" }
            let trimmed = value.hasPrefix("file://") ? String(value.dropFirst(7)) : value
            guard trimmed.hasPrefix("/") else { throw CommandRejected.invalid(field, "\(field) must be an absolute path or a file:// URI") }
            return trimmed
        }
        event.transactionsUri = try path(definition.transactions, "transactions")
        guard !event.transactionsUri.isEmpty else { throw CommandRejected.invalid("transactions", "transactions must name a file") }
        event.customersUri = try path(definition.customers, "customers")
        event.productsUri = try path(definition.products, "products")
        event.sourceUris = [event.transactionsUri, event.customersUri, event.productsUri].filter { !$0.isEmpty }
        let format = (definition.format ?? "auto").lowercased()
        guard DatasetDefinition.formats.contains(format) else {
            throw CommandRejected.invalid("format", "format must be one of \(DatasetDefinition.formats.joined(separator: ", "))")
        }
        event.format = formatCases[format] ?? .unspecified
        event.columnAliases = [:]
        for (column, canonical) in definition.columnAliases ?? [:] {
            guard !column.isEmpty, !canonical.isEmpty else {
                throw CommandRejected.invalid("column_aliases", "column_aliases keys and values must not be empty")
            }
            guard event.columnAliases[canonical] == nil else {
                throw CommandRejected.invalid("column_aliases", "two columns are aliased to '\(canonical)'")
            }
            event.columnAliases[canonical] = column
        }
        var selection = DatasetSelection()
        if let f = definition.filters {
            for (value, field) in [(f.startDate, "filters.start_date"), (f.endDate, "filters.end_date")] {
                if let value, Timestamp.parse(value) == nil {
                    throw CommandRejected.invalid(field, "\(field) '\(value)' is not a date (YYYY-MM-DD or ISO-8601)")
                }
            }
            if let s = f.startDate, let e = f.endDate, let a = Timestamp.parse(s), let b = Timestamp.parse(e), a >= b {
                throw CommandRejected.invalid("filters.end_date", "filters.end_date must be after filters.start_date")
            }
            if let n = f.topNProducts, n < 1 { throw CommandRejected.invalid("filters.top_n_products", "filters.top_n_products must be at least 1") }
            if let n = f.minInteractionsPerCustomer, n < 1 {
                throw CommandRejected.invalid(
                    "filters.min_interactions_per_customer", "filters.min_interactions_per_customer must be at least 1")
            }
            selection.startDate = f.startDate ?? ""
            selection.endDate = f.endDate ?? ""
            selection.topNProducts = Int32(clamping: f.topNProducts ?? 0)
            selection.minInteractionsPerCustomer = Int32(clamping: f.minInteractionsPerCustomer ?? 0)
        }
        event.selection = selection
        if let p = definition.samplePercent, !(p > 0 && p <= 100) {
            throw CommandRejected.invalid("sample_percent", "sample_percent must be in (0, 100]")
        }
        event.samplePercent = definition.samplePercent ?? 100
        event.split = try splitConfig(definition.split ?? DatasetSplit())
        let fraction = definition.maxBadRowFraction ?? DatasetSpec.defaultMaxBadRowFraction
        guard (0...1).contains(fraction) else {
            throw CommandRejected.invalid("max_bad_row_fraction", "max_bad_row_fraction must be in [0, 1]")
        }
        event.maxBadRowFraction = fraction
        return event
    }

    static func splitConfig(_ split: DatasetSplit) throws -> SplitConfig {
        var config = SplitConfig()
        let strategy = split.strategy ?? SplitSpec().strategy.rawValue
        guard SplitStrategy(rawValue: strategy) != nil else {
            throw CommandRejected.invalid(
                "split.strategy", "split.strategy must be one of \(SplitStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        config.strategy = strategy
        let defaults = SplitSpec()
        config.holdoutDays = Int32(clamping: split.holdoutDays ?? defaults.holdoutDays)
        config.validationDays = Int32(clamping: split.validationDays ?? defaults.validationDays)
        config.validationFraction = split.validationFraction ?? defaults.validationFraction
        config.testFraction = split.testFraction ?? defaults.testFraction
        config.seed = split.seed ?? Int64(defaults.seed)
        guard config.holdoutDays >= 1 else { throw CommandRejected.invalid("split.holdout_days", "split.holdout_days must be at least 1") }
        guard config.validationDays >= 1 else {
            throw CommandRejected.invalid("split.validation_days", "split.validation_days must be at least 1")
        }
        guard (0..<0.5).contains(config.validationFraction) else {
            throw CommandRejected.invalid("split.validation_fraction", "split.validation_fraction must be in [0, 0.5)")
        }
        guard config.testFraction > 0 && config.testFraction < 0.5 else {
            throw CommandRejected.invalid("split.test_fraction", "split.test_fraction must be in (0, 0.5)")
        }
        return config
    }
}
