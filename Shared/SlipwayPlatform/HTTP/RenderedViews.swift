import Hummingbird
import Synchronization

/// Answers rendered once per state. A view is kept encoded with the numbers it was read at — an
/// aggregate's version, the checkpoints of the projections it joins — and served again while those
/// numbers stay the same, so a dashboard polling a model costs one small query instead of rebuilding and
/// re-encoding the answer. Versions only grow: content rendered after its numbers were read is at least
/// as new as they say. Each replica keeps its own; the numbers come from the database every time.
public final class RenderedViews: Sendable {
    private struct Entry {
        let version: [Int64]
        let bytes: [UInt8]
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var bytes = 0
    }

    private let state = Mutex(State())
    private let capacityBytes: Int

    /// Past `capacityBytes` every entry is dropped: simple, bounded, and rebuilt on demand.
    public init(capacityBytes: Int = 64 << 20) {
        self.capacityBytes = capacityBytes
    }

    /// The answer for `key` at `version`: the kept one if it was rendered at these numbers, else `render()`'s.
    public func rendered(_ key: String, version: [Int64], render: () async throws -> some Encodable) async throws -> RawJSON {
        if let entry = state.withLock({ $0.entries[key] }), entry.version == version {
            return RawJSON(entry.bytes)
        }
        let bytes = try PlatformJSON.encode(try await render())
        state.withLock { state in
            if state.bytes + bytes.count > capacityBytes {
                state.entries = [:]
                state.bytes = 0
            }
            state.bytes += bytes.count - (state.entries[key]?.bytes.count ?? 0)
            state.entries[key] = Entry(version: version, bytes: bytes)
        }
        return RawJSON(bytes)
    }
}
