import Foundation
import SlipwayModelBundle

/// Data statistics and inferred schema over the joined examples ("Data Insights").
public enum DataStatistics {
    struct Column {
        var name: String
        var source: String
        var value: (Int) -> String?
        /// The file row (`path:line`) of an example's value, for attribute and extra transaction columns.
        var row: (Int) -> String? = { _ in nil }
    }

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
            cols.append(
                Column(
                    name: k, source: "transactions", value: { v[Int(ds.interactions[$0].row)] },
                    row: { ds.transactionLines.row(Int(ds.interactions[$0].row)) }))
        }
        for k in ds.customerAttributes.keys.sorted() {
            let v = ds.customerAttributes[k]!
            cols.append(
                Column(
                    name: k, source: "customers", value: { v[Int(ds.interactions[$0].customer)] },
                    row: { ds.customerLines?.row(Int(ds.interactions[$0].customer)) }))
        }
        for k in ds.productAttributes.keys.sorted() {
            let v = ds.productAttributes[k]!
            cols.append(
                Column(
                    name: k, source: "products", value: { v[Int(ds.interactions[$0].product)] },
                    row: { ds.productLines?.row(Int(ds.interactions[$0].product)) }))
        }
        return cols
    }

    /// The type the feature config gives each column it reads, keyed `source/name` as `columns` names them.
    static func declaredTypes(_ features: FeatureConfig, _ ds: InteractionDataset) -> [String: RawFeatureType] {
        var types: [String: RawFeatureType] = [:]
        for (side, specs) in [("query", features.query), ("candidate", features.candidate)] {
            for spec in specs {
                // A feature that is not a column fails the transform stage with the columns there are.
                guard let source = try? FeaturePipeline.source(spec, side: side, ds: ds) else { continue }
                let file: String
                switch source {
                case .customerAttribute: file = "customers"
                case .productAttribute: file = "products"
                case .rowColumn, .productPivot: file = "transactions"
                case .customerId, .productId, .timestamp, .revenue: continue  // the loader parsed these
                }
                if types["\(file)/\(spec.name)"] == nil { types["\(file)/\(spec.name)"] = spec.type }
            }
        }
        return types
    }

    /// The stats stage's details on unparseable values, from the schema's anomalies:
    /// `unparseable_rows.<source>.<feature>` → rows, for the run's stage view and the CLI.
    public static func unparseableRowCounts(schema: JSONValue) -> [(String, JSONValue)] {
        guard case .array(let anomalies)? = schema["anomalies"] else { return [] }
        return anomalies.compactMap { anomaly in
            guard anomaly["kind"]?.stringValue == "unparseable_values", let source = anomaly["source"]?.stringValue,
                let feature = anomaly["feature"]?.stringValue, let count = anomaly["count"]
            else { return nil }
            return ("unparseable_rows.\(source).\(feature)", count)
        }
    }

    /// `statistics` event body + `schema` event body. A value that does not parse as the type `features`
    /// gives its column counts as missing (the transform stage encodes it so) and is reported as unparseable.
    public static func compute(
        _ ds: InteractionDataset, split: DatasetSplit, features featureConfig: FeatureConfig
    ) -> (statistics: JSONValue, schema: JSONValue) {
        let n = ds.interactions.count
        let types = declaredTypes(featureConfig, ds)
        var features: [JSONValue] = []
        var schema: [JSONValue] = []
        var anomalies: [JSONValue] = []
        var numericCount = 0, categoricalCount = 0
        for col in columns(ds) {
            let declaredType = types["\(col.source)/\(col.name)"]
            var missing = 0
            var unparseableExamples = 0
            var unparseableRows = Set<String>()
            var firstUnparseable: (value: String, row: String?)?
            var nums: [Double] = []
            var allNumeric = true, allInt = true
            var counts: [String: Int] = [:]
            nums.reserveCapacity(n)
            for i in 0..<n {
                guard let s = col.value(i), !s.isEmpty else { missing += 1; continue }
                if let declaredType, FeaturePipeline.parse(s, as: declaredType) == nil {
                    missing += 1
                    unparseableExamples += 1
                    let row = col.row(i)
                    if let row { unparseableRows.insert(row) }
                    if firstUnparseable == nil { firstUnparseable = (s, row) }
                    continue
                }
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
            if let firstUnparseable {
                let first: JSONValue = .object([
                    ("value", .string(firstUnparseable.value)), ("row", firstUnparseable.row.map(JSONValue.string) ?? .null),
                ])
                kv += [
                    ("unparseable_examples", .int(unparseableExamples)), ("unparseable_rows", .int(unparseableRows.count)),
                    ("first_unparseable", first),
                ]
                anomalies.append(
                    .object([
                        ("feature", .string(col.name)), ("source", .string(col.source)), ("kind", .string("unparseable_values")),
                        ("expected_type", .string(declaredType?.rawValue ?? "")), ("count", .int(unparseableRows.count)),
                        ("examples", .int(unparseableExamples)), ("example_value", .string(firstUnparseable.value)),
                        ("example_row", firstUnparseable.row.map(JSONValue.string) ?? .null),
                    ]))
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
            // Rows each file read left out as unusable, by reason and column (none of them is an example).
            ("skipped_rows", .array(ds.skippedRows.map(\.json))),
            ("features", .array(features)),
        ])
        for skipped in ds.skippedRows {
            guard let first = skipped.first else { continue }
            anomalies.append(
                .object([
                    ("file", .string(skipped.role)), ("kind", .string("skipped_rows")), ("count", .int(skipped.total)),
                    ("example_value", .string(first.value)), ("example_row", .string("\(skipped.path):\(first.line)")),
                    ("reason", .string(first.explanation)),
                ]))
        }
        return (stats, .object([("features", .array(schema)), ("anomalies", .array(anomalies))]))
    }
}
