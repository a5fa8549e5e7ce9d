import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Forwards children's output lines, each prefixed with a padded (and, on a TTY, coloured)
/// `name |`, to one sink — by default our stdout — one whole line at a time, so lines from
/// different children never interleave mid-line.
public final class OutputMultiplexer: Sendable {
    public typealias Sink = @Sendable (String) -> Void

    private let sink: Sink
    private let colors: Bool
    private let width: Int
    private let lock = Mutex<Void>(())

    private static let palette = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"]

    /// - Parameters:
    ///   - names: every process name, to pad prefixes to the longest.
    ///   - colors: `nil` colours only when stdout is a TTY.
    ///   - sink: receives complete lines including the trailing newline.
    public init(names: [String], colors: Bool? = nil, sink: Sink? = nil) {
        self.width = names.map(\.count).max() ?? 0
        self.colors = colors ?? (isatty(STDOUT_FILENO) == 1)
        self.sink = sink ?? OutputMultiplexer.standardOutput
    }

    /// The prefix for the process at `index` in start order.
    public func prefix(for name: String, index: Int) -> String {
        let padded = name.padding(toLength: max(width, name.count), withPad: " ", startingAt: 0)
        guard colors else { return "\(padded) | " }
        return "\u{1B}[\(Self.palette[index % Self.palette.count])m\(padded) |\u{1B}[0m "
    }

    /// Emits one line (without its newline) under `prefix`.
    public func emit(prefix: String, line: String) {
        let text = prefix + line + "\n"
        lock.withLock { _ in sink(text) }
    }

    public static let standardOutput: Sink = { text in
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if written > 0 { offset += written } else if written < 0 && errno == EINTR { continue } else { return }
        }
    }
}

/// Splits a byte stream into lines; keeps the unfinished tail for the next chunk.
struct LineSplitter {
    private var pending: [UInt8] = []

    /// Appends `bytes` and returns the complete lines (without `\n`, `\r\n` trimmed to the text).
    mutating func append(_ bytes: ArraySlice<UInt8>) -> [[UInt8]] {
        pending += bytes
        var lines: [[UInt8]] = []
        var start = 0
        for index in pending.indices where pending[index] == UInt8(ascii: "\n") {
            var end = index
            if end > start, pending[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            lines.append(Array(pending[start..<end]))
            start = index + 1
        }
        if start > 0 { pending.removeFirst(start) }
        // Bound memory for output that never ends a line.
        if pending.count > 64 * 1024 {
            lines.append(pending)
            pending.removeAll()
        }
        return lines
    }

    /// The unfinished last line, if any (at end of stream).
    mutating func flush() -> [UInt8]? {
        defer { pending.removeAll() }
        return pending.isEmpty ? nil : pending
    }
}
