import Foundation
import RecommenderKit
import SlipwayContracts

/// A dataset as the API shows it and the executor reads it: every option filled in.
public struct DatasetView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String
    public var transactions: String
    public var customers: String?
    public var products: String?
    public var format: String
    public var columnAliases: [String: String]
    public var filters: DatasetFilters
    public var samplePercent: Double
    public var split: DatasetSplit
    /// nil only in read-model rows written before it existed: the trainer's default applies.
    public var maxBadRowFraction: Double?
    public var createdAt: Date?

    init(_ registered: DatasetRegistered, createdAt: Date?) {
        var aliases: [String: String] = [:]
        for (canonical, column) in registered.columnAliases { aliases[column] = canonical }
        let selection = registered.selection
        id = registered.datasetID
        name = registered.name
        description = registered.descriptionText
        transactions = registered.transactionsUri
        customers = registered.customersUri.isEmpty ? nil : registered.customersUri
        products = registered.productsUri.isEmpty ? nil : registered.productsUri
        format = DatasetDecider.formatCases.first { $0.value == registered.format }?.key ?? "auto"
        columnAliases = aliases
        filters = DatasetFilters(
            startDate: selection.startDate.isEmpty ? nil : selection.startDate,
            endDate: selection.endDate.isEmpty ? nil : selection.endDate,
            topNProducts: selection.topNProducts > 0 ? Int(selection.topNProducts) : nil,
            minInteractionsPerCustomer: selection.minInteractionsPerCustomer > 0 ? Int(selection.minInteractionsPerCustomer) : nil)
        samplePercent = registered.samplePercent
        split = DatasetSplit(registered.split)
        maxBadRowFraction = registered.hasMaxBadRowFraction ? registered.maxBadRowFraction : DatasetSpec.defaultMaxBadRowFraction
        self.createdAt = createdAt
    }

    /// The trainer's dataset spec (its `columns` map goes canonical name → file column).
    public var trainerSpec: DatasetSpec {
        var columns: [String: String] = [:]
        for (column, canonical) in columnAliases { columns[canonical] = column }
        var splitSpec = SplitSpec(strategy: SplitStrategy(rawValue: split.strategy ?? "") ?? SplitSpec().strategy)
        if let v = split.holdoutDays { splitSpec.holdoutDays = v }
        if let v = split.validationDays { splitSpec.validationDays = v }
        if let v = split.validationFraction { splitSpec.validationFraction = v }
        if let v = split.testFraction { splitSpec.testFraction = v }
        if let v = split.seed { splitSpec.seed = UInt64(bitPattern: v) }
        return DatasetSpec(
            id: id, transactions: transactions, customers: customers, products: products, format: format,
            columns: columns.isEmpty ? nil : columns, filters: filters, samplePercent: samplePercent >= 100 ? nil : samplePercent, split: splitSpec,
            maxBadRowFraction: maxBadRowFraction)
    }
}
