import Foundation

/// Rows of one input file that the loader left out, by reason and column. Real files carry a few broken
/// lines; a run goes on while they stay within `max_bad_row_fraction` of the rows read, and past it the
/// error names the first one and the counts.
public struct SkippedRows: Sendable, Equatable {
    public enum Reason: String, Sendable {
        /// Not a row at all: another field count than the header, broken quotes, not a JSON object.
        case malformedLine = "malformed_line"
        case emptyValue = "empty_value"
        case unparseableValue = "unparseable_value"
        case duplicateKey = "duplicate_key"
    }

    /// One skipped row, with what a message needs to point at it.
    public struct Row: Sendable, Equatable {
        public var line: Int
        /// The canonical column (`customer_id`, `timestamp`, …); nil for a malformed line.
        public var column: String?
        /// The same column as the file names it.
        public var fileColumn: String?
        /// The offending value (for a malformed line, the line itself).
        public var value: String
        public var reason: Reason
        /// What the value should have been, or what the reader found wrong with the line.
        public var detail: String

        public var explanation: String {
            let columnName = fileColumn.map { name in name == column ? "column '\(name)'" : "column '\(name)' (\(column ?? name))" } ?? ""
            switch reason {
            case .malformedLine: return "\(detail): '\(value)'"
            case .emptyValue: return "\(columnName) is empty"
            case .unparseableValue: return "\(columnName): '\(value)' is not \(detail)"
            case .duplicateKey: return "\(columnName): duplicate '\(value)' (\(detail))"
            }
        }
    }

    public struct Count: Sendable, Equatable {
        public var reason: Reason
        public var column: String?
        public var count: Int
    }

    /// `transactions`, `customers` or `products`.
    public let role: String
    public let path: String
    /// Data rows in the file, good and bad.
    public let rowsRead: Int
    public private(set) var counts: [Count] = []
    /// The skipped row with the lowest line number.
    public private(set) var first: Row?

    /// Starts the count for a table, with the lines its reader could not split into a row.
    init(role: String, table: RawTable) {
        self.role = role
        path = table.path
        rowsRead = table.rows.count + table.malformedLines.count
        for line in table.malformedLines {
            skip(Row(line: line.line, column: nil, fileColumn: nil, value: line.text, reason: .malformedLine, detail: line.reason))
        }
    }

    public var total: Int { counts.reduce(0) { $0 + $1.count } }

    mutating func skip(_ row: Row) {
        if first.map({ row.line < $0.line }) ?? true { first = row }
        if let i = counts.firstIndex(where: { $0.reason == row.reason && $0.column == row.column }) {
            counts[i].count += 1
        } else {
            counts.append(Count(reason: row.reason, column: row.column, count: 1))
        }
    }

    /// Fails when more rows were skipped than `maxFraction` of the rows read allows.
    func check(maxFraction: Double) throws(DatasetError) {
        if Double(total) > maxFraction * Double(rowsRead) { throw .tooManyBadRows(self, maxFraction: maxFraction) }
    }

    /// `2 unparseable_value timestamp, 1 malformed_line`
    var summary: String {
        counts.map { "\($0.count) \($0.reason.rawValue)" + ($0.column.map { " \($0)" } ?? "") }.joined(separator: ", ")
    }

    /// The examples stage's details: `skipped_rows.<role>` and `skipped_rows.<role>.<reason>[.<column>]`.
    var reportEntries: [(String, Double)] {
        [("skipped_rows.\(role)", Double(total))]
            + counts.map { ("skipped_rows.\(role).\($0.reason.rawValue)" + ($0.column.map { ".\($0)" } ?? ""), Double($0.count)) }
    }

    /// The `skipped_rows` entry of the statistics for this file.
    var json: JSONValue {
        var kv: [(String, JSONValue)] = [
            ("file", .string(role)), ("path", .string(path)), ("rows_read", .int(rowsRead)), ("skipped", .int(total)),
            (
                "by_reason",
                .array(
                    counts.map { count in
                        JSONValue.object([
                            ("reason", .string(count.reason.rawValue)), ("column", count.column.map(JSONValue.string) ?? .null),
                            ("count", .int(count.count)),
                        ])
                    })
            ),
        ]
        if let first {
            kv.append(
                (
                    "first",
                    .object([
                        ("row", .string("\(path):\(first.line)")), ("column", first.column.map(JSONValue.string) ?? .null),
                        ("value", .string(first.value)), ("reason", .string(first.reason.rawValue)), ("message", .string(first.explanation)),
                    ])
                ))
        }
        return .object(kv)
    }
}
