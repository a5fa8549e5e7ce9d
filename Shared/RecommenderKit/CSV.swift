import Foundation
import SlipwayModelBundle

/// A parsed table: header + rows of string fields, each row remembering its 1-based line number.
public struct RawTable: Sendable {
    public var path: String
    public var columns: [String]
    public var rows: [[String]]
    public var lines: [Int]
    /// Data lines that could not be read as a row (wrong field count, broken quotes, not a JSON object):
    /// left out of `rows` so the loader can skip and count them instead of failing on the first one.
    public var malformedLines: [MalformedLine] = []

    public func columnIndex(_ name: String) -> Int? { columns.firstIndex(of: name) }
}

/// A data line the reader could not turn into a row.
public struct MalformedLine: Sendable, Equatable {
    public var line: Int
    /// The line as written, cut to a length a message can show.
    public var text: String
    public var reason: String

    init(line: Int, text: Substring, reason: String) {
        self.line = line
        self.text = text.count > 80 ? String(text.prefix(77)) + "..." : String(text)
        self.reason = reason
    }
}

/// Minimal RFC-4180-style CSV (quoted fields with `""` escapes; a quoted field may not span lines).
public enum CSV {
    public static func escape(_ s: String) -> String {
        if s.contains(",") || s.contains("\"") || s.contains("\n") {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    /// Splits one line into fields; nil reason when fine.
    static func split(_ line: Substring, separator: Character = ",") -> (fields: [String], error: String?) {
        if !line.utf8.contains(34) {
            return (line.split(separator: separator, omittingEmptySubsequences: false).map(String.init), nil)
        }
        var out: [String] = []
        var field = ""
        var inQuotes = false
        var it = line.makeIterator()
        var pending: Character? = nil
        var wasQuoted = false
        while true {
            let ch: Character
            if let p = pending { ch = p; pending = nil } else if let n = it.next() { ch = n } else { break }
            if inQuotes {
                if ch == "\"" {
                    if let n = it.next() {
                        if n == "\"" { field.append("\"") } else { inQuotes = false; pending = n }
                    } else {
                        inQuotes = false
                    }
                } else {
                    field.append(ch)
                }
            } else if ch == separator {
                out.append(field); field = ""; wasQuoted = false
            } else if ch == "\"" {
                if field.isEmpty && !wasQuoted {
                    inQuotes = true; wasQuoted = true
                } else {
                    return (out, "unexpected quote inside an unquoted field")
                }
            } else {
                field.append(ch)
            }
        }
        if inQuotes { return (out, "unterminated quoted field") }
        out.append(field)
        return (out, nil)
    }

    static func readText(_ url: URL, role: String) throws(DatasetError) -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw .fileNotFound(path: url.path, role: role)
        }
        guard !isDir.boolValue else { throw .unreadable(path: url.path, reason: "is a directory") }
        do {
            let d = try Data(contentsOf: url)
            return String(decoding: d, as: UTF8.self)
        } catch {
            throw .unreadable(path: url.path, reason: error.localizedDescription)
        }
    }

    /// Reads a CSV (or, with `separator: "\t"`, TSV) file with a header row. A data line with broken quotes or
    /// another field count than the header goes to `malformedLines`; a broken header fails the read.
    /// `separator` nil: tab when the header has tabs and no commas, else comma.
    public static func read(_ url: URL, role: String, separator: Character? = nil) throws(DatasetError) -> RawTable {
        let text = try readText(url, role: role)
        let header = text.prefix { $0 != "\n" }
        let separator = separator ?? (header.contains("\t") && !header.contains(",") ? "\t" : ",")
        var table = RawTable(path: url.path, columns: [], rows: [], lines: [])
        var lineNo = 0
        for rawBytes in text.utf8.split(separator: 10, omittingEmptySubsequences: false) {
            lineNo += 1
            var line = Substring(rawBytes)
            if line.utf8.last == 13 { line = Substring(line.utf8.dropLast()) }
            if line.allSatisfy({ $0 == " " }) { continue }
            let (fields, err) = split(line, separator: separator)
            if let err {
                guard !table.columns.isEmpty else { throw .malformedRow(path: url.path, line: lineNo, reason: "header: \(err)") }
                table.malformedLines.append(MalformedLine(line: lineNo, text: line, reason: err))
                continue
            }
            if table.columns.isEmpty {
                table.columns = fields.map { $0.trimmingCharacters(in: .whitespaces) }
                if lineNo == 1, let f = table.columns.first, f.hasPrefix("\u{FEFF}") {
                    table.columns[0] = String(f.dropFirst())
                }
                continue
            }
            guard fields.count == table.columns.count else {
                table.malformedLines.append(
                    MalformedLine(
                        line: lineNo, text: line,
                        reason: "expected \(table.columns.count) fields (\(table.columns.joined(separator: ","))), found \(fields.count)"))
                continue
            }
            table.rows.append(fields)
            table.lines.append(lineNo)
        }
        if table.columns.isEmpty { throw .emptyFile(path: url.path) }
        return table
    }

