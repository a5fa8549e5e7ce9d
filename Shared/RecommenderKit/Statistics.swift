import Foundation
import SlipwayModelBundle

/// Data statistics and inferred schema over the joined examples ("Data Insights").
public enum DataStatistics {
    struct Column { var name: String; var source: String; var value: (Int) -> String? }

    static func columns(_ ds: InteractionDataset) -> [Column] {
        var cols: [Column] = [
            Column(name: "customer_id", source: "transactions") { ds.customerIds[Int(ds.interactions[$0].customer)] },
            Column(name: "product_id", source: "transactions") { ds.productIds[Int(ds.interactions[$0].product)] },
            Column(name: "revenue", source: "transactions") { String(ds.interactions[$0].revenue) },
        ]
        if ds.hasTimestamps {
            cols.append(Column(name: "timestamp", source: "transactions") { String(ds.interactions[$0].timestamp) })
        }
        for k in ds.rowColumns.keys.sorted() {
            let v = ds.rowColumns[k]!
            cols.append(Column(name: k, source: "transactions") { v[Int(ds.interactions[$0].row)] })
        }
        for k in ds.customerAttributes.keys.sorted() {
            let v = ds.customerAttributes[k]!
            cols.append(Column(name: k, source: "customers") { v[Int(ds.interactions[$0].customer)] })
        }
        for k in ds.productAttributes.keys.sorted() {
            let v = ds.productAttributes[k]!
            cols.append(Column(name: k, source: "products") { v[Int(ds.interactions[$0].product)] })
        }
        return cols
    }

    /// `statistics` event body + `schema` event body.
    public static func compute(_ ds: InteractionDataset, split: DatasetSplit) -> (statistics: JSONValue, schema: JSONValue) {
        let n = ds.interactions.count
        var features: [JSONValue] = []
        var schema: [JSONValue] = []
        var numericCount = 0, categoricalCount = 0
        for col in columns(ds) {
            var missing = 0
            var nums: [Double] = []
            var allNumeric = true, allInt = true
            var counts: [String: Int] = [:]
            nums.reserveCapacity(n)
            for i in 0..<n {
                guard let s = col.value(i), !s.isEmpty else { missing += 1; continue }
                if allNumeric {
                    if let d = Double(s), d.isFinite {
                        nums.append(d); if d != d.rounded() { allInt = false }
                    } else {
                        allNumeric = false; allInt = false
                    }
                }
                if !allNumeric || counts.count <= 50_000 { counts[s, default: 0] += 1 }
            }
            let present = n - missing
            let isTimestamp = col.name == "timestamp" && ds.hasTimestamps
            let isId = col.name == "customer_id" || col.name == "product_id"
            var kv: [(String, JSONValue)] = [
                ("name", .string(col.name)), ("source", .string(col.source)),
                ("count", .int(present)), ("missing_pct", .num(n > 0 ? 100 * Double(missing) / Double(n) : 0)),
            ]
            let type: String
            if allNumeric && present > 0 && !isId {
                numericCount += 1
                type = isTimestamp ? "timestamp" : (allInt ? "int" : "float")
                nums.sort()
                let mean = nums.reduce(0, +) / Double(nums.count)
                let variance = nums.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(nums.count)
                let zeros = nums.filter { $0 == 0 }.count
                let lo = nums.first!, hi = nums.last!
                let bins = 10
                var hist = [Int](repeating: 0, count: bins)
                for x in nums { hist[hi > lo ? min(bins - 1, Int((x - lo) / (hi - lo) * Double(bins))) : 0] += 1 }
                kv += [
                    ("type", .string("numeric")), ("mean", .num(mean)), ("std", .num(variance.squareRoot())),
                    ("zeros_pct", .num(100 * Double(zeros) / Double(nums.count))), ("min", .num(lo)),
                    ("median", .num(nums[nums.count / 2])), ("max", .num(hi)),
                    (
                        "histogram",
                        .object([
                            ("min", .num(lo)), ("max", .num(hi)),
                            ("counts", .array(hist.map { .int($0) })),
                        ])
                    ),
                ]
                if isTimestamp {
                    kv += [("min_date", .string(Timestamp.format(lo))), ("max_date", .string(Timestamp.format(hi)))]
                }
            } else {
                categoricalCount += 1
                type = "string"
                let top = counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(10)
                kv += [
                    ("type", .string("categorical")), ("unique", .int(counts.count)),
                    ("top_values", .array(top.map { .object([("value", .string($0.key)), ("count", .int($0.value))]) })),
                ]
            }
            features.append(.object(kv))
            var skv: [(String, JSONValue)] = [
                ("name", .string(col.name)), ("type", .string(type)),
                ("presence", .num(n > 0 ? Double(present) / Double(n) : 0)),
                ("source", .string(col.source)),
            ]
            if type == "string" { skv.append(("domain_size", .int(counts.count))) }
            schema.append(.object(skv))
        }
        let stats: JSONValue = .object([
            ("num_examples", .int(n)),
            // Users' positive ratings sent to training (`POST /api/v1/feedback/{id}/to-training`), among the examples.
            ("feedback_rows", .int(ds.interactions.count { $0.fromFeedback })),
            (
                "splits",
                .object([("train", .int(split.train.count)), ("validation", .int(split.validation.count)), ("test", .int(split.test.count))])
            ),
            ("numeric_columns", .int(numericCount)), ("categorical_columns", .int(categoricalCount)),
            ("features", .array(features)),
        ])
        return (stats, .object([("features", .array(schema))]))
    }
}
