import Foundation
import SlipwayModelBundle

/// One purchase after loading (indices into the dataset's id tables).
public struct Interaction: Sendable, Equatable {
    public var customer: Int32
    public var product: Int32
    public var revenue: Float
    public var timestamp: Double
    /// Index of the source row in the transactions file's row order (for per-row extra columns); feedback
    /// rows come after the file's rows and have no extra columns.
    public var row: Int32
    /// A user's positive feedback sent to training, not a row of the transactions file.
    public var fromFeedback = false
}

/// Transactions joined with optional customer/product attribute tables.
public struct InteractionDataset: Sendable {
    public var customerIds: [String] = []
    public var productIds: [String] = []
    /// Attribute column → value per customer index (nil = missing).
    public var customerAttributes: [String: [String?]] = [:]
    /// Attribute column → value per product index.
    public var productAttributes: [String: [String?]] = [:]
    /// Extra transaction columns → value per source row.
    public var rowColumns: [String: [String?]] = [:]
    public var interactions: [Interaction] = []
    public var hasTimestamps = true
    /// Counts per load/filter step, for the `examples` stage details.
    public var report: [String: Double] = [:]
    /// Rows each file read left out (transactions first, then the attribute files).
    public var skippedRows: [SkippedRows] = []
    /// File lines of the transactions' rows (by `Interaction.row`) and of the attribute rows (by customer or
    /// product index), so a bad value can be reported with its row.
    public var transactionLines = SourceLines(path: "", lines: [])
    public var customerLines: SourceLines?
    public var productLines: SourceLines?

    public init() {}
}

/// The file line each entry of a table came from (nil: no row, such as a customer without attributes).
public struct SourceLines: Sendable {
    public var path: String
    public var lines: [Int?]

    /// `path:line` of entry `i`, or nil when it has no row.
    public func row(_ i: Int) -> String? {
        guard i < lines.count, let line = lines[i] else { return nil }
        return "\(path):\(line)"
    }
}

public enum DatasetLoader {
    public static let aliases: [String: [String]] = [
        "customer_id": ["customer_id", "customer", "customerid", "buyer_id", "client_id", "cust_id", "user_id", "customer_code", "user", "userid"],
        "product_id": ["product_id", "product", "productid", "item_id", "sku", "article_id", "product_code", "item", "itemid", "movie_id"],
        // Without revenue every interaction weighs 1; an explicit rating serves as the weight.
        "revenue": ["revenue", "amount", "sales", "value", "net_revenue", "total", "price_total", "rating"],
        "timestamp": ["timestamp", "date", "ts", "datetime", "order_date", "transaction_date", "time", "created_at"],
    ]

    static func findColumn(_ canonical: String, in table: RawTable, overrides: [String: String]?, required: Bool) throws(DatasetError) -> Int? {
        if let o = overrides?[canonical] {
            guard let i = table.columnIndex(o) else {
                throw .missingColumn(path: table.path, column: canonical, tried: [o], available: table.columns)
            }
            return i
        }
        let tried = aliases[canonical] ?? [canonical]
        let lower = table.columns.map { $0.lowercased() }
        for a in tried { if let i = lower.firstIndex(of: a) { return i } }
        if required { throw .missingColumn(path: table.path, column: canonical, tried: tried, available: table.columns) }
        return nil
    }

    /// Column aliases for attribute columns: `columns["category"] = "division_desc"` makes the file's
    /// `division_desc` column the feature `category` (the four canonical columns are looked up instead).
    static func renamingAliases(_ table: RawTable, _ overrides: [String: String]?) -> RawTable {
        guard let overrides else { return table }
        var table = table
        for (canonical, column) in overrides where aliases[canonical] == nil {
            if let i = table.columnIndex(column) { table.columns[i] = canonical }
        }
        return table
    }

    static func readTable(_ path: String, _ spec: DatasetSpec, role: String) throws(DatasetError) -> RawTable {
        renamingAliases(try CSV.readTable(URL(fileURLWithPath: path), format: spec.format, role: role), spec.columns)
    }

