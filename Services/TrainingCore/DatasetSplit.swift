import SlipwayContracts

/// How a dataset is split into train, validation and test; in a definition every field is optional.
public struct DatasetSplit: Codable, Sendable, Equatable {
    public var strategy: String?
    public var holdoutDays: Int?
    public var validationDays: Int?
    public var validationFraction: Double?
    public var testFraction: Double?
    public var seed: Int64?

    public init(
        strategy: String? = nil, holdoutDays: Int? = nil, validationDays: Int? = nil, validationFraction: Double? = nil,
        testFraction: Double? = nil, seed: Int64? = nil
    ) {
        self.strategy = strategy
        self.holdoutDays = holdoutDays
        self.validationDays = validationDays
        self.validationFraction = validationFraction
        self.testFraction = testFraction
        self.seed = seed
    }

    init(_ config: SplitConfig) {
        self.init(
            strategy: config.strategy, holdoutDays: Int(config.holdoutDays), validationDays: Int(config.validationDays),
            validationFraction: config.validationFraction, testFraction: config.testFraction, seed: config.seed)
    }
}
