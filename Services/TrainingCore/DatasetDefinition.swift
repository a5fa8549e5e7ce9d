import Foundation
import RecommenderKit

/// `POST /api/datasets`: files plus how to read them, as the client defines the dataset. The decider
/// checks it and records it (`DatasetRegistered`); a dataset never changes afterwards.
public struct DatasetDefinition: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?
    public var transactions: String
    public var customers: String?
    public var products: String?
    /// csv | tsv | jsonl | auto (by extension)
    public var format: String?
    /// File column → the name the trainer uses: `{"division_desc": "category", "buyer": "customer_id"}`.
    public var columnAliases: [String: String]?
    public var filters: DatasetFilters?
    public var samplePercent: Double?
    public var split: DatasetSplit?
    /// Rows with unusable key columns a file may have (a fraction of its rows) before a run on it fails.
    public var maxBadRowFraction: Double?

    public init(
        name: String, description: String? = nil, transactions: String, customers: String? = nil, products: String? = nil,
        format: String? = nil, columnAliases: [String: String]? = nil, filters: DatasetFilters? = nil, samplePercent: Double? = nil,
        split: DatasetSplit? = nil, maxBadRowFraction: Double? = nil
    ) {
        self.name = name
        self.description = description
        self.transactions = transactions
        self.customers = customers
        self.products = products
        self.format = format
        self.columnAliases = columnAliases
        self.filters = filters
        self.samplePercent = samplePercent
        self.split = split
        self.maxBadRowFraction = maxBadRowFraction
    }

    static let formats = ["auto", "csv", "tsv", "jsonl"]
}