    /// Loads, joins and filters a dataset as the spec says. A row whose key columns cannot be used is
    /// skipped and counted; a file with more of those than `max_bad_row_fraction` of its rows fails the load.
    public static func load(_ spec: DatasetSpec) throws(DatasetError) -> InteractionDataset {
        let maxBadRowFraction = try spec.validatedMaxBadRowFraction()
        let tx = try readTable(spec.transactions, spec, role: "transactions")
        let ci = try findColumn("customer_id", in: tx, overrides: spec.columns, required: true)!
        let pi = try findColumn("product_id", in: tx, overrides: spec.columns, required: true)!
        let ri = try findColumn("revenue", in: tx, overrides: spec.columns, required: false)
        let ti = try findColumn("timestamp", in: tx, overrides: spec.columns, required: false)
        var ds = InteractionDataset()
        ds.hasTimestamps = ti != nil
        var skipped = SkippedRows(role: "transactions", table: tx)
        ds.report["rows_read"] = Double(skipped.rowsRead)
        ds.transactionLines = SourceLines(path: tx.path, lines: tx.lines)

        var custIndex: [String: Int32] = [:], prodIndex: [String: Int32] = [:]
        var interactions: [Interaction] = []
        interactions.reserveCapacity(tx.rows.count)
        for (r, row) in tx.rows.enumerated() {
            func skip(_ reason: SkippedRows.Reason, _ canonical: String, _ j: Int, expected: String = "") {
                skipped.skip(
                    SkippedRows.Row(line: tx.lines[r], column: canonical, fileColumn: tx.columns[j], value: row[j], reason: reason, detail: expected))
            }
            let c = row[ci].trimmingCharacters(in: .whitespaces), p = row[pi].trimmingCharacters(in: .whitespaces)
            guard !c.isEmpty else { skip(.emptyValue, "customer_id", ci); continue }
            guard !p.isEmpty else { skip(.emptyValue, "product_id", pi); continue }
            var revenue: Float = 1
            if let ri {
                let s = row[ri]
                if !s.isEmpty {
                    guard let v = Double(s.trimmingCharacters(in: .whitespaces)), v.isFinite else {
                        skip(.unparseableValue, "revenue", ri, expected: "a number")
                        continue
                    }
                    revenue = Float(v)
                }
            }
            var ts = 0.0
            if let ti {
                guard !row[ti].trimmingCharacters(in: .whitespaces).isEmpty else { skip(.emptyValue, "timestamp", ti); continue }
                guard let t = Timestamp.parse(row[ti]), t.isFinite else {
                    skip(.unparseableValue, "timestamp", ti, expected: "an ISO-8601 date/time or epoch seconds")
                    continue
                }
                ts = t
            }
            let cIdx: Int32
            if let e = custIndex[c] { cIdx = e } else { cIdx = Int32(ds.customerIds.count); custIndex[c] = cIdx; ds.customerIds.append(c) }
            let pIdx: Int32
            if let e = prodIndex[p] { pIdx = e } else { pIdx = Int32(ds.productIds.count); prodIndex[p] = pIdx; ds.productIds.append(p) }
            interactions.append(Interaction(customer: cIdx, product: pIdx, revenue: revenue, timestamp: ts, row: Int32(r)))
        }
        try record(skipped, in: &ds, maxFraction: maxBadRowFraction)
        if let path = spec.feedback {
            try appendFeedback(path, to: &interactions, &ds, custIndex: &custIndex, prodIndex: &prodIndex, firstRow: tx.rows.count)
        }
        let core = Set([ci, pi, ri, ti].compactMap { $0 })
        let feedbackRows = interactions.count - tx.rows.count
        for (j, name) in tx.columns.enumerated() where !core.contains(j) {
            ds.rowColumns[name] = tx.rows.map { $0[j].isEmpty ? nil : $0[j] } + [String?](repeating: nil, count: feedbackRows)
        }

        /// An attribute file's columns per id, and the line each id's row came from; its skipped rows recorded.
        func attributeFile(_ path: String, role: String, key: String, ids: [String], index: [String: Int32]) throws(DatasetError)
            -> (values: [String: [String?]], lines: SourceLines)
        {
            let t = try readTable(path, spec, role: role)
            var skipped = SkippedRows(role: role, table: t)
            let read = try attributes(t, key: key, ids: ids, index: index, overrides: spec.columns, skipped: &skipped)
            try record(skipped, in: &ds, maxFraction: maxBadRowFraction)
            return read
        }
        if let path = spec.customers {
            let read = try attributeFile(path, role: "customers", key: "customer_id", ids: ds.customerIds, index: custIndex)
            ds.customerAttributes = read.values; ds.customerLines = read.lines
        }
        if let path = spec.products {
            let read = try attributeFile(path, role: "products", key: "product_id", ids: ds.productIds, index: prodIndex)
            ds.productAttributes = read.values; ds.productLines = read.lines
        }
        ds.interactions = interactions
        try applyFilters(&ds, spec)
        return ds
    }

