/// What is kept about a categorical feature's baseline.
///
/// The `maxCategories` most frequent categories keep their own share (ties broken by name, so the choice is
/// deterministic); the rest are folded into `otherShare`. To tell a comparison value from that folded tail apart from
/// a genuinely new category, the tail's names are kept too — but only while there are at most
/// `foldedCategoryNameLimit` of them. For a larger tail (IDs, free text) `foldedCategories` is `nil`: every value outside
/// the top categories is then counted as "other", never as unseen, because it cannot be proven new. A flood of new
/// values still shows up as a jump in the "other" share and hence in PSI.
public struct CategoricalBaseline: Codable, Equatable, Sendable {
    /// The most frequent categories, most frequent first.
    public let categories: [String]
    /// Share of baseline values in each of `categories`.
    public let proportions: [Double]
    /// Share of baseline values in all remaining categories.
    public let otherShare: Double
    /// Sorted names of the folded categories, or `nil` when there were too many to store.
    public let foldedCategories: [String]?
    /// Number of baseline values.
    public let count: Int

    /// Above this many distinct folded categories their names are not stored (bounds the JSON size).
    static let foldedCategoryNameLimit = 10_000

    public init(values: [String], maxCategories: Int = 50) {
        var frequencies: [String: Int] = [:]
        for value in values {
            frequencies[value, default: 0] += 1
        }
        let ranked = frequencies.sorted { lhs, rhs in
            lhs.value != rhs.value ? lhs.value > rhs.value : lhs.key < rhs.key
        }
        let keptCount = min(max(1, maxCategories), ranked.count)
        let kept = ranked.prefix(keptCount)
        let folded = ranked.dropFirst(keptCount)
        let total = Double(values.count)

        self.categories = kept.map(\.key)
        self.proportions = kept.map { total > 0 ? Double($0.value) / total : 0 }
        let foldedTotal = folded.reduce(0) { $0 + $1.value }
        self.otherShare = total > 0 ? Double(foldedTotal) / total : 0
        self.foldedCategories = folded.count <= Self.foldedCategoryNameLimit ? folded.map(\.key).sorted() : nil
        self.count = values.count
    }

    private enum CodingKeys: String, CodingKey {
        case categories, proportions, otherShare, foldedCategories, count
    }

    /// Decodes and validates, so a corrupt stored baseline fails loudly instead of mis-attributing categories.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let categories = try container.decode([String].self, forKey: .categories)
        let proportions = try container.decode([Double].self, forKey: .proportions)
        let otherShare = try container.decode(Double.self, forKey: .otherShare)
        let foldedCategories = try container.decodeIfPresent([String].self, forKey: .foldedCategories)
        let count = try container.decode(Int.self, forKey: .count)

        func reject(_ key: CodingKeys, _ message: String) -> DecodingError {
            DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: message)
        }
        guard count >= 0 else { throw reject(.count, "count must be non-negative") }
        guard Set(categories).count == categories.count else { throw reject(.categories, "categories must be unique") }
        guard proportions.count == categories.count, proportions.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw reject(.proportions, "expected one finite non-negative proportion per category")
        }
        guard otherShare.isFinite, otherShare >= 0 else { throw reject(.otherShare, "otherShare must be finite and non-negative") }
        self.categories = categories
        self.proportions = proportions
        self.otherShare = otherShare
        self.foldedCategories = foldedCategories
        self.count = count
    }
}
