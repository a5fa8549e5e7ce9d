import Foundation
import SlipwayContracts
import Testing

@testable import MetricsCore

/// The bottom-k sample's promises: uniform by hash, idempotent, mergeable in any split, stored by column.
struct FeatureSampleTests {
    static func row(_ index: Int) -> FeatureRow {
        var row = FeatureRow()
        row.features["basket_value"] = .with { $0.doubleValue = Double(index) + 0.5 }
        row.features["visits"] = .with { $0.int64Value = Int64(index % 7) }
        row.features["city"] = .with { $0.stringValue = "city\(index % 5)" }
        row.features["member"] = .with { $0.boolValue = index % 2 == 0 }
        row.features["tags"] = .with { $0.stringList = .with { $0.values = ["a"] } }
        if index % 3 == 0 { row.features["coupon"] = .with { $0.stringValue = "yes" } }
        return row
    }

    @Test(arguments: [1, 2, 7, 50])
    func mergingAnySplitEqualsOneSampleOfEverything(parts: Int) throws {
        var whole = FeatureSample()
        var pieces = Array(repeating: FeatureSample(), count: parts)
        for index in 0..<1_000 {
            whole.offer(key: "request-\(index)#0", row: Self.row(index))
            pieces[(index * 31) % parts].offer(key: "request-\(index)#0", row: Self.row(index))
        }
        var merged = FeatureSample()
        for piece in pieces.reversed() { merged.merge(piece) }
        #expect(merged == whole)
        #expect(whole.rows.count == FeatureSample.capacity)
        #expect(whole.seen == 1_000)
        #expect(whole.hashes == whole.hashes.sorted())
        // The same instances again change nothing but the population count.
        var again = whole
        for index in 0..<1_000 { again.offer(key: "request-\(index)#0", row: Self.row(index)) }
        #expect(again.hashes == whole.hashes && again.rows == whole.rows)
    }

    @Test func storedByColumnAndReadBack() throws {
        var sample = FeatureSample()
        for index in 0..<30 { sample.offer(key: "r\(index)", row: Self.row(index)) }
        let bytes = try sample.serialized()
        #expect(try FeatureSample(serialized: bytes) == sample)
        var columns = FeatureColumns()
        try columns.append(serialized: bytes)
        #expect(columns.rows == 30)
        #expect(columns.numeric["basket_value"]?.count == 30)
        #expect(columns.numeric["visits"]?.count == 30)
        #expect(columns.categorical["member"]?.sorted().first == "false")
        #expect(columns.categorical["coupon"]?.count == 10)
        #expect(columns.categorical["tags"] == nil && columns.numeric["tags"] == nil, "lists are not sampled")
        #expect(throws: (any Error).self) { try FeatureSample(serialized: Array(bytes.dropLast(3))) }
    }
}