    /// Keeps a file's skipped-row counts for the report and the statistics, or fails when there are too many.
    static func record(_ skipped: SkippedRows, in ds: inout InteractionDataset, maxFraction: Double) throws(DatasetError) {
        try skipped.check(maxFraction: maxFraction)
        ds.skippedRows.append(skipped)
        for (key, count) in skipped.reportEntries { ds.report[key] = count }
    }

    /// Feedback interactions after the file's rows. A row that cannot be read is counted in
    /// `feedback_rows_skipped` and left out: one bad line does not fail a run.
    static func appendFeedback(
        _ path: String, to interactions: inout [Interaction], _ ds: inout InteractionDataset, custIndex: inout [String: Int32],
        prodIndex: inout [String: Int32], firstRow: Int
    ) throws(DatasetError) {
        let table = try CSV.readTable(URL(fileURLWithPath: path), format: "csv", role: "feedback")
        let ci = try findColumn("customer_id", in: table, overrides: nil, required: true)!
        let pi = try findColumn("product_id", in: table, overrides: nil, required: true)!
        let ti = try findColumn("timestamp", in: table, overrides: nil, required: false)
        var added = 0, skipped = table.malformedLines.count
        for row in table.rows {
            let c = row[ci].trimmingCharacters(in: .whitespaces), p = row[pi].trimmingCharacters(in: .whitespaces)
            let ts = ti.map { Timestamp.parse(row[$0]) } ?? 0
            guard !c.isEmpty, !p.isEmpty, let ts else {
                skipped += 1
                continue
            }
            let cIdx: Int32
            if let e = custIndex[c] { cIdx = e } else { cIdx = Int32(ds.customerIds.count); custIndex[c] = cIdx; ds.customerIds.append(c) }
            let pIdx: Int32
            if let e = prodIndex[p] { pIdx = e } else { pIdx = Int32(ds.productIds.count); prodIndex[p] = pIdx; ds.productIds.append(p) }
            interactions.append(
                Interaction(customer: cIdx, product: pIdx, revenue: 1, timestamp: ts, row: Int32(firstRow + added), fromFeedback: true))
            added += 1
        }
        ds.report["feedback_rows"] = Double(added)
        if skipped > 0 { ds.report["feedback_rows_skipped"] = Double(skipped) }
    }

    /// Attribute values per id of `ids`, and the line each id's row came from. A row with an empty key is
    /// skipped; of rows with the same key the first is kept and the others skipped.
    static func attributes(
        _ t: RawTable, key: String, ids: [String], index: [String: Int32],
        overrides: [String: String]?, skipped: inout SkippedRows
    ) throws(DatasetError) -> (values: [String: [String?]], lines: SourceLines) {
        let k = try findColumn(key, in: t, overrides: overrides, required: true)!
        var out: [String: [String?]] = [:]
        for (j, name) in t.columns.enumerated() where j != k { out[name] = [String?](repeating: nil, count: ids.count) }
        var lines = SourceLines(path: t.path, lines: [Int?](repeating: nil, count: ids.count))
        var firstLine: [String: Int] = [:]
        for (r, row) in t.rows.enumerated() {
            let id = row[k].trimmingCharacters(in: .whitespaces)
            func skip(_ reason: SkippedRows.Reason, detail: String = "") {
                skipped.skip(SkippedRows.Row(line: t.lines[r], column: key, fileColumn: t.columns[k], value: id, reason: reason, detail: detail))
            }
            guard !id.isEmpty else { skip(.emptyValue); continue }
            if let first = firstLine[id] { skip(.duplicateKey, detail: "first at line \(first)"); continue }
            firstLine[id] = t.lines[r]
            guard let i = index[id] else { continue }  // attribute rows without transactions are ignored
            lines.lines[Int(i)] = t.lines[r]
            for (j, name) in t.columns.enumerated() where j != k {
                out[name]![Int(i)] = row[j].isEmpty ? nil : row[j]
            }
        }
        return (out, lines)
    }