    /// Reads JSON Lines: one object per line; the union of keys (first-seen order) becomes the columns. A line
    /// that is not an object of scalars goes to `malformedLines`; a file without one good line fails.
    public static func readJSONL(_ url: URL, role: String) throws(DatasetError) -> RawTable {
        let text = try readText(url, role: role)
        var table = RawTable(path: url.path, columns: [], rows: [], lines: [])
        var colIndex: [String: Int] = [:]
        var objects: [([String: String], Int)] = []
        var lineNo = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            if line.allSatisfy({ $0 == " " || $0 == "\r" }) { continue }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                table.malformedLines.append(MalformedLine(line: lineNo, text: line, reason: "not a JSON object"))
                continue
            }
            var row: [String: String] = [:]
            var nonScalar: String?
            for (k, v) in obj.sorted(by: { $0.key < $1.key }) {
                switch v {
                case let s as String: row[k] = s
                case is NSNull: break
                case let n as NSNumber: row[k] = n.stringValue
                default: nonScalar = nonScalar ?? k
                }
            }
            if let nonScalar {
                table.malformedLines.append(MalformedLine(line: lineNo, text: line, reason: "field '\(nonScalar)' is not a scalar"))
                continue
            }
            for k in obj.keys where colIndex[k] == nil { colIndex[k] = table.columns.count; table.columns.append(k) }
            objects.append((row, lineNo))
        }
        if objects.isEmpty {
            if let first = table.malformedLines.first { throw .malformedRow(path: url.path, line: first.line, reason: first.reason) }
            throw .emptyFile(path: url.path)
        }
        for (row, line) in objects {
            table.rows.append(table.columns.map { row[$0] ?? "" })
            table.lines.append(line)
        }
        return table
    }

    public static func readTable(_ url: URL, format: String?, role: String) throws(DatasetError) -> RawTable {
        let f = (format ?? "auto").lowercased()
        let ext = url.pathExtension.lowercased()
        if f == "jsonl" || f == "json" || (f == "auto" && (ext == "jsonl" || ext == "ndjson" || ext == "json")) {
            return try readJSONL(url, role: role)
        }
        if f == "tsv" || (f == "auto" && (ext == "tsv" || ext == "tab")) { return try read(url, role: role, separator: "\t") }
        guard f == "csv" || f == "auto" else { throw .invalidOption("unknown dataset format '\(f)' (use csv, tsv or jsonl)") }
        return try read(url, role: role)
    }
}

/// Readable data-loading errors (file and line where there is one).
public enum DatasetError: Error, Sendable, Equatable, CustomStringConvertible {
    case fileNotFound(path: String, role: String)
    case unreadable(path: String, reason: String)
    case emptyFile(path: String)
    case missingColumn(path: String, column: String, tried: [String], available: [String])
    case malformedRow(path: String, line: Int, reason: String)
    case tooManyBadRows(SkippedRows, maxFraction: Double)
    case invalidOption(String)
    case empty(String)

    public var description: String {
        switch self {
        case .fileNotFound(let p, let r): "\(r) file not found: \(p)"
        case .unreadable(let p, let r): "cannot read \(p): \(r)"
        case .emptyFile(let p): "\(p): file is empty (no header row)"
        case .missingColumn(let p, let c, let t, let a):
            "\(p): no column for '\(c)' (tried \(t.joined(separator: ", "))); columns are \(a.joined(separator: ", "))"
        case .malformedRow(let p, let l, let r): "\(p):\(l): \(r)"
        case .tooManyBadRows(let skipped, let maxFraction):
            "\(skipped.path): \(skipped.total) of \(skipped.rowsRead) \(skipped.role) rows could not be used (\(skipped.summary)), "
                + "more than max_bad_row_fraction \(maxFraction) allows; the first is "
                + (skipped.first.map { "\(skipped.path):\($0.line): \($0.explanation)" } ?? "unknown")
        case .invalidOption(let r): "invalid dataset option: \(r)"
        case .empty(let r): r
        }
    }
}
