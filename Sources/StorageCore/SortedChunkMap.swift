/// An ordered map from byte keys to byte values, kept as a list of sorted
/// chunks of bounded size.
///
/// Why chunks: lookups and inserts are two binary searches and a shift inside
/// one small array, and a copy of the map (a snapshot) shares every chunk with
/// the original until one is written, so taking a snapshot costs O(chunks) and
/// each later write copies at most one chunk.
public struct SortedChunkMap: Sendable {
    private static let maxChunk = 512

    private var chunks: [[KeyValue]] = []
    public private(set) var count = 0

    public init() {}

    /// Index of the chunk that holds `key` or where it belongs.
    private func chunkIndex(for key: Bytes) -> Int {
        var low = 0
        var high = chunks.count - 1
        while low < high {
            let mid = (low + high) / 2
            if chunks[mid][chunks[mid].count - 1].key.sortsBefore(key) {
                low = mid + 1
            } else {
                high = mid
            }
        }
        return low
    }

    /// Position of the first pair whose key is not less than `key`, in `chunk`.
    private static func lowerBound(_ chunk: [KeyValue], _ key: Bytes) -> Int {
        var low = 0
        var high = chunk.count
        while low < high {
            let mid = (low + high) / 2
            if chunk[mid].key.sortsBefore(key) { low = mid + 1 } else { high = mid }
        }
        return low
    }

    public func get(_ key: Bytes) -> Bytes? {
        guard !chunks.isEmpty else { return nil }
        let chunk = chunks[chunkIndex(for: key)]
        let position = Self.lowerBound(chunk, key)
        guard position < chunk.count, chunk[position].key == key else { return nil }
        return chunk[position].value
    }

    public mutating func put(_ key: Bytes, _ value: Bytes) {
        guard !chunks.isEmpty else {
            chunks = [[KeyValue(key: key, value: value)]]
            count = 1
            return
        }
        let c = chunkIndex(for: key)
        let position = Self.lowerBound(chunks[c], key)
        if position < chunks[c].count, chunks[c][position].key == key {
            chunks[c][position].value = value
            return
        }
        chunks[c].insert(KeyValue(key: key, value: value), at: position)
        count += 1
        if chunks[c].count > Self.maxChunk {
            let upper = Array(chunks[c][(Self.maxChunk / 2)...])
            chunks[c].removeSubrange((Self.maxChunk / 2)...)
            chunks.insert(upper, at: c + 1)
        }
    }

    public mutating func delete(_ key: Bytes) {
        guard !chunks.isEmpty else { return }
        let c = chunkIndex(for: key)
        let position = Self.lowerBound(chunks[c], key)
        guard position < chunks[c].count, chunks[c][position].key == key else { return }
        chunks[c].remove(at: position)
        count -= 1
        if chunks[c].isEmpty { chunks.remove(at: c) }
    }

    /// Calls `body` for each pair in `range` in key order until it returns false.
    public func forEach(in range: KeyRange, _ body: (KeyValue) throws -> Bool) rethrows {
        guard !chunks.isEmpty else { return }
        var c = chunkIndex(for: range.lower)
        var position = Self.lowerBound(chunks[c], range.lower)
        while c < chunks.count {
            let chunk = chunks[c]
            while position < chunk.count {
                let pair = chunk[position]
                if range.isPastEnd(pair.key) { return }
                if try !body(pair) { return }
                position += 1
            }
            c += 1
            position = 0
        }
    }

    /// The first pair with a key strictly greater than `key` (or the first pair
    /// at all when `key` is nil): lets a snapshot iterate without holding the map.
    public func first(after key: Bytes?) -> KeyValue? {
        guard let key else { return chunks.first?.first }
        var result: KeyValue?
        forEach(in: KeyRange(from: key)) { pair in
            if pair.key == key { return true }
            result = pair
            return false
        }
        return result
    }
}