    static func applyFilters(_ ds: inout InteractionDataset, _ spec: DatasetSpec) throws(DatasetError) {
        var rows = ds.interactions
        if let f = spec.filters {
            if f.startDate != nil || f.endDate != nil {
                guard ds.hasTimestamps else { throw .invalidOption("date filters need a timestamp column") }
                var lo = -Double.infinity, hi = Double.infinity
                if let s = f.startDate {
                    guard let v = Timestamp.parse(s) else { throw .invalidOption("filters.start_date '\(s)' is not a date") }
                    lo = v
                }
                if let s = f.endDate {
                    guard let v = Timestamp.parse(s) else { throw .invalidOption("filters.end_date '\(s)' is not a date") }
                    hi = v
                }
                rows = rows.filter { $0.fromFeedback || ($0.timestamp >= lo && $0.timestamp < hi) }
                ds.report["rows_after_date_filter"] = Double(rows.count)
            }
            if let n = f.topNProducts {
                guard n > 0 else { throw .invalidOption("filters.top_n_products must be > 0") }
                var rev = [Double](repeating: 0, count: ds.productIds.count)
                for r in rows { rev[Int(r.product)] += Double(r.revenue) }
                let keep = Set(rev.indices.sorted { rev[$0] > rev[$1] || (rev[$0] == rev[$1] && $0 < $1) }.prefix(n))
                rows = rows.filter { keep.contains(Int($0.product)) }
                ds.report["rows_after_top_n_products"] = Double(rows.count)
            }
            if let m = f.minInteractionsPerCustomer, m > 1 {
                var cnt = [Int](repeating: 0, count: ds.customerIds.count)
                for r in rows { cnt[Int(r.customer)] += 1 }
                rows = rows.filter { cnt[Int($0.customer)] >= m }
                ds.report["rows_after_min_interactions"] = Double(rows.count)
            }
        }
        if let pct = spec.samplePercent, pct < 100 {
            guard pct > 0 else { throw .invalidOption("sample_percent must be in (0, 100]") }
            var rng = SeededRandom(seed: (spec.split?.seed ?? 7) &+ 0x5A17)
            rows = rows.filter { $0.fromFeedback || rng.uniform() * 100 < pct }
            ds.report["rows_after_sampling"] = Double(rows.count)
        }
        guard !rows.isEmpty else { throw .empty("no transactions left after filters and sampling") }
        // Re-index customers/products to those still present (candidates = products in the data).
        var cMap = [Int32](repeating: -1, count: ds.customerIds.count), pMap = [Int32](repeating: -1, count: ds.productIds.count)
        var cIds: [String] = [], pIds: [String] = []
        for i in rows.indices {
            let c = Int(rows[i].customer), p = Int(rows[i].product)
            if cMap[c] < 0 { cMap[c] = Int32(cIds.count); cIds.append(ds.customerIds[c]) }
            if pMap[p] < 0 { pMap[p] = Int32(pIds.count); pIds.append(ds.productIds[p]) }
            rows[i].customer = cMap[c]; rows[i].product = pMap[p]
        }
        func remap(_ attrs: [String: [String?]], _ map: [Int32], _ n: Int) -> [String: [String?]] {
            attrs.mapValues { vals in
                var out = [String?](repeating: nil, count: n)
                for (old, new) in map.enumerated() where new >= 0 { out[Int(new)] = vals[old] }
                return out
            }
        }
        func remapLines(_ source: SourceLines?, _ map: [Int32], _ n: Int) -> SourceLines? {
            source.map { source in
                var out = SourceLines(path: source.path, lines: [Int?](repeating: nil, count: n))
                for (old, new) in map.enumerated() where new >= 0 { out.lines[Int(new)] = source.lines[old] }
                return out
            }
        }
        ds.customerAttributes = remap(ds.customerAttributes, cMap, cIds.count)
        ds.productAttributes = remap(ds.productAttributes, pMap, pIds.count)
        ds.customerLines = remapLines(ds.customerLines, cMap, cIds.count)
        ds.productLines = remapLines(ds.productLines, pMap, pIds.count)
        ds.customerIds = cIds; ds.productIds = pIds
        ds.interactions = rows
        ds.report["rows"] = Double(rows.count)
        if spec.feedback != nil { ds.report["feedback_rows_used"] = Double(rows.count { $0.fromFeedback }) }
        ds.report["customers"] = Double(cIds.count)
        ds.report["products"] = Double(pIds.count)
    }
}

/// Row indices (into `InteractionDataset.interactions`) of each split.
public struct DatasetSplit: Sendable, Equatable {
    public var train: [Int]
    public var validation: [Int]
    public var test: [Int]
    public var strategy: SplitStrategy = .random

    public init(train: [Int], validation: [Int], test: [Int], strategy: SplitStrategy = .random) {
        self.train = train; self.validation = validation; self.test = test; self.strategy = strategy
    }

    /// Everything before the test: what a model may learn from once its settings are chosen.
    public var history: [Int] { (train + validation).sorted() }
}

public enum Splitter {
    public static func split(_ ds: InteractionDataset, _ spec: SplitSpec) throws(DatasetError) -> DatasetSplit {
        // Feedback rows train; the split itself is over the file's rows, so feedback never shifts the holdout.
        let feedback = ds.interactions.indices.filter { ds.interactions[$0].fromFeedback }
        let fileRows = feedback.isEmpty ? Array(ds.interactions.indices) : ds.interactions.indices.filter { !ds.interactions[$0].fromFeedback }
        let n = fileRows.count
        var rng = SeededRandom(seed: spec.seed)
        func shuffled(_ a: [Int]) -> [Int] {
            var a = a
            for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, rng.int(i + 1)) }
            return a
        }
        var out: DatasetSplit
        switch spec.strategy {
        case .perCustomerTemporal:
            guard spec.testFraction > 0, spec.testFraction < 1, spec.validationFraction >= 0, spec.validationFraction < 1 else {
                throw .invalidOption("split: test_fraction must be in (0, 1) and validation_fraction in [0, 1)")
            }
            out = perCustomerTemporal(ds, rows: fileRows, testFraction: spec.testFraction, validationFraction: spec.validationFraction)
        case .random:
            guard spec.testFraction > 0, spec.validationFraction >= 0, spec.testFraction + spec.validationFraction < 1 else {
                throw .invalidOption("split: test_fraction + validation_fraction must be < 1 and test_fraction > 0")
            }
            let idx = shuffled(fileRows)
            let nt = Int((Double(n) * spec.testFraction).rounded()), nv = Int((Double(n) * spec.validationFraction).rounded())
            out = DatasetSplit(train: Array(idx[(nt + nv)...]), validation: Array(idx[nt..<(nt + nv)]), test: Array(idx[..<nt]))
        case .timeHoldout, .strictTemporal:
            guard ds.hasTimestamps else { throw .invalidOption("split strategy \(spec.strategy.rawValue) needs a timestamp column") }
            guard spec.holdoutDays > 0 else { throw .invalidOption("split.holdout_days must be > 0") }
            let maxTs = fileRows.map { ds.interactions[$0].timestamp }.max() ?? 0
            let testStart = maxTs - Double(spec.holdoutDays) * 86400
            var before: [Int] = [], test: [Int] = []
            for i in fileRows { if ds.interactions[i].timestamp > testStart { test.append(i) } else { before.append(i) } }
            if spec.strategy == .timeHoldout {
                let sh = shuffled(before)
                let nv = Int((Double(sh.count) * spec.validationFraction).rounded())
                out = DatasetSplit(train: Array(sh[nv...]).sorted(), validation: Array(sh[..<nv]).sorted(), test: test)
            } else {
                guard spec.validationDays > 0 else { throw .invalidOption("split.validation_days must be > 0") }
                let valStart = testStart - Double(spec.validationDays) * 86400
                out = DatasetSplit(
                    train: before.filter { ds.interactions[$0].timestamp <= valStart },
                    validation: before.filter { ds.interactions[$0].timestamp > valStart }, test: test)
            }
        }
        if !feedback.isEmpty { out.train = (out.train + feedback).sorted() }
        out.strategy = spec.strategy
        guard !out.train.isEmpty else { throw .empty("split \(spec.strategy.rawValue) produced an empty train set") }
        guard !out.test.isEmpty else { throw .empty("split \(spec.strategy.rawValue) produced an empty test set") }
        return out
    }
}

extension Splitter {
    /// Per customer, rows by time (then file order): the last `round(n × testFraction)` are test (at least one when
    /// the customer has two or more), the last `round(m × validationFraction)` of the remaining m validation (at
    /// least one when m ≥ 2 and the fraction is positive). A customer with one interaction only trains.
    static func perCustomerTemporal(_ ds: InteractionDataset, rows: [Int], testFraction: Double, validationFraction: Double)
        -> DatasetSplit
    {
        var byCustomer = [[Int]](repeating: [], count: ds.customerIds.count)
        for r in rows { byCustomer[Int(ds.interactions[r].customer)].append(r) }
        var out = DatasetSplit(train: [], validation: [], test: [])
        for var own in byCustomer where !own.isEmpty {
            own.sort { (ds.interactions[$0].timestamp, $0) < (ds.interactions[$1].timestamp, $1) }
            let n = own.count
            let nt = n < 2 ? 0 : min(n - 1, max(1, Int((Double(n) * testFraction).rounded())))
            let m = n - nt
            let nv = m < 2 || validationFraction == 0 ? 0 : min(m - 1, max(1, Int((Double(m) * validationFraction).rounded())))
            out.train += own[..<(m - nv)]
            out.validation += own[(m - nv)..<m]
            out.test += own[m...]
        }
        out.train.sort(); out.validation.sort(); out.test.sort()
        return out
    }
}
